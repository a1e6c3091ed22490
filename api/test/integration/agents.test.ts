import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';
import { eventsOf } from '../helpers/fixtures.js';

type Json = Record<string, any>;

describe(`agents (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ config: { system: { max_agents: 60 } } });
  });
  afterAll(async () => t?.close());

  const create = (body: Json, key?: string) => t.request({ method: 'POST', url: '/agents/create', body, ...(key ? { key } : {}) });

  it('creates an agent with the type’s defaults and writes agent.created in the same transaction', async () => {
    const res = await create({ agent_type: 'aider', game_id: 'g1', name: 'Ada', position: { x: 1, y: 2, z: 3 } });
    expect(res.statusCode).toBe(201);
    const agent = res.json();
    expect(agent).toMatchObject({
      name: 'Ada',
      agent_type: 'aider',
      status: 'idle',
      activity: null,
      game_id: 'g1',
      position: { x: 1, y: 2, z: 3 },
      rotation_y: 0,
      personality: 'steady',
      capabilities: t.config.agent_types.aider!.capabilities,
      tasks_completed: 0,
      version: 1,
    });
    expect(agent.id).toMatch(/^[0-9a-f-]{36}$/);
    const events = await eventsOf(t.app, { agentId: agent.id, type: 'agent.created' });
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual({ agent }); // field by field (built in SQL on Postgres)
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toEqual(agent);
    const external = (await create({ agent_type: 'remote', game_id: 'g1' })).json();
    expect(external.status).toBe('offline'); // until its runtime claims
    expect(external.name).toMatch(/^remote-/);
  });

  it('rejects bad input with a 400 naming the field, and writes nothing', async () => {
    const before = (await t.request({ method: 'GET', url: '/agents?limit=500' })).json().items.length;
    const cases: Array<[Json, string, RegExp?]> = [
      [{}, 'agent_type', /Required/],
      [{ agent_type: 'gpt' }, 'agent_type', /configured types: aider, opencode, claude, custom, remote/],
      [{ agent_type: 'aider', name: '' }, 'name'],
      [{ agent_type: 'aider', name: 'x'.repeat(65) }, 'name'],
      [{ agent_type: 'aider', position: { x: 1, y: 2 } }, 'position.z', /Required/],
      [{ agent_type: 'aider', position: { x: '1', y: 2, z: 3 } }, 'position.x'],
      [{ agent_type: 'aider', personality: 'grumpy' }, 'personality'],
      [{ agent_type: 'aider', metadata: { blob: 'x'.repeat(17 * 1024) } }, 'metadata', /16384 bytes/],
      [{ agent_type: 'aider', colour: 'red' }, 'colour', /unknown field/],
      [{ agent_type: 'aider', capabilities: 'code' }, 'capabilities'],
    ];
    for (const [body, field, message] of cases) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      const error = res.json().error;
      expect(error.code).toBe('validation_failed');
      expect(error.message.startsWith(`${field}:`), error.message).toBe(true);
      if (message) expect(error.message).toMatch(message);
    }
    // JSON cannot carry NaN or Infinity; a number out of float range arrives as Infinity
    const inf = await t.app.inject({
      method: 'POST',
      url: '/agents/create',
      headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
      payload: '{"agent_type":"aider","position":{"x":1e999,"y":0,"z":0}}',
    });
    expect(inf.statusCode).toBe(400);
    expect(inf.json().error.message).toMatch(/^position\.x:/);
    expect((await t.request({ method: 'GET', url: '/agents?limit=500' })).json().items.length).toBe(before);
    expect((await t.request({ method: 'GET', url: '/agents/not-a-uuid' })).json().error.message).toBe('agent_id: must be a UUID');
    expect((await t.request({ method: 'GET', url: '/agents/01900000-0000-7000-8000-000000000000' })).statusCode).toBe(404);
  });

  it('lists with filters and keyset pagination', async () => {
    for (let i = 0; i < 5; i++) await create({ agent_type: i % 2 ? 'claude' : 'opencode', game_id: 'g-list' });
    const page1 = (await t.request({ method: 'GET', url: '/agents?game_id=g-list&limit=2' })).json();
    expect(page1.items).toHaveLength(2);
    const page2 = (await t.request({ method: 'GET', url: `/agents?game_id=g-list&limit=2&cursor=${page1.next_cursor}` })).json();
    const page3 = (await t.request({ method: 'GET', url: `/agents?game_id=g-list&limit=2&cursor=${page2.next_cursor}` })).json();
    const ids = [...page1.items, ...page2.items, ...page3.items].map((a: Json) => a.id);
    expect(new Set(ids).size).toBe(5);
    expect(page3.next_cursor).toBeNull();
    const claudes = (await t.request({ method: 'GET', url: '/agents?game_id=g-list&agent_type=claude' })).json().items;
    expect(claudes.map((a: Json) => a.agent_type)).toEqual(['claude', 'claude']);
    expect((await t.request({ method: 'GET', url: '/agents?limit=501' })).json().error.message).toMatch(/^limit:/);
    expect((await t.request({ method: 'GET', url: '/agents?status=sleeping' })).json().error.message).toMatch(/^status:/);
    const game = (await t.request({ method: 'GET', url: '/game/agents/g-list' })).json();
    expect(game.items).toHaveLength(5);
  });

  it('patches fields, bumps the version and emits agent.updated', async () => {
    const agent = (await create({ agent_type: 'aider', game_id: 'g-patch' })).json();
    const res = await t.request({
      method: 'PATCH',
      url: `/agents/${agent.id}`,
      body: { name: 'Grace', capabilities: ['code', 'rust'], metadata: { team: 'blue' } },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: 'Grace', capabilities: ['code', 'rust'], metadata: { team: 'blue' }, version: 2 });
    const updated = await eventsOf(t.app, { agentId: agent.id, type: 'agent.updated' });
    expect((updated[0]!.data as Json).changed.sort()).toEqual(['capabilities', 'metadata', 'name']);
    expect((await t.request({ method: 'PATCH', url: `/agents/${agent.id}`, body: {} })).statusCode).toBe(400);
    expect((await t.request({ method: 'PATCH', url: `/agents/${agent.id}`, body: { status: 'busy' } })).json().error.message).toMatch(
      /^status: unknown field/,
    );
  });

  it('answers a PATCH with the agent GET returns, and agent.updated carries the same agent, field by field', async () => {
    // On Postgres the update and its event are one statement whose agent is built in SQL
    // (agentvm_agent_json); here both must equal toAgentDto's, for values that are easy to get wrong.
    const agent = (
      await create({
        agent_type: 'remote',
        game_id: 'g-same',
        name: 'Ünï "quoted" \\ name',
        capabilities: ['a,b', 'c"d', 'a,b'],
        scene_id: 'hall/1',
        rotation_y: -0.5,
        metadata: { n: 5e-324, s: 'ключ', deep: [{ x: null }] },
        position: { x: 0.1 + 0.2, y: -1e-7, z: 123456789.123 },
      })
    ).json();
    expect(agent).toMatchObject({ name: 'Ünï "quoted" \\ name', capabilities: ['a,b', 'c"d'], scene_id: 'hall/1', rotation_y: -0.5 });
    expect((await eventsOf(t.app, { agentId: agent.id, type: 'agent.created' }))[0]!.data).toEqual({ agent });
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toEqual(agent);
    await t.app.database.db.execute(
      sql`update agents set activity = 'thinking', activity_detail = 'a "quoted" plan', current_task_id = null,
        last_seen_at = '2026-01-02T03:04:05.678901Z', rotation_y = 1.5707963267948966 where id = ${agent.id}::uuid`,
    );
    const bodies: Json[] = [
      { name: 'Zoë "the" builder', capabilities: ['code', 'code', 'say "hi", twice', 'ü\\n'], personality: 'perfectionist' },
      { scene_id: 'castle/keep', metadata: { a: [1, 2.5, { b: null }], ключ: 'значение', big: 1e21, tiny: 5e-324, t: true } },
      { scene_id: null, metadata: {} },
    ];
    for (const body of bodies) {
      const res = await t.request({ method: 'PATCH', url: `/agents/${agent.id}`, body });
      expect(res.statusCode, JSON.stringify(body)).toBe(200);
      const patched = res.json();
      expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toEqual(patched);
      const events = await eventsOf(t.app, { agentId: agent.id, type: 'agent.updated' });
      expect(events.at(-1)!.data).toEqual({ agent: patched, changed: Object.keys(body) });
    }
    const last = (await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json();
    expect(last).toMatchObject({
      name: 'Zoë "the" builder',
      capabilities: ['code', 'say "hi", twice', 'ü\\n'],
      scene_id: null,
      metadata: {},
      activity: 'thinking',
      last_seen_at: '2026-01-02T03:04:05.678Z',
      position: { x: 0.1 + 0.2, y: -1e-7, z: 123456789.123 },
      rotation_y: 1.5707963267948966,
      version: 4,
    });

    // A move this replica accepted and has not flushed yet is in the answer and in the event.
    expect(
      (await t.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: 7.25, y: 8, z: -9, rotation_y: 0.5 } })).statusCode,
    ).toBe(200);
    const moved = (await t.request({ method: 'PATCH', url: `/agents/${agent.id}`, body: { name: 'Mover' } })).json();
    expect(moved).toMatchObject({ name: 'Mover', position: { x: 7.25, y: 8, z: -9 }, rotation_y: 0.5, version: 5 });
    expect((await eventsOf(t.app, { agentId: agent.id, type: 'agent.updated' })).at(-1)!.data).toEqual({ agent: moved, changed: ['name'] });
    // (The 100 ms flush may write the position meanwhile, and with it updated_at.)
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toEqual({ ...moved, updated_at: expect.any(String) });

    // A game key patching another game's agent, or a missing one: 404, and nothing written.
    const key = await createKey(t, ['game'], 'g-other');
    const before = (await eventsOf(t.app, { agentId: agent.id })).length;
    const denied = await t.request({ method: 'PATCH', url: `/agents/${agent.id}`, key, body: { name: 'Thief' } });
    expect(denied.statusCode).toBe(404);
    expect(denied.json().error).toMatchObject({ code: 'not_found', message: `agent ${agent.id} not found` });
    const missing = '0190a000-0000-7000-8000-000000000000';
    expect((await t.request({ method: 'PATCH', url: `/agents/${missing}`, body: { name: 'Nobody' } })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toMatchObject({ name: 'Mover', version: 5 });
    expect(await eventsOf(t.app, { agentId: agent.id })).toHaveLength(before);
    expect(await eventsOf(t.app, { agentId: missing })).toHaveLength(0);
  });

  it('deletes an agent and cancels its open tasks with reason agent_deleted', async () => {
    const agent = (await create({ agent_type: 'remote', game_id: 'g-del' })).json();
    const task = (
      await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'pending work', agent_id: agent.id } })
    ).json();
    expect((await t.request({ method: 'DELETE', url: `/agents/${agent.id}` })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).statusCode).toBe(404);
    const after = (await t.request({ method: 'GET', url: `/tasks/${task.id}` })).json();
    expect(after.status).toBe('cancelled');
    expect(after.error.reason).toBe('agent_deleted');
    const types = (await eventsOf(t.app, { agentId: agent.id })).map((e) => e.type);
    expect(types).toContain('agent.deleted');
    expect((await eventsOf(t.app, { taskId: task.id, type: 'task.cancelled' }))[0]!.data.reason).toBe('agent_deleted');
    expect((await t.request({ method: 'DELETE', url: `/agents/${agent.id}` })).statusCode).toBe(404);
  });

  it('isolates games: a game key sees 404 for other games and cannot create there', async () => {
    const other = (await create({ agent_type: 'aider', game_id: 'iso-b' })).json();
    const key = await createKey(t, ['game'], 'iso-a');
    const own = await create({ agent_type: 'aider' }, key);
    expect(own.statusCode).toBe(201);
    expect(own.json().game_id).toBe('iso-a');
    expect((await create({ agent_type: 'aider', game_id: 'iso-b' }, key)).statusCode).toBe(403);
    for (const [method, url, body] of [
      ['GET', `/agents/${other.id}`, undefined],
      ['PATCH', `/agents/${other.id}`, { name: 'x' }],
      ['DELETE', `/agents/${other.id}`, undefined],
      ['PUT', `/agents/${other.id}/position`, { x: 1, y: 1, z: 1 }],
      ['GET', '/game/agents/iso-b', undefined],
      ['GET', '/game/scene/lobby?game_id=iso-b', undefined],
    ] as const) {
      const res = await t.request({ method, url, key, ...(body ? { body } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.body).not.toContain('iso-b"'); // no hint it exists beyond the id asked for
    }
    const listed = (await t.request({ method: 'GET', url: '/agents?limit=500', key })).json().items;
    expect(listed.every((a: Json) => a.game_id === 'iso-a')).toBe(true);
    expect((await t.request({ method: 'GET', url: '/agents?game_id=iso-b', key })).json().items).toEqual([]);
    const batch = (
      await t.request({ method: 'PUT', url: '/agents/positions', key, body: { positions: [{ agent_id: other.id, x: 1, y: 1, z: 1 }] } })
    ).json();
    expect(batch).toEqual({ updated: 0, not_found: [other.id] });
    const readKey = await createKey(t, ['read']);
    expect((await create({ agent_type: 'aider' }, readKey)).statusCode).toBe(403);
    expect((await t.request({ method: 'GET', url: '/agents', key: readKey })).statusCode).toBe(200);
  });

  it('answers 401 without a valid key and 403 for a key without the scope, on every route', async () => {
    const agent = (await create({ agent_type: 'aider', game_id: 'g-scope' })).json();
    const readKey = await createKey(t, ['read']);
    const runtimeKey = await createKey(t, ['runtime']);
    const writes = [
      ['POST', '/agents/create', { agent_type: 'aider' }],
      ['PATCH', `/agents/${agent.id}`, { name: 'x' }],
      ['DELETE', `/agents/${agent.id}`, undefined],
      ['PUT', `/agents/${agent.id}/position`, { x: 1, y: 1, z: 1 }],
      ['PUT', '/agents/positions', { positions: [{ agent_id: agent.id, x: 1, y: 1, z: 1 }] }],
    ] as const;
    for (const [method, url, body] of writes) {
      for (const key of [readKey, runtimeKey]) {
        const res = await t.request({ method, url, key, ...(body ? { body } : {}) });
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json().error.code).toBe('forbidden');
        expect(res.json().error.message).toMatch(/needs an admin or game key/);
      }
      expect((await t.request({ method, url, key: null, ...(body ? { body } : {}) })).statusCode).toBe(401);
      expect((await t.request({ method, url, key: 'not-a-key', ...(body ? { body } : {}) })).statusCode).toBe(401);
    }
    for (const url of [`/agents/${agent.id}`, '/agents', '/game/agents/g-scope']) {
      expect((await t.request({ method: 'GET', url, key: readKey })).statusCode, url).toBe(200);
      expect((await t.request({ method: 'GET', url, key: null })).statusCode, url).toBe(401);
    }
    // nothing changed
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toMatchObject({
      name: agent.name,
      position: agent.position,
    });
  });

  it('names a malformed agent id and a missing or non-object body', async () => {
    for (const [method, url, body] of [
      ['GET', '/agents/not-a-uuid', undefined],
      ['PATCH', '/agents/not-a-uuid', { name: 'x' }],
      ['DELETE', '/agents/not-a-uuid', undefined],
      ['PUT', '/agents/not-a-uuid/position', { x: 1, y: 1, z: 1 }],
      ['GET', '/agents/01900000-0000-7000-8000-00000000000', undefined], // one digit short
    ] as const) {
      const res = await t.request({ method, url, ...(body ? { body } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(400);
      expect(res.json().error.message).toBe('agent_id: must be a UUID');
    }
    // refused by the router itself, still in the contract's shape, without echoing the path
    for (const url of [`/agents/${'a'.repeat(5000)}`, '/agents/%E0%A4%A']) {
      const res = await t.request({ method: 'GET', url });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'validation_failed', message: expect.stringMatching(/^path: /) } });
      expect(res.body.length).toBeLessThan(300);
      expect(res.headers['x-request-id']).toBe(res.json().request_id);
    }
    const batch = await t.request({ method: 'PUT', url: '/agents/positions', body: { positions: [{ agent_id: 'x', x: 1, y: 1, z: 1 }] } });
    expect(batch.json().error.message).toBe('positions.0.agent_id: must be a UUID');
    const noBody = await t.app.inject({ method: 'POST', url: '/agents/create', headers: { 'x-api-key': 'development-key' } });
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().error.message).toMatch(/^\(body\): Required/);
    for (const payload of ['[]', '"aider"', '42', 'null']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/agents/create',
        headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    const broken = await t.app.inject({
      method: 'POST',
      url: '/agents/create',
      headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
      payload: '{"agent_type": "aider",',
    });
    expect(broken.statusCode).toBe(400);
  });

  it('deletes an agent mid-task: every open task is cancelled in the same transaction as agent.deleted', async () => {
    const agent = (await create({ agent_type: 'remote', game_id: 'g-del2' })).json();
    const assign = async (description: string) =>
      (await t.request({ method: 'POST', url: '/tasks/assign', body: { description, agent_id: agent.id } })).json();
    const first = await assign('claimed work');
    const second = await assign('queued work');
    const claim = await t.request({ method: 'POST', url: '/runtime/claim', body: { agent_id: agent.id } });
    expect(claim.statusCode).toBe(200);
    expect(claim.json().task.id).toBe(first.id);
    expect((await t.request({ method: 'DELETE', url: `/agents/${agent.id}` })).statusCode).toBe(204);
    for (const task of [first, second]) {
      const after = (await t.request({ method: 'GET', url: `/tasks/${task.id}` })).json();
      expect(after).toMatchObject({ status: 'cancelled', error: { reason: 'agent_deleted' } });
    }
    // One transaction: its events got consecutive seqs (the outbox appends them together),
    // the cancellations before the deletion, nothing else in between.
    const deleted = (await eventsOf(t.app, { agentId: agent.id, type: 'agent.deleted' }))[0]!;
    const cancelled = [
      ...(await eventsOf(t.app, { taskId: first.id, type: 'task.cancelled' })),
      ...(await eventsOf(t.app, { taskId: second.id, type: 'task.cancelled' })),
    ].map((e) => Number(e.seq));
    expect(cancelled).toHaveLength(2);
    const from = Math.min(...cancelled);
    expect(Math.max(...cancelled)).toBeLessThan(Number(deleted.seq));
    const between = (await eventsOf(t.app)).filter((e) => Number(e.seq) >= from && Number(e.seq) <= Number(deleted.seq));
    expect(between.map((e) => Number(e.seq))).toEqual(Array.from({ length: Number(deleted.seq) - from + 1 }, (_, i) => from + i));
    for (const e of between) expect(e.agentId === agent.id || e.taskId === first.id || e.taskId === second.id, e.type).toBe(true);
    // the runtime that held the lease can no longer report
    const late = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${first.id}/complete`,
      body: { lease_token: claim.json().lease.token, result: {} },
    });
    expect(late.statusCode).toBe(409);
  });

  it('enforces system.max_agents with 409 limit_reached; defaults come from the type’s configuration', async () => {
    const t2 = await buildTestApp({
      config: {
        system: { max_agents: 3 },
        agent_types: { custom: { default_personality: 'ambitious', capabilities: ['art', 'art', 'sound'] } },
      },
    });
    try {
      const custom = (await t2.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'custom' } })).json();
      expect(custom).toMatchObject({ personality: 'ambitious', capabilities: ['art', 'sound'] });
      expect((await t2.request({ method: 'DELETE', url: `/agents/${custom.id}` })).statusCode).toBe(204);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => t2.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } })),
      );
      expect(results.filter((r) => r.statusCode === 201)).toHaveLength(3);
      const rejected = results.filter((r) => r.statusCode === 409);
      expect(rejected).toHaveLength(17);
      expect(rejected[0]!.json().error.code).toBe('limit_reached');
      expect(rejected[0]!.json().error.message).toMatch(/system\.max_agents \(3\)/);
      // deleting one makes room again
      const one = results.find((r) => r.statusCode === 201)!.json();
      expect((await t2.request({ method: 'DELETE', url: `/agents/${one.id}` })).statusCode).toBe(204);
      expect((await t2.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } })).statusCode).toBe(201);
      expect((await t2.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } })).statusCode).toBe(409);
    } finally {
      await t2.close();
    }
  });

  it('rejects an oversize body with 413', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/agents/create',
      headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
      payload: JSON.stringify({ agent_type: 'aider', metadata: { blob: 'x'.repeat(1_100_000) } }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
  });
});
