import type { Agent } from '@agentvm/api/contract';
import { useState } from 'preact/hooks';
import { AGENT_STATUSES } from '../../lib/constants';
import { truncate } from '../../lib/format';
import { navigate } from '../../lib/route';
import { useConsole } from '../../ui/context';
import { Icon } from '../../ui/icons';
import { Drawer, Empty, Progress, StatusBadge } from '../../ui/kit';
import { AgentDetails, AgentTitle } from './AgentDetails';
import { CreateAgentDialog } from './CreateAgentDialog';

type SortKey = 'name' | 'agent_type' | 'status' | 'activity' | 'tasks_completed' | 'tasks_failed' | 'created_at';

const COLUMNS: { key: SortKey; label: string; class?: string }[] = [
  { key: 'name', label: 'Name' },
  { key: 'agent_type', label: 'Type' },
  { key: 'status', label: 'Status' },
  { key: 'activity', label: 'Activity', class: 'hide-narrow' },
  { key: 'tasks_completed', label: 'Done', class: 'num' },
  { key: 'tasks_failed', label: 'Failed', class: 'num hide-narrow' },
];

const PAGE = 200;

function compare(a: Agent, b: Agent, key: SortKey): number {
  const x = a[key] ?? '';
  const y = b[key] ?? '';
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  return String(x).localeCompare(String(y));
}

export function AgentsView({ selected }: { selected: string | null }) {
  const model = useConsole();
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState('');
  const [type, setType] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 }>({ key: 'name', dir: 1 });
  const [shown, setShown] = useState(PAGE);
  const [creating, setCreating] = useState(false);
  const all = [...model.store.agents.values()];
  const types = [...new Set(all.map((a) => a.agent_type))].sort();
  const q = query.trim().toLowerCase();
  const rows = all
    .filter(
      (a) =>
        (!status || a.status === status) &&
        (!type || a.agent_type === type) &&
        (!q || `${a.name} ${a.agent_type} ${a.activity ?? ''} ${a.capabilities.join(' ')} ${a.id}`.toLowerCase().includes(q)),
    )
    .sort((a, b) => compare(a, b, sort.key) * sort.dir || a.name.localeCompare(b.name));
  const agent = selected ? model.store.agents.get(selected) : undefined;

  return (
    <div class={`page-with-drawer${agent ? ' with-drawer' : ''}`}>
      <section class="card flush grow">
        <div class="toolbar">
          <h2>
            Agents <span class="count">{all.length}</span>
          </h2>
          <input
            type="search"
            class="compact search"
            aria-label="filter agents"
            placeholder="Filter by name, type, capability…"
            value={query}
            onInput={(e) => {
              setQuery((e.target as HTMLInputElement).value);
              setShown(PAGE);
            }}
          />
          <select aria-label="status" class="compact" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">Any status</option>
            {AGENT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
          <select
            aria-label="type"
            class="compact hide-narrow"
            value={type}
            onChange={(e) => setType((e.target as HTMLSelectElement).value)}
          >
            <option value="">Any type</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
          <div class="spacer" />
          {model.canWrite && (
            <button type="button" class="btn primary" onClick={() => setCreating(true)}>
              <Icon name="plus" size={14} /> New agent
            </button>
          )}
        </div>
        {rows.length === 0 ? (
          <Empty title={all.length ? 'No agent matches the filter' : 'No agents yet'}>
            {all.length
              ? 'Clear the filter to see them all.'
              : model.canWrite
                ? 'Create the first one with “New agent”.'
                : 'A game or an operator creates them.'}
          </Empty>
        ) : (
          <div class="table-wrap">
            <table class="table agents-table">
              <thead>
                <tr>
                  {COLUMNS.map((c) => (
                    <th
                      key={c.key}
                      class={c.class}
                      aria-sort={sort.key === c.key ? (sort.dir === 1 ? 'ascending' : 'descending') : undefined}
                    >
                      <button
                        type="button"
                        class="sort"
                        onClick={() =>
                          setSort({ key: c.key, dir: sort.key === c.key ? (-sort.dir as 1 | -1) : c.class?.includes('num') ? -1 : 1 })
                        }
                      >
                        {c.label}
                        {sort.key === c.key && <span aria-hidden="true">{sort.dir === 1 ? ' ↑' : ' ↓'}</span>}
                      </button>
                    </th>
                  ))}
                  <th class="hide-narrow">Current task</th>
                </tr>
              </thead>
              <tbody>
                {rows.slice(0, shown).map((a) => {
                  const task = model.store.currentTask(a);
                  return (
                    <tr
                      key={a.id}
                      data-agent-id={a.id}
                      class={selected === a.id ? 'selected' : ''}
                      onClick={() => navigate('agents', a.id)}
                    >
                      <td>
                        <a href={`#/agents/${a.id}`} class="strong" onClick={(e) => e.stopPropagation()}>
                          {a.name}
                        </a>
                      </td>
                      <td>{a.agent_type}</td>
                      <td>
                        <StatusBadge status={a.status} />
                      </td>
                      <td class="hide-narrow">
                        {a.activity ? <span class={`activity a-${a.activity}`}>{a.activity}</span> : <span class="muted">—</span>}
                      </td>
                      <td class="num">{a.tasks_completed}</td>
                      <td class="num hide-narrow">{a.tasks_failed}</td>
                      <td class="hide-narrow task-cell">
                        {task ? (
                          <>
                            <span title={task.description}>{truncate(task.description, 40)}</span>
                            <Progress value={task.progress} />
                          </>
                        ) : (
                          <span class="muted">—</span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            {rows.length > shown && (
              <div class="more-rows">
                <button type="button" class="btn ghost" onClick={() => setShown(shown + PAGE)}>
                  Show {Math.min(PAGE, rows.length - shown)} more of {rows.length - shown}
                </button>
              </div>
            )}
          </div>
        )}
      </section>
      {agent && (
        <Drawer title={<AgentTitle agent={agent} />} onClose={() => navigate('agents')} testId="agent-drawer">
          <AgentDetails agent={agent} />
        </Drawer>
      )}
      {selected && !agent && !model.loading.value && (
        <Drawer title="Agent not found" onClose={() => navigate('agents')}>
          <p class="muted">It may have been deleted, or belong to another game.</p>
        </Drawer>
      )}
      {creating && <CreateAgentDialog onClose={() => setCreating(false)} />}
    </div>
  );
}
