import type { Agent, AgentStatus, Scene } from '@agentvm/api/contract';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { AGENT_STATUSES } from '../../lib/constants';
import { navigate } from '../../lib/route';
import type { Store } from '../../state/store';
import { useConsole } from '../../ui/context';
import { Icon } from '../../ui/icons';
import { Drawer, Empty } from '../../ui/kit';
import { AgentDetails, AgentTitle } from '../agents/AgentDetails';
import { WorldRenderer } from './renderer';
import { STATUS_COLOURS } from './sprites';

/** Agents of the scene, plus those the game has not placed in any scene yet. */
export function inScene(agent: Agent, sceneId: string | null): boolean {
  return sceneId === null || agent.scene_id === sceneId || agent.scene_id === null;
}

export function WorldView({ selected }: { selected: string | null }) {
  const model = useConsole();
  const scenes = model.scenes.value;
  const [sceneId, setSceneId] = useState<string | null>(null);
  // Follow the scene list: keep the pick while it exists, else the first scene.
  const scene: Scene | null = scenes.find((s) => s.scene_id === sceneId) ?? (sceneId === 'all' ? null : (scenes[0] ?? null));
  const agents = [...model.store.agents.values()].filter((a) => inScene(a, scene?.scene_id ?? null));
  const counts = useMemo(() => {
    const c: Record<AgentStatus, number> = { idle: 0, busy: 0, offline: 0, error: 0 };
    for (const a of agents) c[a.status]++;
    return c;
  }, [model.revision.value, scene?.scene_id]);
  const agent = selected ? model.store.agents.get(selected) : undefined;

  return (
    <div class={`world-view${agent ? ' with-drawer' : ''}`}>
      <section class="world-stage card flush">
        <div class="world-toolbar">
          {model.game.value && (
            <select
              aria-label="scene"
              class="compact"
              value={scene?.scene_id ?? 'all'}
              onChange={(e) => setSceneId((e.target as HTMLSelectElement).value)}
            >
              {scenes.map((s) => (
                <option key={s.scene_id} value={s.scene_id}>
                  {s.name ?? s.scene_id}
                </option>
              ))}
              <option value="all">{scenes.length ? 'All agents (no scene)' : 'No scenes yet'}</option>
            </select>
          )}
          <div class="counts" aria-label="agents by status">
            {AGENT_STATUSES.map((s) => (
              <span key={s} class="count-chip" title={`${counts[s]} ${s}`}>
                <i style={{ background: STATUS_COLOURS[s] }} />
                {counts[s]} {s}
              </span>
            ))}
          </div>
        </div>
        <WorldCanvas
          store={model.store}
          sceneId={scene?.scene_id ?? null}
          scene={scene}
          selected={selected}
          count={agents.length}
          onSelect={(id) => navigate('world', id)}
        />
        {agents.length === 0 && !model.loading.value && (
          <div class="world-empty">
            <Empty title={model.game.value ? `No agents in ${model.game.value} yet` : 'No agents yet'}>
              {model.canWrite
                ? 'Create one from the Agents page, or let a game spawn them.'
                : 'They appear here as soon as a game creates them.'}
            </Empty>
          </div>
        )}
      </section>
      {agent && (
        <Drawer title={<AgentTitle agent={agent} />} onClose={() => navigate('world')} testId="agent-drawer">
          <AgentDetails agent={agent} />
        </Drawer>
      )}
      {selected && !agent && !model.loading.value && (
        <Drawer title="Agent not found" onClose={() => navigate('world')}>
          <p class="muted">It may have been deleted, or belong to another game.</p>
        </Drawer>
      )}
    </div>
  );
}

interface CanvasProps {
  store: Store;
  scene: Scene | null;
  sceneId: string | null;
  selected: string | null;
  count: number;
  onSelect: (id: string | null) => void;
}

