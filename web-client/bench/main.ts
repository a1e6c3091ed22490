import type { Agent, Scene, Task } from '@agentvm/api/contract';
import { openLive } from '../src/lib/live-client';
import { Store } from '../src/state/store';
import { WorldRenderer } from '../src/views/world/renderer';

/**
 * The benchmark page: the console's own store, live connection and world renderer (no mocks),
 * fed by the runner's WebSocket with agent.moved frames. It records the time between animation
 * frames, the renderer's work per frame and the time spent applying events.
 */

interface Fixture {
  agents: Agent[];
  tasks: Task[];
  scene: Scene;
}

interface Sample {
  intervals: number[];
  draws: number[];
  applyMs: number;
  events: number;
  longTasks: number;
  visible: number;
  labelled: number;
  seconds: number;
}

declare global {
  interface Window {
    bench: {
      ready: Promise<void>;
      measure: (seconds: number) => Promise<Sample>;
      zoom: (factor: number) => void;
      fit: () => void;
    };
  }
}

const store = new Store();
const canvas = document.getElementById('world') as HTMLCanvasElement;
let scene: Scene | null = null;
const renderer = new WorldRenderer(canvas, () => ({ store, agents: [...store.agents.values()], scene, selected: null }));

let recording: Sample | null = null;
let last = 0;
requestAnimationFrame(function loop(now) {
  requestAnimationFrame(loop);
  const stats = renderer.frame(now);
  if (recording) {
    if (last) recording.intervals.push(now - last);
    recording.draws.push(stats.ms);
    recording.visible = stats.visible;
    recording.labelled = stats.labelled;
  }
  last = now;
});

let longTasks = 0;
new PerformanceObserver((list) => (longTasks += list.getEntries().length)).observe({ type: 'longtask', buffered: false });

const ready = (async () => {
  const fixture = (await (await fetch('/fixture.json')).json()) as Fixture;
  scene = fixture.scene;
  store.reset({ agents: fixture.agents, tasks: fixture.tasks, lastSeq: 0 });
  await new Promise<void>((resolve) => {
    openLive({
      key: 'bench',
      gameId: null,
      since: () => store.lastSeq,
      onEvents: (events) => {
        const t0 = performance.now();
        store.applyAll(events, t0);
        if (recording) {
          recording.applyMs += performance.now() - t0;
          recording.events += events.length;
        }
      },
      onStatus: (s) => s.state === 'live' && resolve(),
      onGap: () => undefined,
    }).start();
  });
})();

window.bench = {
  ready,
  zoom: (factor) => renderer.zoomBy(factor),
  fit: () => renderer.refit(),
  measure: async (seconds) => {
    const startLong = longTasks;
    recording = { intervals: [], draws: [], applyMs: 0, events: 0, longTasks: 0, visible: 0, labelled: 0, seconds };
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const result = recording;
    recording = null;
    result.longTasks = longTasks - startLong;
    return result;
  },
};
