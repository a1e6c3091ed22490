import type { AnalyticsResponse } from '@agentvm/api/contract';
import { useEffect, useState } from 'preact/hooks';
import { percent, seconds } from '../../lib/format';
import { href } from '../../lib/route';
import { useConsole } from '../../ui/context';
import { Icon } from '../../ui/icons';
import { Empty } from '../../ui/kit';

const WINDOWS = [
  ['1h', 'Last hour', 3600],
  ['24h', 'Last 24 hours', 86_400],
  ['7d', 'Last 7 days', 7 * 86_400],
  ['30d', 'Last 30 days', 30 * 86_400],
] as const;

type Figures = AnalyticsResponse['by_type'][number];

/** GET /analytics/agents over a chosen window: per agent type, then per agent. */
export function AnalyticsView() {
  const model = useConsole();
  const [window, setWindow] = useState<(typeof WINDOWS)[number][0]>('24h');
  const [type, setType] = useState('');
  const [data, setData] = useState<AnalyticsResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const game = model.game.value;

  const load = () => {
    const seconds = WINDOWS.find((w) => w[0] === window)![2];
    setLoading(true);
    model.api
      .analytics({ game_id: game, since: new Date(Date.now() - seconds * 1000).toISOString(), ...(type ? { agent_type: type } : {}) })
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((err: Error) => setError(err.message))
      .finally(() => setLoading(false));
  };
  useEffect(load, [window, type, game]);
  const types = model.agentTypes.map((t) => t.name);

  return (
    <div class="analytics">
      <section class="card flush">
        <div class="toolbar">
          <h2>Analytics</h2>
          <select
            aria-label="window"
            class="compact"
            value={window}
            onChange={(e) => setWindow((e.target as HTMLSelectElement).value as typeof window)}
          >
            {WINDOWS.map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </select>
          <select aria-label="agent type" class="compact" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            <option value="">All types</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
          <div class="spacer" />
          <button type="button" class="btn ghost" onClick={load} disabled={loading} aria-label="Refresh">
            <Icon name="refresh" size={14} /> {loading ? 'Loading…' : 'Refresh'}
          </button>
        </div>
        {error && <p class="form-error pad">{error}</p>}
        {data && (
          <FiguresTable
            title="Agent type"
            rows={data.by_type.map((r) => ({ key: r.agent_type, label: r.agent_type, sub: `${r.agents} agents`, r }))}
          />
        )}
      </section>
      {data && (
        <section class="card flush">
          <div class="toolbar">
            <h3>Per agent</h3>
            <span class="muted small">finished tasks since {new Date(data.since).toLocaleString()}</span>
          </div>
          <FiguresTable
            title="Agent"
            rows={[...data.items]
              .sort((a, b) => b.completed + b.failed - (a.completed + a.failed))
              .map((r) => ({ key: r.agent_id, label: r.name, sub: r.agent_type, link: href('agents', r.agent_id), r }))}
          />
        </section>
      )}
    </div>
  );
}

function FiguresTable(props: {
  title: string;
  rows: { key: string; label: string; sub: string; link?: string; r: Figures | AnalyticsResponse['items'][number] }[];
}) {
  if (props.rows.length === 0) return <Empty title="Nothing finished in this window">Completed and failed tasks are counted here.</Empty>;
  return (
    <div class="table-wrap">
      <table class="table figures">
        <thead>
          <tr>
            <th>{props.title}</th>
            <th class="num">Completed</th>
            <th class="num">Failed</th>
            <th>Success</th>
            <th class="num">p50</th>
            <th class="num hide-narrow">p95</th>
            <th class="num hide-narrow">Queue wait p50</th>
            <th class="num hide-narrow">p95</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map(({ key, label, sub, link, r }) => (
            <tr key={key}>
              <td>
                {link ? (
                  <a class="strong" href={link}>
                    {label}
                  </a>
                ) : (
                  <span class="strong">{label}</span>
                )}
                <div class="muted small">{sub}</div>
              </td>
              <td class="num">{r.completed}</td>
              <td class="num">{r.failed}</td>
              <td>
                <span class="rate">
                  <span class="bar">
                    <span class="fill s-completed" style={{ width: `${(r.success_rate ?? 0) * 100}%` }} />
                  </span>
                  <span class="mono small">{percent(r.success_rate)}</span>
                </span>
              </td>
              <td class="num">{seconds(r.duration_p50_s)}</td>
              <td class="num hide-narrow">{seconds(r.duration_p95_s)}</td>
              <td class="num hide-narrow">{seconds(r.queue_wait_p50_s)}</td>
              <td class="num hide-narrow">{seconds(r.queue_wait_p95_s)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