function WorldCanvas(props: CanvasProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const renderer = useRef<WorldRenderer | null>(null);
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const canvas = canvasRef.current!;
    const r = new WorldRenderer(canvas, () => {
      const p = latest.current;
      return { store: p.store, agents: visibleAgents(p.store, p.sceneId), scene: p.scene, selected: p.selected };
    });
    renderer.current = r;
    // For the e2e tests and the benchmark: where an NPC is drawn, without a DOM write per frame.
    (canvas as HTMLCanvasElement & { world?: WorldRenderer }).world = r;
    let raf = requestAnimationFrame(function loop(now) {
      raf = requestAnimationFrame(loop);
      r.frame(now);
    });

    const pointers = new Map<number, { x: number; y: number }>();
    let drag: { x: number; y: number; moved: boolean } | null = null;
    let pinch: { d: number } | null = null;
    const local = (e: { clientX: number; clientY: number }) => {
      const rect = canvas.getBoundingClientRect();
      return { x: e.clientX - rect.left, y: e.clientY - rect.top };
    };
    const down = (e: PointerEvent) => {
      canvas.setPointerCapture(e.pointerId);
      pointers.set(e.pointerId, local(e));
      if (pointers.size === 1) drag = { ...local(e), moved: false };
      if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        pinch = { d: Math.hypot(a!.x - b!.x, a!.y - b!.y) };
        if (drag) drag.moved = true;
      }
    };
    const move = (e: PointerEvent) => {
      const p = local(e);
      if (pinch && pointers.has(e.pointerId)) {
        pointers.set(e.pointerId, p);
        const [a, b] = [...pointers.values()];
        const d = Math.hypot(a!.x - b!.x, a!.y - b!.y);
        if (pinch.d > 0) r.zoomBy(d / pinch.d, (a!.x + b!.x) / 2, (a!.y + b!.y) / 2);
        pinch.d = d;
        return;
      }
      if (drag && pointers.has(e.pointerId)) {
        const last = pointers.get(e.pointerId)!;
        pointers.set(e.pointerId, p);
        if (!drag.moved && Math.hypot(p.x - drag.x, p.y - drag.y) < 4) return;
        drag.moved = true;
        r.panBy(p.x - last.x, p.y - last.y);
        return;
      }
      const hovered = r.hit(p.x, p.y, performance.now());
      r.hovered = hovered;
      canvas.style.cursor = hovered ? 'pointer' : 'grab';
    };
    const up = (e: PointerEvent) => {
      const p = local(e);
      if (drag && !drag.moved && pointers.size === 1) latest.current.onSelect(r.hit(p.x, p.y, performance.now()));
      pointers.delete(e.pointerId);
      if (pointers.size < 2) pinch = null;
      if (pointers.size === 0) drag = null;
    };
    const leave = () => {
      r.hovered = null;
    };
    const wheel = (e: WheelEvent) => {
      e.preventDefault();
      const p = local(e);
      r.zoomBy(Math.exp(-e.deltaY * 0.0015), p.x, p.y);
    };
    const dbl = () => r.refit();
    canvas.addEventListener('pointerdown', down);
    canvas.addEventListener('pointermove', move);
    canvas.addEventListener('pointerup', up);
    canvas.addEventListener('pointercancel', up);
    canvas.addEventListener('pointerleave', leave);
    canvas.addEventListener('wheel', wheel, { passive: false });
    canvas.addEventListener('dblclick', dbl);
    return () => {
      cancelAnimationFrame(raf);
      canvas.removeEventListener('pointerdown', down);
      canvas.removeEventListener('pointermove', move);
      canvas.removeEventListener('pointerup', up);
      canvas.removeEventListener('pointercancel', up);
      canvas.removeEventListener('pointerleave', leave);
      canvas.removeEventListener('wheel', wheel);
      canvas.removeEventListener('dblclick', dbl);
    };
  }, []);

  // A new scene (or game) starts from a fitted view.
  useEffect(() => renderer.current?.refit(), [props.scene?.scene_id, props.scene?.game_id]);

  return (
    <div class="world-canvas">
      <canvas ref={canvasRef} data-testid="world" data-agents={props.count} aria-label="Map of the agents; click one for its details" />
      <div class="zoom" role="group" aria-label="zoom">
        <button type="button" class="icon-btn" aria-label="Zoom in" title="Zoom in" onClick={() => renderer.current?.zoomBy(1.4)}>
          <Icon name="plus" />
        </button>
        <button type="button" class="icon-btn" aria-label="Zoom out" title="Zoom out" onClick={() => renderer.current?.zoomBy(1 / 1.4)}>
          <Icon name="minus" />
        </button>
        <button
          type="button"
          class="icon-btn"
          aria-label="Fit the scene"
          title="Fit (or double-click the map)"
          onClick={() => renderer.current?.refit()}
        >
          <Icon name="fit" />
        </button>
        {props.selected && (
          <button
            type="button"
            class="icon-btn"
            aria-label="Centre on the selected agent"
            title="Centre on the selected agent"
            onClick={() => renderer.current?.focus(props.selected!, performance.now())}
          >
            <Icon name="target" />
          </button>
        )}
      </div>
      <div class="legend">
        {(['idle', 'busy', 'offline', 'error'] as const).map((s) => (
          <span key={s}>
            <i style={{ background: STATUS_COLOURS[s] }} />
            {s}
          </span>
        ))}
        <span class="muted hide-narrow">drag to pan · scroll to zoom</span>
      </div>
    </div>
  );
}

/** Read fresh each frame: moves replace the agents' entries in the store between renders. */
function visibleAgents(store: Store, sceneId: string | null): Agent[] {
  const out: Agent[] = [];
  for (const agent of store.agents.values()) if (inScene(agent, sceneId)) out.push(agent);
  return out;
}
