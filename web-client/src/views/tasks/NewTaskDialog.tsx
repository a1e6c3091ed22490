import type { AssignTaskBody, CollaborativeTaskBody, Priority } from '@agentvm/api/contract';
import { useState } from 'preact/hooks';
import { ApiError } from '../../lib/api';
import { OPEN_TASK_STATUSES, PRIORITIES } from '../../lib/constants';
import { list, truncate } from '../../lib/format';
import { useConsole } from '../../ui/context';
import { Field, FormFooter, useForm } from '../../ui/form';
import { Icon } from '../../ui/icons';
import { Dialog } from '../../ui/kit';

type Mode = 'auto' | 'agent' | 'team';

const FIELDS = [
  'description',
  'task_type',
  'priority',
  'agent_id',
  'team_size',
  'required_capabilities',
  'depends_on',
  'timeout_s',
  'max_attempts',
] as const;

const TASK_TYPES = ['feature', 'debugging', 'testing', 'review', 'refactor', 'docs', 'general'];

/**
 * Assign a task: automatic (the engine picks an eligible agent), to one agent, or to a team
 * (a collaborative parent with one subtask per member). Fields carry the api's names, so a
 * validation error shows under the field it names.
 */
export function NewTaskDialog(props: { onClose: () => void; agentId?: string }) {
  const model = useConsole();
  const form = useForm(FIELDS);
  const [mode, setMode] = useState<Mode>(props.agentId ? 'agent' : 'auto');
  const [v, setV] = useState({
    description: '',
    task_type: 'feature',
    priority: 'normal' as Priority,
    agent_id: props.agentId ?? '',
    team_size: '3',
    required_capabilities: '',
    timeout_s: '',
    max_attempts: '',
  });
  const [dependsOn, setDependsOn] = useState<string[]>([]);
  const set = (k: keyof typeof v) => (e: Event) => {
    setV({ ...v, [k]: (e.target as HTMLInputElement).value });
    form.clear(k);
  };
  const agents = [...model.store.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  const candidates = [...model.store.tasks.values()]
    .filter((t) => !dependsOn.includes(t.id) && (OPEN_TASK_STATUSES.includes(t.status) || t.status === 'completed'))
    .sort((a, b) => (a.created_at < b.created_at ? 1 : -1))
    .slice(0, 50);
  const capabilities = [...new Set(model.agentTypes.flatMap((t) => t.capabilities))].sort();

  const send = async () => {
    const common = {
      description: v.description,
      task_type: v.task_type.trim() || undefined,
      priority: v.priority,
      ...(v.required_capabilities.trim() ? { required_capabilities: list(v.required_capabilities) } : {}),
      ...(dependsOn.length ? { depends_on: dependsOn } : {}),
      ...(model.game.value ? { game_id: model.game.value } : {}),
      ...(v.timeout_s ? { timeout_s: Number(v.timeout_s) } : {}),
      ...(v.max_attempts ? { max_attempts: Number(v.max_attempts) } : {}),
    };
    if (mode === 'team') {
      const body = { ...common, team_size: v.team_size === '' ? undefined : Number(v.team_size) } as CollaborativeTaskBody;
      const parent = await model.api.collaborativeTask(body);
      model.toast('ok', `A team of ${parent.subtasks.length} is on “${truncate(parent.description, 40)}”`);
    } else {
      if (mode === 'agent' && !v.agent_id)
        throw new ApiError(400, 'validation_failed', 'agent_id: choose an agent', { agent_id: 'Choose the agent to do it.' });
      const body: AssignTaskBody = { ...common, ...(mode === 'agent' ? { agent_id: v.agent_id } : {}) };
      const task = await model.api.assignTask(body);
      const who = task.agent_id ? model.store.agents.get(task.agent_id)?.name : null;
      model.toast('ok', `Queued “${truncate(task.description, 40)}”${who ? ` for ${who}` : ''}`);
    }
    props.onClose();
  };

  return (
    <Dialog title="Assign a task" onClose={props.onClose} testId="new-task">
      <form
        class="form"
        name="assign-task"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(send);
        }}
      >
        <div class="segmented" role="radiogroup" aria-label="who does it">
          {(
            [
              ['auto', 'Any eligible agent'],
              ['agent', 'A specific agent'],
              ['team', 'A team'],
            ] as const
          ).map(([m, label]) => (
            <button
              type="button"
              key={m}
              role="radio"
              aria-checked={mode === m}
              class={mode === m ? 'on' : ''}
              data-mode={m}
              onClick={() => setMode(m)}
            >
              {label}
            </button>
          ))}
        </div>
        <Field label="What should be done?" name="description" form={form} wide>
          <textarea
            id="f-description"
            name="description"
            rows={3}
            value={v.description}
            onInput={set('description')}
            placeholder="Fix the player movement bug in level 2"
            aria-invalid={!!form.errors.description}
          />
        </Field>
        <div class="grid-2">
          <Field label="Kind of work" name="task_type" form={form}>
            <input id="f-task_type" name="task_type" list="task-types" value={v.task_type} onInput={set('task_type')} />
            <datalist id="task-types">
              {TASK_TYPES.map((t) => (
                <option key={t} value={t} />
              ))}
            </datalist>
          </Field>
          <Field label="Priority" name="priority" form={form}>
            <select id="f-priority" name="priority" value={v.priority} onChange={set('priority')}>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </Field>
        </div>
        {mode === 'agent' && (
          <Field label="Agent" name="agent_id" form={form} wide>
            <select id="f-agent_id" name="agent_id" value={v.agent_id} onChange={set('agent_id')}>
              <option value="">Choose an agent…</option>
              {agents.map((a) => (
                <option value={a.id} key={a.id}>
                  {a.name} · {a.agent_type} · {a.status}
                </option>
              ))}
            </select>
          </Field>
        )}
        {mode === 'team' && (
          <Field label="Team size" name="team_size" form={form} hint="2–16 agents, each on its own subtask">
            <input id="f-team_size" name="team_size" type="number" inputMode="numeric" value={v.team_size} onInput={set('team_size')} />
          </Field>
        )}
        <Field
          label="Required capabilities"
          name="required_capabilities"
          form={form}
          hint={capabilities.length ? `Comma separated; the agent types offer ${capabilities.join(', ')}` : 'Comma separated'}
          wide
        >
          <input
            id="f-required_capabilities"
            name="required_capabilities"
            value={v.required_capabilities}
            onInput={set('required_capabilities')}
            placeholder="e.g. python, review"
          />
        </Field>
        <Field label="Runs after" name="depends_on" form={form} hint="Starts only when these tasks have completed" wide>
          <div class="chips-input">
            {dependsOn.map((id) => (
              <span class="chip removable" key={id}>
                {truncate(model.store.tasks.get(id)?.description ?? id, 32)}
                <button type="button" aria-label="Remove dependency" onClick={() => setDependsOn(dependsOn.filter((d) => d !== id))}>
                  <Icon name="close" size={12} />
                </button>
              </span>
            ))}
            <select
              id="f-depends_on"
              name="depends_on"
              value=""
              onChange={(e) => {
                const id = (e.target as HTMLSelectElement).value;
                if (id) setDependsOn([...dependsOn, id]);
                form.clear('depends_on');
              }}
            >
              <option value="">{candidates.length ? 'Add a task…' : 'No tasks to wait for'}</option>
              {candidates.map((t) => (
                <option key={t.id} value={t.id}>
                  {truncate(t.description, 60)} ({t.status})
                </option>
              ))}
            </select>
          </div>
        </Field>
        <details class="more">
          <summary>More options</summary>
          <div class="grid-2">
            <Field label="Timeout (s)" name="timeout_s" form={form}>
              <input
                id="f-timeout_s"
                name="timeout_s"
                type="number"
                value={v.timeout_s}
                onInput={set('timeout_s')}
                placeholder="type default"
              />
            </Field>
            <Field label="Max attempts" name="max_attempts" form={form}>
              <input
                id="f-max_attempts"
                name="max_attempts"
                type="number"
                value={v.max_attempts}
                onInput={set('max_attempts')}
                placeholder="3"
              />
            </Field>
          </div>
        </details>
        <FormFooter form={form} submit={mode === 'team' ? 'Assign to a team' : 'Assign task'} busy="Assigning…" onCancel={props.onClose} />
      </form>
    </Dialog>
  );
}
