/**
 * Where the suite finds the machine's services. `npm test` (scripts/preflight.mjs) sets these
 * variables to private instances it started when the standard ports do not answer.
 */
export { REDIS_URL } from './redis.js'
/** Mosquitto (anonymous, MQTT 3.1.1): `LLN_MOSQUITTO_URL`, or 127.0.0.1:1883. */
export const MOSQUITTO_URL = process.env.LLN_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883'
/** NATS with JetStream: `NATS_URL`, or 127.0.0.1:4222. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
