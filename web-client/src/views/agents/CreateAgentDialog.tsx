import type { CreateAgentBody } from '@agentvm/api/contract';
import { useState } from 'preact/hooks';
import { PERSONALITIES } from '../../lib/constants';
import { list } from '../../lib/format';
import { navigate } from '../../lib/route';
import { useConsole } from '../../ui/context';
import { Field, FormFooter, useForm } from '../../ui/form';
import { Dialog } from '../../ui/kit';

const FIELDS = ['agent_type', 'name', 'personality', 'capabilities', 'game_id', 'scene_id'] as const;

const PERSONALITY_HINTS: Record<(typeof PERSONALITIES)[number], string> = {
  ambitious: 'fast, takes risks',
  team_player: 'steady, good in teams',
  steady: 'even pace, few failures',
  perfectionist: 'slow, rarely fails',
  slacker: 'slow, fails more',
};

/** Create an agent: its type from the configured list, its personality and capabilities. */
export function CreateAgentDialog(props: { onClose: () => void }) {
  const model = useConsole();
  const types = model.agentTypes;
  const scenes = model.scenes.value;
  const form = useForm(FIELDS);
  const [v, setV] = useState({
    agent_type: types[0]?.name ?? '',
    name: '',
    personality: '',
    capabilities: '',
    scene_id: scenes[0]?.scene_id ?? '',
  });
  const set = (k: keyof typeof v) => (e: Event) => {
    setV({ ...v, [k]: (e.target as HTMLInputElement).value });
    form.clear(k);
  };
  const type = types.find((t) => t.name === v.agent_type);

  return (
    <Dialog title="Create an agent" onClose={props.onClose} testId="new-agent">
      <form
        class="form"
        name="create-agent"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(async () => {
            const body: CreateAgentBody = { agent_type: v.agent_type };
            if (v.name !== '') body.name = v.name;
            if (v.personality) body.personality = v.personality as CreateAgentBody['personality'];
            if (v.capabilities.trim()) body.capabilities = list(v.capabilities);
            if (model.game.value) body.game_id = model.game.value;
            if (v.scene_id) body.scene_id = v.scene_id;
            const agent = await model.api.createAgent(body);
            model.toast('ok', `${agent.name} joined${agent.game_id ? ` ${agent.game_id}` : ''}`);
            props.onClose();
            navigate('agents', agent.id);
          });
        }}
      >
        <div class="grid-2">
          <Field label="Type" name="agent_type" form={form} hint={type ? `${type.runtime} runtime` : undefined}>
            <select id="f-agent_type" name="agent_type" value={v.agent_type} onChange={set('agent_type')}>
              {types.map((t) => (
                <option value={t.name} key={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Name" name="name" form={form} hint="Optional: type and a short id">
            <input id="f-name" name="name" value={v.name} onInput={set('name')} placeholder="e.g. ada" autocomplete="off" />
          </Field>
        </div>
        {type?.description && <p class="type-description">{type.description}</p>}
        <div class="grid-2">
          <Field label="Personality" name="personality" form={form}>
            <select id="f-personality" name="personality" value={v.personality} onChange={set('personality')}>
              <option value="">Type’s default</option>
              {PERSONALITIES.map((p) => (
                <option key={p} value={p}>
                  {p.replace('_', ' ')} — {PERSONALITY_HINTS[p]}
                </option>
              ))}
            </select>
          </Field>
          {scenes.length > 0 && (
            <Field label="Scene" name="scene_id" form={form}>
              <select id="f-scene_id" name="scene_id" value={v.scene_id} onChange={set('scene_id')}>
                {scenes.map((s) => (
                  <option key={s.scene_id} value={s.scene_id}>
                    {s.name ?? s.scene_id}
                  </option>
                ))}
                <option value="">No scene</option>
              </select>
            </Field>
          )}
        </div>
        <Field label="Capabilities" name="capabilities" form={form} hint="Comma separated; empty keeps the type’s" wide>
          <input
            id="f-capabilities"
            name="capabilities"
            value={v.capabilities}
            onInput={set('capabilities')}
            placeholder={type?.capabilities.join(', ') || 'code, python'}
          />
        </Field>
        {!model.game.value && (
          <p class="hint">No game is selected: the agent is created outside any game. Pick a game at the top to place it in one.</p>
        )}
        <FormFooter form={form} submit="Create agent" busy="Creating…" onCancel={props.onClose} />
      </form>
    </Dialog>
  );
}
