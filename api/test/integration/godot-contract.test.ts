import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, driver, type TestApp } from '../helpers/build-app.js';
import { WsClient } from '../helpers/ws-client.js';

/**
 * The Godot plugin's contract, pinned: the exact requests it sends and the answers and frames
 * it relies on come from godot-plugin/tests/fixtures/contract.json, which the GDScript tests
 * use too. A change here that breaks the plugin fails this test.
 */
type Json = Record<string, any>;
const fixtures = JSON.parse(readFileSync(resolve(__dirname, '../../../godot-plugin/tests/fixtures/contract.json'), 'utf8')) as Json;

function fill(value: unknown, saved: Record<string, string>): any {
  if (typeof value === 'string') return value.replace(/\{(\w+)\}/g, (whole, key: string) => saved[key] ?? whole);
  if (Array.isArray(value)) return value.map((v) => fill(v, saved));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, saved)]));
  return value;
}

describe(`Godot plugin contract (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    // auto_spawn: /agent/run (the first plugin) gets an agent of its type outside any game.
    t = await buildTestApp({ listen: true, config: { system: { auto_spawn: true } } });
  });
  afterAll(async () => t?.close());

  it('answers every request the plugin sends as the plugin expects', async () => {
    const saved: Record<string, string> = {};
    for (const req of fixtures.requests as Json[]) {
      for (const before of (req.before ?? []) as Json[])
        await t.request({ method: before.method, url: fill(before.path, saved), body: fill(before.body, saved) });
      const res = await fetch(`${t.url}${fill(req.path, saved)}`, {
        method: req.method,
        headers: { 'x-api-key': 'development-key', ...(req.body ? { 'content-type': 'application/json' } : {}) },
        ...(req.body ? { body: JSON.stringify(fill(req.body, saved)) } : {}),
      });
      const body = (await res.json()) as Json;
      expect(res.status, `${req.name}: ${JSON.stringify(body).slice(0, 200)}`).toBe(req.expect.status);
      for (const key of req.expect.keys ?? []) expect(body, `${req.name} has ${key}`).toHaveProperty(key);
      if (req.expect.exact_keys) expect(Object.keys(body).sort()).toEqual([...req.expect.keys].sort());
      for (const [k, v] of Object.entries(req.expect.values ?? {})) expect(body[k], `${req.name}.${k}`).toEqual(v);
      if (req.expect.error_code) expect(body.error.code).toBe(req.expect.error_code);
      if (req.expect.error_field) expect(body.error.details[0].field).toBe(req.expect.error_field);
      for (const [name, key] of Object.entries(req.save ?? {}) as Array<[string, string]>) saved[name] = body[key];
    }
  });

  it('sends the frames the plugin parses, and answers its client frames', async () => {
    const frames = fixtures.websocket.frames as Json;
    const ws = await WsClient.connect(t.url, { game_id: 'godot-contract' });
    const hello = ws.frames[0]!;
    for (const key of Object.keys(frames.hello)) expect(hello, `hello.${key}`).toHaveProperty(key);
    ws.send(fixtures.websocket.client_frames.ping);
    expect(await ws.waitFor((f) => f.type === 'pong')).toEqual(frames.pong);
    ws.send(fixtures.websocket.client_frames.subscribe);
    await ws.waitFor((f) => f.type === 'subscribed');
    const agent = (
      await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: 'godot-contract' } })
    ).json();
    await t.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: 1, y: 0, z: 2 } });
    const task = (await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'x', agent_id: agent.id } })).json();
    const completed = await ws.waitFor((f) => f.type === 'task.completed' && f.data?.task_id === task.id);
    expect(Object.keys(completed).sort()).toEqual(Object.keys(frames.task_completed).sort());
    expect(Object.keys(completed.data!).sort()).toEqual(Object.keys(frames.task_completed.data).sort());
    const moved = await ws.waitFor((f) => f.type === 'agent.moved');
    expect(Object.keys(moved.data!).sort()).toEqual(Object.keys(frames.agent_moved.data).sort());
    expect(moved.seq).toBeNull();
    await ws.close();
  });
});
