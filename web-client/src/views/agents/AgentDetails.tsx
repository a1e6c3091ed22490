import type { Agent, EventEnvelope } from '@agentvm/api/contract';
import { useEffect, useState } from 'preact/hooks';
import { clock, describeEvent, eventSubjects, timeAgo } from '../../lib/format';
import { href, navigate } from '../../lib/route';
import type { ConsoleModel } from '../../state/console';
import { useConsole } from '../../ui/context';
import { Icon } from '../../ui/icons';
import { Confirm, PriorityBadge, Progress, StatusBadge } from '../../ui/kit';
import { NewTaskDialog } from '../tasks/NewTaskDialog';

export function AgentTitle({ agent }: { agent: Agent }) {
  return (
    <>
      <span class="title-text">{agent.name}</span>
      <StatusBadge status={agent.status} />
    </>
  );
}

/** Names for the feed: the store's agents and tasks, falling back to short ids. */
export function namesOf(model: ConsoleModel) {
  return {
    agent: (id: string | null | undefined) => (id ? (model.store.agents.get(id)?.name ?? `agent …${id.slice(-6)}`) : 'nobody'),
    task: (id: string | null | undefined) => (id ? (model.store.tasks.get(id)?.description ?? `task …${id.slice(-6)}`) : 'a task'),
  };
}

/** Recent events about one agent: the log's (GET /events?agent_id=) merged with live ones. */
function useAgentEvents(model: ConsoleModel, agentId: string): EventEnvelope[] {
  const [logged, setLogged] = useState<EventEnvelope[]>([]);
  useEffect(() => {
    let cancelled = false;
    setLogged([]);
    model.api
      .events({ agent_id: agentId, since: Math.max(0, model.store.lastSeq - 5000), limit: 1000, game_id: model.game.value })
      .then((page) => !cancelled && setLogged(page.items.slice(-12)))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [agentId]);
  const live = model.store.events.filter((e) => eventSubjects(e).agentId === agentId).slice(0, 12);
  const bySeq = new Map<number, EventEnvelope>();
  for (const e of [...logged, ...live]) if (e.seq !== null) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => b.seq! - a.seq!).slice(0, 12);
}

export function AgentDetails({ agent }: { agent: Agent }) {
  const model = useConsole();
  const [assigning, setAssigning] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const current = model.store.currentTask(agent);
  const tasks = [...model.store.tasks.values()]
    .filter((t) => t.agent_id === agent.id && t.id !== current?.id)
    .sort((a, b) => (a.created_at < b.created_at ? 1 : -1))
    .slice(0, 6);
  const events = useAgentEvents(model, agent.id);
  const names = namesOf(model);

  return (
    <div class="details" data-agent-id={agent.id}>
      <div class="activity-line">
        {agent.activity ? (
          <span class={`activity a-${agent.activity}`}>{agent.activity}</span>
        ) : (
          <span class="muted">
            {agent.status === 'idle'
              ? 'Idle — waiting for work'
              : agent.status === 'offline'
                ? 'Offline — its runtime is not connected'
                : 'No activity'}
          </span>
        )}
        {agent.activity_detail && <span class="muted"> · {agent.activity_detail}</span>}
      </div>

      {current && (
        <a class="current-task" href={href('tasks', current.id)}>
          <div class="row-between">
            <span class="eyebrow">Current task</span>
            <PriorityBadge priority={current.priority} />
          </div>
          <div class="task-title">{current.description}</div>
          <Progress value={current.progress} label="task progress" />
          <div class="muted small">
            {Math.round(current.progress * 100)} %{current.message ? ` · ${current.message}` : ''}
          </div>
        </a>
      )}

      <dl class="facts">
        <dt>Type</dt>
        <dd>{agent.agent_type}</dd>
        <dt>Personality</dt>
        <dd>{agent.personality.replace('_', ' ')}</dd>
        <dt>Capabilities</dt>
        <dd class="chips">
          {agent.capabilities.length
            ? agent.capabilities.map((c) => (
                <span class="chip" key={c}>
                  {c}
                </span>
              ))
            : '—'}
        </dd>
        <dt>Game</dt>
        <dd>
          {agent.game_id ?? '—'}
          {agent.scene_id ? ` / ${agent.scene_id}` : ''}
        </dd>
        <dt>Position</dt>
        <dd class="mono">
          {agent.position.x.toFixed(1)}, {agent.position.y.toFixed(1)}, {agent.position.z.toFixed(1)}
        </dd>
        <dt>Tasks</dt>
        <dd>
          {agent.tasks_completed} done · {agent.tasks_failed} failed
        </dd>
        <dt>Created</dt>
        <dd title={agent.created_at}>{timeAgo(agent.created_at)}</dd>
        <dt>Id</dt>
        <dd class="mono small">{agent.id}</dd>
      </dl>

      <div class="details-actions">
        <a class="btn ghost small" href={href('world', agent.id)}>
          <Icon name="map" size={14} /> Map
        </a>
        <a class="btn ghost small" href={href('agents', agent.id)}>
          Agents list
        </a>
        {model.canWrite && (
          <>
            <button type="button" class="btn primary small" onClick={() => setAssigning(true)}>
              Assign task
            </button>
            <button type="button" class="btn danger small" onClick={() => setDeleting(true)}>
              <Icon name="trash" size={14} /> Delete
            </button>
          </>
        )}
      </div>

      <h3 class="section-title">Recent tasks</h3>
      {tasks.length === 0 ? (
        <p class="muted small">No other tasks loaded for this agent.</p>
      ) : (
        <ul class="mini-list">
          {tasks.map((t) => (
            <li key={t.id}>
              <a href={href('tasks', t.id)}>{t.description}</a>
              <StatusBadge status={t.status} />
            </li>
          ))}
        </ul>
      )}

      <h3 class="section-title">Recent events</h3>
      {events.length === 0 ? (
        <p class="muted small">Nothing logged yet.</p>
      ) : (
        <ol class="mini-feed">
          {events.map((e) => (
            <li key={e.seq}>
              <span class="muted mono small">{clock(e.ts)}</span>
              <span>{describeEvent(e, names)}</span>
            </li>
          ))}
        </ol>
      )}

      {assigning && <NewTaskDialog agentId={agent.id} onClose={() => setAssigning(false)} />}
      {deleting && (
        <Confirm
          title={`Delete ${agent.name}?`}
          confirm="Delete agent"
          danger
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            if (await model.act(() => model.api.deleteAgent(agent.id), `Deleted ${agent.name}`)) navigate('agents');
          }}
        >
          <p>
            Its NPC leaves the game and its open tasks are cancelled (<code>agent_deleted</code>). This cannot be undone.
          </p>
        </Confirm>
      )}
    </div>
  );
}
