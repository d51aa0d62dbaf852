/**
 * The controller's Redis layout, all under one prefix (`lln` by default). Credentials use the
 * shared layout of `@liquid-edge/protocol` (`credentialKey`), not this table.
 */
export function createKeys(prefix: string) {
  return Object.freeze({
    prefix,
    /** hash id → DeviceRecord JSON */
    devices: `${prefix}:devices`,
    /** hash name → GroupRecord JSON (saved selectors) */
    groups: `${prefix}:groups`,
    /** hash id → status JSON (online, session, ts) */
    status: `${prefix}:live:status`,
    /** hash id → reported JSON */
    reported: `${prefix}:live:reported`,
    /** hash id → its last telemetry window: `ts|windowMs|receivedAt|model|temperatureC|memoryUsed|memoryTotal` (see LiveStore) */
    telemetry: `${prefix}:live:telemetry`,
    /** hash id → last generation issued (HINCRBY: never reused) */
    generations: `${prefix}:generations`,
    /** hash id → the desired state last written (JSON) */
    desired: `${prefix}:desired`,
    /** hash template id → the policy/mode/reason part of desired states (shared by many devices) */
    desiredBodies: `${prefix}:desired:bodies`,
    /** hash id → the rollout command the device has not answered yet ({id, body}) */
    pendingCommands: `${prefix}:commands:pending`,
    /** zset id → when to check that a device that came online has its desired state */
    reconcileDue: `${prefix}:reconcile:due`,
    /** the lease of the periodic desired-state sweep: one controller sweeps at a time */
    reconcileLease: `${prefix}:lease:reconcile`,
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
    /** the lease of a duty one controller replica does at a time: its instance id, with a TTL */
    duty: (name: string) => `${prefix}:lease:duty:${name}`,
    /** the lease of one rollout: controller instance id, with a TTL */
    lease: (id: string) => `${prefix}:lease:rollout:${id}`,
    /** hash sha256(token) → TokenRecord JSON */
    tokens: `${prefix}:tokens`,
    /** stream of fleet events (audit) */
    audit: `${prefix}:audit`,
  })
}
export type Keys = ReturnType<typeof createKeys>
