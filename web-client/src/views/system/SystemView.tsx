import { useEffect } from 'preact/hooks';
import { AGENT_STATUSES, TASK_STATUSES } from '../../lib/constants';
import { seconds } from '../../lib/format';
import { useConsole } from '../../ui/context';
import { Stat, StatusBadge } from '../../ui/kit';

const REFRESH_MS = 5000;

/** GET /system/status, refreshed while the page is open. */
export function SystemView() {
  const model = useConsole();
  const status = model.system.value;
  useEffect(() => {
    void model.refreshSystem();
    const timer = setInterval(() => void model.refreshSystem(), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  if (!status) return <p class="muted">Loading…</p>;
  const { database, redis, worker } = status.components;

  return (
    <div class="system">
      <section class="card">
        <div class="row-between">
          <h2>
            System <span class={`badge ${status.status === 'ok' ? 's-idle' : 's-error'}`}>{status.status}</span>
          </h2>
          <span class="muted small">
            v{status.version} · {status.env} · up {seconds(status.uptime_s)}
          </span>
        </div>
        <div class="stats">
          <Stat label="agents" value={status.agents.total} />
          <Stat label="tasks" value={status.tasks.total} />
          <Stat label="live sockets" value={status.ws.connections} />
          <Stat
            label="oldest queued task"
            value={status.tasks.oldest_queued_age_s === null ? '—' : seconds(status.tasks.oldest_queued_age_s)}
            tone={status.tasks.oldest_queued_age_s !== null && status.tasks.oldest_queued_age_s > 60 ? 'warn' : undefined}
          />
        </div>
      </section>
      <div class="grid-3">
        <section class="card">
          <h3>Components</h3>
          <ul class="components">
            <li>
              <span class={`dot ${database.ok ? 'ok' : 'bad'}`} />
              <span class="strong">Database</span>
              <span class="muted">{database.driver === 'pglite' ? 'embedded PGlite' : 'Postgres'}</span>
              <span class="end mono">{database.ok ? `${database.latency_ms ?? '—'} ms` : database.error}</span>
            </li>
            <li>
              <span class={`dot ${redis.ok ? 'ok' : 'bad'}`} />
              <span class="strong">Event bus</span>
              <span class="muted">{redis.mode === 'redis' ? 'Redis' : 'in-process'}</span>
              <span class="end mono">
                {redis.mode === 'redis' ? (redis.ok ? `${redis.latency_ms ?? '—'} ms` : redis.error) : 'single replica'}
              </span>
            </li>
            <li>
              <span class={`dot ${worker.running || !worker.embedded ? 'ok' : 'bad'}`} />
              <span class="strong">Worker</span>
              <span class="muted">{worker.embedded ? 'in this process' : 'separate process'}</span>
              <span class="end mono">{worker.running ? `${worker.active_tasks} active` : worker.embedded ? 'stopped' : '—'}</span>
            </li>
          </ul>
        </section>
        <section class="card">
          <h3>Agents by status</h3>
          <Bars keys={AGENT_STATUSES} counts={status.agents.by_status} total={status.agents.total} />
        </section>
        <section class="card">
          <h3>Tasks by status</h3>
          <Bars keys={TASK_STATUSES} counts={status.tasks.by_status} total={status.tasks.total} />
        </section>
      </div>
      <section class="card flush">
        <div class="toolbar">
          <h3>Agent types</h3>
        </div>
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>Type</th>
                <th>Runtime</th>
                <th>Capabilities</th>
                <th class="hide-narrow">Description</th>
              </tr>
            </thead>
            <tbody>
              {status.agent_types.map((t) => (
                <tr key={t.name}>
                  <td class="strong">{t.name}</td>
                  <td>{t.runtime}</td>
                  <td>
                    <div class="chips">
                      {t.capabilities.map((c) => (
                        <span class="chip" key={c}>
                          {c}
                        </span>
                      ))}
                    </div>
                  </td>
                  <td class="muted hide-narrow">{t.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

function Bars(props: { keys: readonly string[]; counts: Record<string, number>; total: number }) {
  return (
    <ul class="bars">
      {props.keys.map((k) => {
        const n = props.counts[k] ?? 0;
        return (
          <li key={k}>
            <StatusBadge status={k as never} />
            <span class="bar">
              <span class={`fill s-${k}`} style={{ width: `${props.total ? (n / props.total) * 100 : 0}%` }} />
            </span>
            <span class="num mono">{n}</span>
          </li>
        );
      })}
    </ul>
  );
}
