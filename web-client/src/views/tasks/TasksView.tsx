import type { Task, TaskStatus } from '@agentvm/api/contract';
import { useEffect, useState } from 'preact/hooks';
import { OPEN_TASK_STATUSES, PRIORITIES, TASK_STATUSES } from '../../lib/constants';
import { seconds } from '../../lib/format';
import { href, navigate } from '../../lib/route';
import { useConsole } from '../../ui/context';
import { Icon } from '../../ui/icons';
import { Drawer, PriorityBadge, Progress, StatusBadge } from '../../ui/kit';
import { assignee, duration } from './describe';
import { NewTaskDialog } from './NewTaskDialog';
import { TaskDetails } from './TaskDetails';

const PER_COLUMN = 50;
const RANK = { critical: 0, high: 1, normal: 2, low: 3 } as const;

/** Open columns: most urgent first, then oldest; finished columns: most recent first. */
function order(status: TaskStatus) {
  return OPEN_TASK_STATUSES.includes(status)
    ? (a: Task, b: Task) => RANK[a.priority] - RANK[b.priority] || a.created_at.localeCompare(b.created_at)
    : (a: Task, b: Task) => (b.finished_at ?? b.updated_at).localeCompare(a.finished_at ?? a.updated_at);
}

export function TasksView({ selected }: { selected: string | null }) {
  const model = useConsole();
  const [query, setQuery] = useState('');
  const [priority, setPriority] = useState('');
  const [creating, setCreating] = useState(false);
  const q = query.trim().toLowerCase();
  const tasks = [...model.store.tasks.values()].filter(
    (t) =>
      (!priority || t.priority === priority) &&
      (!q || `${t.description} ${t.task_type} ${assignee(model, t)} ${t.id}`.toLowerCase().includes(q)),
  );
  const task = selected ? model.store.tasks.get(selected) : undefined;
  useEffect(() => {
    if (selected && !task) void model.loadTask(selected);
  }, [selected]);

  return (
    <div class={`page-with-drawer${selected ? ' with-drawer' : ''}`}>
      <section class="grow board-page">
        <div class="toolbar bare">
          <h2>
            Tasks <span class="count">{model.store.tasks.size}</span>
          </h2>
          <input
            type="search"
            class="compact search"
            aria-label="filter tasks"
            placeholder="Filter by text, type, agent…"
            value={query}
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          />
          <select
            aria-label="priority"
            class="compact"
            value={priority}
            onChange={(e) => setPriority((e.target as HTMLSelectElement).value)}
          >
            <option value="">Any priority</option>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
          <div class="spacer" />
          {model.canWrite && (
            <button type="button" class="btn primary" onClick={() => setCreating(true)}>
              <Icon name="plus" size={14} /> New task
            </button>
          )}
        </div>
        <div class="board" role="list">
          {TASK_STATUSES.map((status) => {
            const column = tasks.filter((t) => t.status === status).sort(order(status));
            return (
              <section class="column" key={status} data-status={status} role="listitem" aria-label={`${status} tasks`}>
                <header class="column-head">
                  <StatusBadge status={status} />
                  <span class="count">{column.length}</span>
                </header>
                <div class="column-body">
                  {column.slice(0, PER_COLUMN).map((t) => (
                    <TaskCard key={t.id} task={t} focused={t.id === selected} />
                  ))}
                  {column.length === 0 && <p class="column-empty">None</p>}
                  {column.length > PER_COLUMN && <p class="column-empty">+{column.length - PER_COLUMN} more (filter to find them)</p>}
                </div>
              </section>
            );
          })}
        </div>
      </section>
      {selected && (
        <Drawer title={task ? <span class="title-text">Task</span> : 'Task'} onClose={() => navigate('tasks')} testId="task-drawer">
          {task ? (
            <TaskDetails task={task} />
          ) : (
            <p class="muted">{model.loading.value ? 'Loading…' : 'No such task (or not in this game).'}</p>
          )}
        </Drawer>
      )}
      {creating && <NewTaskDialog onClose={() => setCreating(false)} />}
    </div>
  );
}

function TaskCard({ task, focused }: { task: Task; focused: boolean }) {
  const model = useConsole();
  const open = OPEN_TASK_STATUSES.includes(task.status);
  const took = duration(task);
  return (
    <article class={`task-card p-${task.priority}${focused ? ' focused' : ''}`} data-task-id={task.id} data-status={task.status}>
      <a class="task-title" href={href('tasks', task.id)}>
        {task.description}
      </a>
      <div class="meta">
        <PriorityBadge priority={task.priority} />
        <span class="who">{assignee(model, task)}</span>
        {task.attempts > 1 && (
          <span class="attempts" title="attempts">
            try {task.attempts}/{task.max_attempts}
          </span>
        )}
      </div>
      {(task.status === 'running' || task.status === 'assigned') && (
        <div class="card-progress">
          <Progress value={task.progress} />
          <span class="muted small">{Math.round(task.progress * 100)} %</span>
        </div>
      )}
      {task.status === 'queued' && task.error && <p class="card-note warn">retrying: {task.error.message}</p>}
      {task.status === 'failed' && task.error && (
        <p class="card-note bad">
          {task.error.code}: {task.error.message}
        </p>
      )}
      {task.status === 'completed' && took !== null && <p class="card-note">done in {seconds(took)}</p>}
      {open && model.canWrite && (
        <button
          type="button"
          class="btn ghost tiny cancel"
          onClick={() => void model.act(() => model.api.cancelTask(task.id), 'Task cancelled')}
          aria-label={`Cancel ${task.description}`}
        >
          Cancel
        </button>
      )}
    </article>
  );
}
