// Replays tests/fixtures/contract.json against a running api and checks every answer and frame
// shape the plugin relies on (the api's own test does the same in CI; this is for checking a
// deployed server, or the fixture while editing it):
//   node tools/replay_contract.mjs http://localhost:8000 [api-key]
// The key defaults to AGENTVM_API_KEY, then development-key. Exits 1 on any mismatch.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = JSON.parse(readFileSync(join(here, '../tests/fixtures/contract.json'), 'utf8'));
const base = (process.argv[2] ?? process.env.AGENTVM_TEST_URL ?? 'http://localhost:8000').replace(/\/+$/, '');
const key = process.argv[3] ?? process.env.AGENTVM_API_KEY ?? 'development-key';

let passed = 0;
let failed = 0;
const check = (label, ok, detail = '') => {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAIL ${label}${detail ? ` — ${detail}` : ''}`);
  }
};
const sameJson = (a, b) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  return value;
}
const fill = (value, saved) => {
  if (typeof value === 'string') return value.replace(/\{(\w+)\}/g, (whole, name) => saved[name] ?? whole);
  if (Array.isArray(value)) return value.map((v) => fill(v, saved));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, saved)]));
  return value;
};
const headers = (withBody) => ({
  accept: 'application/json',
  'x-api-key': key,
  ...(withBody ? { 'content-type': 'application/json' } : {}),
});
async function send(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// Requests, in order, as the plugin sends them.
const saved = { api_key: key };
const game = `contract-${Date.now()}`;
const rename = (value) => fill(JSON.parse(JSON.stringify(value).replaceAll('godot-contract', game)), saved);
for (const req of [...fixtures.requests, ...fixtures.requests_without_body]) {
  for (const before of req.before ?? []) await send(before.method, rename(before.path), rename(before.body));
  const answer = await send(req.method, rename(req.path), req.body === undefined ? undefined : rename(req.body));
  const e = req.expect;
  check(`${req.name}: status ${e.status}`, answer.status === e.status, `got ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
  for (const k of e.keys ?? []) check(`${req.name}: has ${k}`, answer.body && k in answer.body);
  if (e.exact_keys) check(`${req.name}: exactly its keys`, sameJson(Object.keys(answer.body ?? {}).sort(), [...e.keys].sort()));
  for (const [k, v] of Object.entries(e.values ?? {}))
    check(`${req.name}: ${k}`, sameJson(answer.body?.[k], rename(v)), JSON.stringify(answer.body?.[k]));
  if (e.error_code) check(`${req.name}: error.code ${e.error_code}`, answer.body?.error?.code === e.error_code);
  if (e.error_field) check(`${req.name}: error field ${e.error_field}`, answer.body?.error?.details?.[0]?.field === e.error_field);
  if (e.status >= 400)
    check(`${req.name}: error shape`, typeof answer.body?.error?.message === 'string' && typeof answer.body?.request_id === 'string');
  for (const [name, k] of Object.entries(req.save ?? {})) saved[name] = answer.body?.[k];
}

// Frames: open the stream as the plugin does, make a task run, compare every frame's shape.
const frames = fixtures.websocket.frames;
const received = [];
const socket = new WebSocket(`${base.replace(/^http/, 'ws')}${fixtures.websocket.path}?game_id=${game}`, { headers: { 'X-API-Key': key } });
socket.on('message', (raw) => received.push(JSON.parse(raw.toString())));
await new Promise((ok, fail) => {
  socket.once('open', ok);
  socket.once('error', fail);
});
const waitFor = async (predicate, ms = 30000) => {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    const found = received.find(predicate);
    if (found) return found;
  }
  return null;
};
const hello = await waitFor((f) => f.type === 'hello');
check('hello: same keys', hello && sameJson(Object.keys(hello).sort(), Object.keys(frames.hello).sort()), JSON.stringify(hello));
socket.send(JSON.stringify(fixtures.websocket.client_frames.ping));
check('pong', sameJson(await waitFor((f) => f.type === 'pong'), frames.pong));
socket.send(JSON.stringify({ ...fixtures.websocket.client_frames.subscribe, game_id: game }));
const subscribed = await waitFor((f) => f.type === 'subscribed');
check('subscribed: same keys', subscribed && sameJson(Object.keys(subscribed).sort(), Object.keys(frames.subscribed).sort()));
await send('POST', '/game/connect', { game_id: game, engine: 'godot' });
const agent = (await send('POST', '/agents/create', { agent_type: 'aider', game_id: game })).body;
await send('PUT', `/agents/${agent.id}/position`, { x: 1, y: 0, z: 2, rotation_y: 0 });
const task = (await send('POST', '/tasks/assign', { description: 'x', task_type: 'debugging', agent_id: agent.id })).body;
const waiting = (await send('POST', '/tasks/assign', { description: 'w', preferred_type: 'custom', game_id: game })).body;
await send('POST', `/tasks/${waiting.id}/cancel`, {});
await waitFor((f) => f.type === 'task.completed' && f.data?.task_id === task.id, 60000);
await send('DELETE', `/agents/${agent.id}`);
await waitFor((f) => f.type === 'agent.deleted');
const shape = (frame) => ({ envelope: Object.keys(frame).sort(), data: Object.keys(frame.data ?? {}).sort() });
const byType = {
  agent_created: 'agent.created',
  task_created: 'task.created',
  task_assigned: 'task.assigned',
  task_started: 'task.started',
  agent_state_changed: 'agent.state_changed',
  task_progress: 'task.progress',
  task_completed: 'task.completed',
  agent_moved: 'agent.moved',
  task_cancelled: 'task.cancelled',
  agent_deleted: 'agent.deleted',
};
for (const [name, type] of Object.entries(byType)) {
  const real = received.find((f) => f.type === type);
  check(`${name}: a ${type} frame arrived`, Boolean(real));
  if (!real) continue;
  check(
    `${name}: same envelope and data keys`,
    sameJson(shape(real), shape(frames[name])),
    `${JSON.stringify(shape(real))} vs ${JSON.stringify(shape(frames[name]))}`,
  );
  if (frames[name].data.agent)
    check(`${name}: same agent keys`, sameJson(Object.keys(real.data.agent).sort(), Object.keys(frames[name].data.agent).sort()));
  if (frames[name].data.task)
    check(`${name}: same task keys`, sameJson(Object.keys(real.data.task).sort(), Object.keys(frames[name].data.task).sort()));
  check(
    `${name}: seq is ${frames[name].seq === null ? 'null (volatile)' : 'a number (durable)'}`,
    (real.seq === null) === (frames[name].seq === null),
  );
}
socket.close();
const gap = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?game_id=${game}&since=999999999`, { headers: { 'X-API-Key': key } });
const gapFrames = [];
gap.on('message', (raw) => gapFrames.push(JSON.parse(raw.toString())));
await new Promise((r) => setTimeout(r, 1000));
const replayGap = gapFrames.find((f) => f.code === 'replay_gap');
check(
  'replay_gap: same keys',
  replayGap && sameJson(Object.keys(replayGap).sort(), Object.keys(frames.replay_gap).sort()),
  JSON.stringify(gapFrames),
);
gap.close();

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
