import type { EventEnvelope } from '@agentvm/api/contract';
import { useEffect, useState } from 'preact/hooks';
import { FEED_EVENT_TYPES } from '../../lib/constants';
import { clock, describeEvent, eventSubjects } from '../../lib/format';
import { href } from '../../lib/route';
import { useConsole } from '../../ui/context';
import { Icon } from '../../ui/icons';
import { Empty } from '../../ui/kit';
import { namesOf } from '../agents/AgentDetails';

const SHOWN = 300;
const GROUPS = ['agent.*', 'task.*', 'game.*'];

function matchesType(type: string, filter: string): boolean {
  return !filter || (filter.endsWith('.*') ? type.startsWith(filter.slice(0, -1)) : type === filter);
}

/**
 * The live feed, newest first. With a filter, the log is asked too (GET /events with types /
 * agent_id), so older matching events show, not only those that arrived since the page opened.
 */
export function EventsView() {
  const model = useConsole();
  const [type, setType] = useState('');
  const [agentId, setAgentId] = useState('');
  const [paused, setPaused] = useState<EventEnvelope[] | null>(null);
  const [logged, setLogged] = useState<EventEnvelope[]>([]);
  const names = namesOf(model);

  useEffect(() => {
    setLogged([]);
    if (!type && !agentId) return;
    let cancelled = false;
    model.api
      .events({
        since: Math.max(0, model.store.lastSeq - 10_000),
        limit: 1000,
        game_id: model.game.value,
        ...(type ? { types: type } : {}),
        ...(agentId ? { agent_id: agentId } : {}),
      })
      .then((p) => !cancelled && setLogged(p.items))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [type, agentId, model.game.value]);

  const source = paused ?? model.store.events;
  const matching = (e: EventEnvelope) => matchesType(e.type, type) && (!agentId || eventSubjects(e).agentId === agentId);
  const bySeq = new Map<number, EventEnvelope>();
  for (const e of logged) if (e.seq !== null && (!paused || e.seq <= (paused[0]?.seq ?? 0))) bySeq.set(e.seq, e);
  for (const e of source) if (e.seq !== null && matching(e)) bySeq.set(e.seq, e);
  const events = [...bySeq.values()].sort((a, b) => b.seq! - a.seq!);
  const newSincePause = paused ? model.store.events.filter((e) => (e.seq ?? 0) > (paused[0]?.seq ?? 0)).length : 0;
  const agents = [...model.store.agents.values()].sort((a, b) => a.name.localeCompare(b.name));

  return (
    <section class="card flush">
      <div class="toolbar">
        <h2>Events</h2>
        <select aria-label="event type" class="compact" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
          <option value="">All types</option>
          <optgroup label="Groups">
            {GROUPS.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </optgroup>
          <optgroup label="Types">
            {FEED_EVENT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </optgroup>
        </select>
        <select aria-label="agent" class="compact" value={agentId} onChange={(e) => setAgentId((e.target as HTMLSelectElement).value)}>
          <option value="">All agents</option>
          {agents.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
            </option>
          ))}
        </select>
        {(type || agentId) && (
          <button
            type="button"
            class="btn ghost small"
            onClick={() => {
              setType('');
              setAgentId('');
            }}
          >
            Clear
          </button>
        )}
        <div class="spacer" />
        <button
          type="button"
          class={`btn ${paused ? 'primary' : 'ghost'}`}
          data-testid="pause"
          aria-pressed={paused !== null}
          onClick={() => setPaused(paused ? null : model.store.events.slice())}
        >
          <Icon name={paused ? 'play' : 'pause'} size={14} />
          {paused ? `Resume${newSincePause ? ` (${newSincePause} new)` : ''}` : 'Pause'}
        </button>
      </div>
      {events.length === 0 ? (
        <Empty title={type || agentId ? 'No event matches' : 'No events yet'}>
          {type || agentId ? 'Try another filter.' : 'Changes to agents, tasks and games appear here as they happen.'}
        </Empty>
      ) : (
        <ol class="feed" aria-label="events, newest first">
          {events.slice(0, SHOWN).map((e) => {
            const { agentId: aid, taskId } = eventSubjects(e);
            return (
              <li key={e.seq} data-seq={e.seq} data-type={e.type}>
                <span class="seq mono">#{e.seq}</span>
                <time class="when mono" dateTime={e.ts}>
                  {clock(e.ts)}
                </time>
                <span class={`type t-${e.type.split('.')[0]}`}>{e.type}</span>
                <span class="what">{describeEvent(e, names)}</span>
                <span class="links">
                  {aid && model.store.agents.has(aid) && <a href={href('agents', aid)}>agent</a>}
                  {taskId && <a href={href('tasks', taskId)}>task</a>}
                </span>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
