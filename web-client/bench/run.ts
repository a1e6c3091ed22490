/* global document -- used inside page.evaluate callbacks, which run in the browser */
/**
 * World-view frame-time benchmark: `npm run bench -w web-client [-- --agents 1000 --rate 10 --seconds 10]`.
 *
 * Builds bench/index.html (the console's own Store, LiveConnection and WorldRenderer), serves it
 * with a WebSocket that streams `agent.moved` envelopes exactly as the api sends them — every
 * agent `rate` times a second, one frame each — opens it in Debian's headless Chromium
 * (--disable-gpu: software rendering), and records the time between animation frames.
 * Prints p50/p95/p99 and writes test-results/bench.json.
 *
 * With `--api` it measures the whole chain instead: a real api process (PGlite) holding the
 * agents, a driver sending `PUT /agents/positions` for all of them `rate` times a second, and
 * the built console (npm run build first) signed in on its world view.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Agent, AgentStatus, Scene, Task } from '@agentvm/api/contract';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { WebSocketServer, type WebSocket } from 'ws';
import { ADMIN_KEY, launchChromium, RESULTS, startApi } from '../test/e2e/harness';

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '800' },
    api: { type: 'boolean', default: false },
  },
});
const AGENTS = Number(args.agents);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const here = resolve(import.meta.dirname);

// ---------------------------------------------------------------- a world of agents on the move

const W = 200;
const H = 120;
function random(seed: number) {
  return () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}
const rnd = random(42);
const ts = new Date().toISOString();
const statuses: AgentStatus[] = ['busy', 'busy', 'busy', 'idle', 'idle', 'busy', 'offline', 'busy', 'idle', 'error'];
const activities = ['thinking', 'coding', 'testing', 'reviewing', 'collaborating'] as const;
const tasks: Task[] = [];
const paths: { cx: number; cz: number; r: number; w: number; phase: number }[] = [];
const agents: Agent[] = Array.from({ length: AGENTS }, (_, i) => {
  const id = `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`;
  const status = statuses[i % statuses.length]!;
  const path = { cx: -W / 2 + rnd() * W, cz: -H / 2 + rnd() * H, r: 2 + rnd() * 6, w: 0.3 + rnd() * 0.7, phase: rnd() * Math.PI * 2 };
  paths.push(path);
  let taskId: string | null = null;
  if (status === 'busy') {
    taskId = `00000000-0000-7000-9000-${String(i).padStart(12, '0')}`;
    tasks.push({
      id: taskId,
      description: `Task ${i}: ${['fix the jump physics', 'write tests for saves', 'review the shader', 'refactor inventory'][i % 4]}`,
      task_type: 'feature',
      status: 'running',
      priority: 'normal',
      agent_id: id,
      agent_type: null,
      parent_id: null,
      team_size: null,
      depends_on: [],
      required_capabilities: [],
      game_id: 'bench',
      progress: rnd(),
      message: null,
      attempts: 1,
      max_attempts: 3,
      timeout_s: 600,
      run_after: ts,
      lease_expires_at: null,
      metadata: {},
      result: null,
      error: null,
      created_at: ts,
      assigned_at: ts,
      started_at: ts,
      finished_at: null,
      updated_at: ts,
    });
  }
  return {
    id,
    name: `npc-${String(i).padStart(4, '0')}`,
    agent_type: 'aider',
    status,
    activity: status === 'busy' ? activities[i % activities.length]! : null,
    activity_detail: null,
    capabilities: ['code'],
    personality: 'steady',
    game_id: 'bench',
    scene_id: 'floor',
    position: { x: path.cx + path.r, y: 0, z: path.cz },
    rotation_y: 0,
    metadata: {},
    current_task_id: taskId,
    tasks_completed: 0,
    tasks_failed: 0,
    last_seen_at: ts,
    created_at: ts,
    updated_at: ts,
    version: 1,
  };
});
const scene: Scene = {
  scene_id: 'floor',
  game_id: 'bench',
  name: 'Benchmark floor',
  bounds: { min: { x: -W / 2 - 8, y: 0, z: -H / 2 - 8 }, max: { x: W / 2 + 8, y: 3, z: H / 2 + 8 } },
  spawn_points: [],
  metadata: {},
  created_at: ts,
  updated_at: ts,
};

// ---------------------------------------------------------------- measuring

interface Sample {
  intervals: number[];
  draws: number[];
  applyMs: number;
  events: number;
  longTasks: number;
  visible: number;
  labelled: number;
  seconds: number;
  sent: number;
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (n: number) => Math.round(n * 100) / 100;
function summarise(name: string, s: Sample) {
  return {
    scenario: name,
    frames: s.intervals.length,
    fps: round(s.intervals.length / s.seconds),
    frame_p50_ms: round(pct(s.intervals, 50)),
    frame_p95_ms: round(pct(s.intervals, 95)),
    frame_p99_ms: round(pct(s.intervals, 99)),
    frame_max_ms: round(Math.max(...s.intervals)),
    draw_p50_ms: round(pct(s.draws, 50)),
    draw_p99_ms: round(pct(s.draws, 99)),
    sent_per_s: Math.round(s.sent / s.seconds),
    events_per_s: Math.round(s.events / s.seconds),
    apply_ms_per_s: round(s.applyMs / s.seconds),
    long_tasks: s.longTasks,
    visible: s.visible,
    labelled: s.labelled,
  };
}
type Result = ReturnType<typeof summarise>;
let sent = 0;
let paused = false;

/** The three scenarios, on a page whose `window.bench` measures (bench/main.ts, or the sampler below). */
async function scenarios(page: Page, prefix: string): Promise<Result[]> {
  const results: Result[] = [];
  const measure = async (seconds: number) => {
    const before = sent;
    const sample = await page.evaluate((s) => window.bench.measure(s), seconds);
    return { ...sample, sent: sent - before };
  };
  paused = true;
  await page.waitForTimeout(1000);
  results.push(summarise(`${prefix}idle page, no moves (baseline)`, await measure(Math.min(5, SECONDS))));
  paused = false;
  await page.waitForTimeout(2000); // warm up: caches filled, JIT warm
  results.push(summarise(`${prefix}${AGENTS} agents on screen, ${RATE} moves/s each`, await measure(SECONDS)));
  await page.screenshot({ path: join(RESULTS, `bench${prefix ? '-api' : ''}-overview.png`) });
  await page.evaluate(() => window.bench.zoom(6));
  await page.waitForTimeout(1000);
  results.push(summarise(`${prefix}zoomed in: labels and bubbles, ${RATE} moves/s each`, await measure(SECONDS)));
  await page.screenshot({ path: join(RESULTS, `bench${prefix ? '-api' : ''}-zoomed.png`) });
  return results;
}

