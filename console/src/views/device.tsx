import { useCallback, useEffect, useState } from 'preact/hooks'
import { explain } from '../api/client.js'
import { DeviceViewSchema, type DeviceView } from '../api/schemas.js'
import { age, labelText } from '../format.js'
import { formatRoute } from '../router.js'
import { useConsole } from '../state/console.js'
import { useBus, useStore } from '../state/store.js'
import { AuditItem } from './evidence.js'
import { useNow, useThrottled } from './hooks.js'

/** One device: its live state, its rollout, and the decisions that named it. */
export function DeviceDetailView({ id }: { id: string }) {
  const c = useConsole()
  const now = useNow()
  const audit = useStore(c.audit)
  const [device, setDevice] = useState<DeviceView | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = useCallback(() => {
    c.api
      .get(`/v1/devices/${encodeURIComponent(id)}`, DeviceViewSchema)
      .then((d) => {
        setDevice(d)
        setError(null)
      })
      .catch((err: unknown) => {
        setError(explain(err))
      })
  }, [c, id])
  useEffect(load, [load])
  const reload = useThrottled(load, 1000)
  useBus(c.bus, 'fleet', (e: { devices: string[] }) => {
    if (e.devices.includes(id)) reload()
  })
  useBus(c.bus, 'reconnected', reload)
  const named = audit.filter((e) => e.evidence?.devices.includes(id) === true).reverse()
  return (
    <section aria-labelledby="device-title">
      <h2 id="device-title">Device {id}</h2>
      {error === null ? null : (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {device === null ? null : (
        <dl class="facts">
          <dt>Labels</dt>
          <dd>{labelText(device.labels) || '—'}</dd>
          <dt>Hardware</dt>
          <dd>{device.hardware ?? 'unknown'}</dd>
          <dt>Online</dt>
          <dd>{device.online === null ? 'unknown' : device.online ? 'online' : 'offline'}</dd>
          <dt>Phase</dt>
          <dd>{device.phase ?? 'unknown'}</dd>
          <dt>Active model</dt>
          <dd>{device.active ?? '—'}</dd>
          <dt>Standby model</dt>
          <dd>{device.standby ?? '—'}</dd>
          <dt>Generation applied</dt>
          <dd>{device.generation ?? '—'}</dd>
          <dt>Last telemetry</dt>
          <dd>{age(device.lastTelemetryAt, now)}</dd>
          <dt>Rollout</dt>
          <dd>
            {device.rollout === null ? 'none active' : <a href={formatRoute({ page: 'rollout', id: device.rollout })}>{device.rollout}</a>}
          </dd>
          {device.error === null ? null : (
            <>
              <dt>Last error</dt>
              <dd>{device.error}</dd>
            </>
          )}
        </dl>
      )}
      <h3>Decisions and alerts naming this device</h3>
      {named.length === 0 ? <p class="muted">None in the records this page holds.</p> : null}
      <ol class="audit-list">
        {named.map((e) => (
          <AuditItem entry={e} key={e.id} />
        ))}
      </ol>
    </section>
  )
}
