/**
 * The controller's Redis layout, all under one prefix (`lln` by default). Credentials use the
 * shared layout of `@liquid-edge/protocol` (`credentialKey`), not this table.
 */
export function createKeys(prefix: string) {
  return Object.freeze({
    prefix,
    /** hash id → DeviceRecord JSON */
    devices: `${prefix}:devices`,
    /** hash id → status JSON (online, session, ts) */
    status: `${prefix}:live:status`,
    /** hash id → reported JSON */
    reported: `${prefix}:live:reported`,
    /** hash id → last telemetry time (epoch ms) */
    telemetry: `${prefix}:live:telemetry`,
    /** hash id → last generation issued (HINCRBY: never reused) */
    generations: `${prefix}:generations`,
    /** hash id → the desired state last written (JSON) */
    desired: `${prefix}:desired`,
    /** hash id → id of the active rollout that owns the device */
    locks: `${prefix}:locks`,
    /** hash `name@version` → ModelRecord JSON */
    models: `${prefix}:models`,
    /** string JSON of one rollout */
    rollout: (id: string) => `${prefix}:rollout:${id}`,
    /** hash deviceId → DeviceProgress JSON for one rollout */
    rolloutDevices: (id: string) => `${prefix}:rollout:${id}:devices`,
    /** hash deviceId → per-device plan (rollbacks) */
    rolloutPlan: (id: string) => `${prefix}:rollout:${id}:plan`,
    /** zset of rollout ids by creation time */
    rollouts: `${prefix}:rollouts`,
    /** set of rollout ids not yet terminal */
    activeRollouts: `${prefix}:rollouts:active`,
    /** the lease of one rollout: controller instance id, with a TTL */
    lease: (id: string) => `${prefix}:lease:rollout:${id}`,
    /** hash sha256(token) → TokenRecord JSON */
    tokens: `${prefix}:tokens`,
    /** stream of fleet events (audit) */
    audit: `${prefix}:audit`,
  })
}
export type Keys = ReturnType<typeof createKeys>