function position(i: number, now: number) {
  const p = paths[i]!;
  const t = (now / 1000) * p.w + p.phase;
  return { x: p.cx + Math.cos(t) * p.r, y: 0, z: p.cz + Math.sin(t) * p.r, rotation_y: t };
}

// ---------------------------------------------------------------- synthetic feed: the console's code, the api's frames

async function synthetic(page: Page): Promise<Result[]> {
  const outDir = mkdtempSync(join(tmpdir(), 'agentvm-bench-'));
  await build({
    configFile: resolve(here, '../vite.config.ts'),
    root: here,
    base: '/',
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, sourcemap: false },
  });
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const fixture = JSON.stringify({ agents, tasks, scene });
  const server = createServer((req, res) => {
    if (req.url === '/fixture.json') return res.writeHead(200, { 'content-type': 'application/json' }).end(fixture);
    if (req.url === '/favicon.ico') return res.writeHead(204).end();
    const path = req.url === '/' || !req.url ? '/index.html' : req.url.split('?')[0]!;
    try {
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(join(outDir, path)));
    } catch {
      res.writeHead(404).end();
    }
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (socket: WebSocket) => {
    socket.send(JSON.stringify({ type: 'hello', last_seq: 0 }));
    const start = Date.now();
    const due = agents.map((_, i) => start + (i / AGENTS) * (1000 / RATE)); // staggered evenly
    // A 5 ms tick sends every move that is due: each agent RATE times a second, one frame each.
    const timer = setInterval(() => {
      if (paused || socket.readyState !== socket.OPEN) return;
      const now = Date.now();
      // One write per tick for the frames due in it (still one WebSocket message per move): the
      // feed should cost this machine as little as it can, it is not what is measured.
      const raw = (socket as unknown as { _socket: Socket })._socket;
      raw.cork();
      process.nextTick(() => raw.uncork());
      for (let i = 0; i < AGENTS; i++) {
        if (due[i]! > now) continue;
        due[i]! += 1000 / RATE;
        if (due[i]! < now) due[i] = now + 1000 / RATE; // fell behind: skip, do not burst
        const { rotation_y, ...position_ } = position(i, now);
        socket.send(
          JSON.stringify({
            seq: null,
            type: 'agent.moved',
            ts: new Date(now).toISOString(),
            game_id: 'bench',
            data: { agent_id: agents[i]!.id, position: position_, rotation_y, scene_id: 'floor' },
          }),
        );
        sent++;
      }
    }, 5);
    socket.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
    await page.evaluate(() => window.bench.ready);
    return await scenarios(page, '');
  } finally {
    wss.close();
    server.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- --api: the real console on a real api

async function throughApi(page: Page): Promise<Result[]> {
  const { api, cleanup } = await startApi('pglite');
  let driving = true;
  try {
    await api.ok('PUT', '/game/scene/floor', { game_id: 'bench', name: scene.name, bounds: scene.bounds });
    const ids: string[] = [];
    for (let i = 0; i < AGENTS; i += 50) {
      const batch = await Promise.all(
        agents.slice(i, i + 50).map((a) =>
          api.ok('POST', '/agents/create', {
            agent_type: 'aider',
            name: a.name,
            game_id: 'bench',
            scene_id: 'floor',
            position: a.position,
          }),
        ),
      );
      ids.push(...batch.map((a: { id: string }) => a.id));
    }
    // The driver: every agent's position, RATE times a second, in one batch call (as a game would).
    const drive = (async () => {
      for (let next = Date.now(); driving; next += 1000 / RATE) {
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
        if (paused) continue;
        const now = Date.now();
        const positions = ids.map((agent_id, i) => ({ agent_id, ...position(i, now), scene_id: 'floor' }));
        await api.ok('PUT', '/agents/positions', { positions });
        sent += ids.length;
      }
    })();
    await page.goto(`${api.url}/console/#/world`);
    await page.fill('input[name=api_key]', ADMIN_KEY);
    await page.click('form[name=sign-in] button.primary');
    await page.locator('.link-state[data-state=live]').waitFor({ timeout: 30_000 });
    await page.locator('select[aria-label=game] option', { hasText: /^bench$/ }).waitFor({ state: 'attached', timeout: 30_000 });
    await page.selectOption('select[aria-label=game]', 'bench');
    await page.waitForFunction(
      (n) => Number(document.querySelector('canvas[data-testid=world]')?.getAttribute('data-agents')) >= n,
      AGENTS,
      {
        timeout: 60_000,
      },
    );
    await page.evaluate(installSampler);
    try {
      return await scenarios(page, 'api: ');
    } finally {
      driving = false;
      await drive;
    }
  } finally {
    driving = false;
    await page.close(); // before the api goes: its socket would log the refused reconnects
    await api.stop();
    await cleanup();
  }
}

/**
 * The same measurements on the real console page, through the renderer the world view exposes.
 * A string, not a function: tsx's transform would add helpers the page does not have.
 */
const installSampler = `(() => {
  const canvas = document.querySelector('canvas[data-testid=world]');
  let recording = null;
  let last = 0;
  let longTasks = 0;
  new PerformanceObserver((list) => (longTasks += list.getEntries().length)).observe({ type: 'longtask' });
  const loop = (now) => {
    requestAnimationFrame(loop);
    if (recording) {
      if (last) recording.intervals.push(now - last);
      const stats = canvas.world.lastStats;
      recording.draws.push(stats.ms);
      recording.visible = stats.visible;
      recording.labelled = stats.labelled;
    }
    last = now;
  };
  requestAnimationFrame(loop);
  window.bench = {
    zoom: (f) => canvas.world.zoomBy(f),
    fit: () => canvas.world.refit(),
    measure: async (seconds) => {
      const start = longTasks;
      recording = { intervals: [], draws: [], applyMs: 0, events: 0, longTasks: 0, visible: 0, labelled: 0, seconds };
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const result = recording;
      recording = null;
      result.longTasks = longTasks - start;
      return result;
    },
  };
})()`;

// ---------------------------------------------------------------- run

const browser = await launchChromium();
const version = `Chromium ${browser.version()}`;
let results: Result[];
try {
  const page = await browser.newPage({ viewport: { width: Number(args.width), height: Number(args.height) } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  results = args.api ? await throughApi(page) : await synthetic(page);
  if (errors.length) throw new Error(`errors in the page:\n${errors.join('\n')}`);
} finally {
  await browser.close();
}

const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', load_average_1m: round(loadavg()[0]!) };
const report = {
  date: new Date().toISOString(),
  chromium: version,
  machine,
  mode: args.api ? 'api' : 'synthetic',
  agents: AGENTS,
  rate: RATE,
  results,
};
mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, args.api ? 'bench-api.json' : 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(`${version}, ${AGENTS} agents, ${RATE} moves/s each (headless, --disable-gpu)`);
console.log(
  `${machine.cpus} × ${machine.cpu}, load average ${machine.load_average_1m} (other work on the machine shows up as missed frames)`,
);
console.table(
  results.map((r) => ({
    scenario: r.scenario,
    fps: r.fps,
    'frame p50': r.frame_p50_ms,
    'frame p99': r.frame_p99_ms,
    'draw p50': r.draw_p50_ms,
    'draw p99': r.draw_p99_ms,
    'sent/s': r.sent_per_s,
    'applied/s': r.events_per_s,
    'long tasks': r.long_tasks,
  })),
);
