import type { EventEnvelope, Task } from '@agentvm/api/contract';
import { useEffect, useState } from 'preact/hooks';
import { OPEN_TASK_STATUSES } from '../../lib/constants';
import { clock, describeEvent, eventSubjects, seconds, timeAgo } from '../../lib/format';
import { href } from '../../lib/route';
import { useConsole } from '../../ui/context';
import { PriorityBadge, Progress, StatusBadge } from '../../ui/kit';
import { namesOf } from '../agents/AgentDetails';
import { assignee, duration } from './describe';

export function TaskDetails({ task }: { task: Task }) {
  const model = useConsole();
  const names = namesOf(model);
  const [logged, setLogged] = useState<EventEnvelope[]>([]);
  const [subtasks, setSubtasks] = useState<Task[]>([]);
  useEffect(() => {
    let cancelled = false;
    // The log filtered to this task (GET /events?task_id=): from well before it was created.
    model.api
      .events({ task_id: task.id, since: Math.max(0, model.store.lastSeq - 20_000), limit: 200, game_id: model.game.value })
      .then((p) => !cancelled && setLogged(p.items))
      .catch(() => undefined);
    if (task.team_size)
      model.api
        .tasks({ parent_id: task.id })
        .then((items) => !cancelled && setSubtasks(items))
        .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [task.id]);
  const live = model.store.events.filter((e) => eventSubjects(e).taskId === task.id);
  const bySeq = new Map<number, EventEnvelope>();
  for (const e of [...logged, ...live]) if (e.seq !== null) bySeq.set(e.seq, e);
  const events = [...bySeq.values()].sort((a, b) => b.seq! - a.seq!);
  const subs = subtasks.map((s) => model.store.tasks.get(s.id) ?? s);
  const parent = task.parent_id ? model.store.tasks.get(task.parent_id) : undefined;
  const took = duration(task);

  return (
    <div class="details" data-task-id={task.id}>
      <p class="task-description">{task.description}</p>
      <div class="badges">
        <StatusBadge status={task.status} />
        <PriorityBadge priority={task.priority} />
        <span class="chip">{task.task_type}</span>
      </div>
      {(task.status === 'running' || task.status === 'assigned') && (
        <div class="current-task static">
          <Progress value={task.progress} label="task progress" />
          <div class="muted small">
            {Math.round(task.progress * 100)} %{task.message ? ` · ${task.message}` : ''}
          </div>
        </div>
      )}
      {task.error && (
        <div class={`notice ${task.status === 'failed' ? 'bad' : 'warn'}`}>
          <strong>{task.error.code}</strong> {task.error.message}
        </div>
      )}
      <dl class="facts">
        <dt>Agent</dt>
        <dd>{task.agent_id ? <a href={href('agents', task.agent_id)}>{assignee(model, task)}</a> : assignee(model, task)}</dd>
        {parent && (
          <>
            <dt>Part of</dt>
            <dd>
              <a href={href('tasks', parent.id)}>{parent.description}</a>
            </dd>
          </>
        )}
        <dt>Attempts</dt>
        <dd>
          {task.attempts} of {task.max_attempts}
        </dd>
        <dt>Needs</dt>
        <dd class="chips">
          {task.required_capabilities.length
            ? task.required_capabilities.map((c) => (
                <span class="chip" key={c}>
                  {c}
                </span>
              ))
            : '—'}
        </dd>
        {task.depends_on.length > 0 && (
          <>
            <dt>After</dt>
            <dd>
              <ul class="plain">
                {task.depends_on.map((id) => {
                  const dep = model.store.tasks.get(id);
                  return (
                    <li key={id}>
                      <a href={href('tasks', id)}>{dep?.description ?? id}</a> {dep && <StatusBadge status={dep.status} />}
                    </li>
                  );
                })}
              </ul>
            </dd>
          </>
        )}
        <dt>Created</dt>
        <dd title={task.created_at}>{timeAgo(task.created_at)}</dd>
        {task.started_at && (
          <>
            <dt>Started</dt>
            <dd title={task.started_at}>{timeAgo(task.started_at)}</dd>
          </>
        )}
        {took !== null && (
          <>
            <dt>Took</dt>
            <dd>{seconds(took)}</dd>
          </>
        )}
        <dt>Timeout</dt>
        <dd>{seconds(task.timeout_s)}</dd>
        <dt>Id</dt>
        <dd class="mono small">{task.id}</dd>
      </dl>
      {task.result !== null && task.result !== undefined && (
        <>
          <h3 class="section-title">Result</h3>
          <pre class="result">{JSON.stringify(task.result, null, 2)}</pre>
        </>
      )}
      {subs.length > 0 && (
        <>
          <h3 class="section-title">Team</h3>
          <ul class="mini-list">
            {subs.map((s) => (
              <li key={s.id}>
                <a href={href('tasks', s.id)}>{assignee(model, s)}</a>
                <StatusBadge status={s.status} />
              </li>
            ))}
          </ul>
        </>
      )}
      {model.canWrite && OPEN_TASK_STATUSES.includes(task.status) && (
        <div class="details-actions">
          <button
            type="button"
            class="btn danger small"
            onClick={() => void model.act(() => model.api.cancelTask(task.id), 'Task cancelled')}
          >
            Cancel task
          </button>
        </div>
      )}
      <h3 class="section-title">History</h3>
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
    </div>
  );
}
