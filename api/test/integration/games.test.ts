import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';
import { eventsOf } from '../helpers/fixtures.js';

type Json = Record<string, any>;

describe(`games (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      config: {
        // short, so timeouts show within a test; traffic touches sessions every 500 ms then
        game: { session_timeout_s: 2 },
        system: { auto_spawn: true, min_idle_agents: 2 },
        // aider tasks run for minutes here: an agent that takes one stays busy for the test
        agent_types: { aider: { speed: 500 } },
      },
    });
  });
  afterAll(async () => t?.close());

  it('connects a game: session, ws_url, game.connected, and auto-spawned idle agents', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/game/connect',
      body: { game_id: 'demo', name: 'Demo', engine: 'godot', engine_version: '4.4', scene_id: 'office' },
      headers: { host: 'game.example:8000' },
    });
    expect(res.statusCode).toBe(201);
    const session = res.json();
    expect(session).toMatchObject({
      game_id: 'demo',
      engine: 'godot',
      engine_version: '4.4',
      scene_id: 'office',
      status: 'connected',
      session_timeout_s: 2,
    });
    expect(session.ws_url).toBe('ws://game.example:8000/ws?game_id=demo');
    const events = (await eventsOf(t.app, { type: 'game.connected' })).filter((e) => e.data.session_id === session.session_id);
    expect(events).toHaveLength(1);
    const agents = (await t.request({ method: 'GET', url: '/game/agents/demo' })).json().items;
    expect(agents.filter((a: Json) => a.status === 'idle' && a.agent_type === 'aider')).toHaveLength(2);
    const games = (await t.request({ method: 'GET', url: '/games' })).json().items;
    expect(games.find((g: Json) => g.game_id === 'demo')).toMatchObject({ name: 'Demo', agents: { total: 2, by_status: { idle: 2 } } });
  });

  it('closes a session on request and after the timeout without traffic', async () => {
    const first = (await t.request({ method: 'POST', url: '/game/connect', body: { game_id: 'quiet' } })).json();
    const bye = await t.request({ method: 'POST', url: '/game/disconnect', body: { session_id: first.session_id } });
    expect(bye.json()).toMatchObject({ status: 'disconnected', disconnect_reason: 'client' });
    expect((await t.request({ method: 'POST', url: '/game/disconnect', body: { session_id: first.session_id } })).statusCode).toBe(409);
    const second = (await t.request({ method: 'POST', url: '/game/connect', body: { game_id: 'quiet' } })).json();
    await expect
      .poll(
        async () =>
          (await t.request({ method: 'GET', url: '/game/sessions?game_id=quiet&status=disconnected' }))
            .json()
            .items.map((s: Json) => s.session_id),
        {
          timeout: 10_000,
          interval: 200,
        },
      )
      .toContain(second.session_id);
    const timedOut = (await eventsOf(t.app, { type: 'game.disconnected' })).find((e) => e.data.session_id === second.session_id);
    expect(timedOut!.data.reason).toBe('timeout');
  });

  it('creates and updates scenes; bad bounds name the field', async () => {
    const body = {
      game_id: 'demo',
      name: 'Office',
      bounds: { min: { x: -10, y: 0, z: -10 }, max: { x: 10, y: 5, z: 10 } },
      spawn_points: [{ name: 'door', x: 0, y: 0, z: -9 }],
    };
    const res = await t.request({ method: 'PUT', url: '/game/scene/office', body });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ scene_id: 'office', game_id: 'demo', name: 'Office', spawn_points: [{ name: 'door' }] });
    const renamed = (await t.request({ method: 'PUT', url: '/game/scene/office', body: { game_id: 'demo', name: 'Open office' } })).json();
    expect(renamed).toMatchObject({ name: 'Open office', bounds: body.bounds });
    expect((await eventsOf(t.app, { type: 'game.scene_updated' })).length).toBeGreaterThanOrEqual(2);
    expect((await t.request({ method: 'GET', url: '/game/scene/office?game_id=demo' })).json().name).toBe('Open office');
    expect((await t.request({ method: 'GET', url: '/game/scenes?game_id=demo' })).json().items.map((s: Json) => s.scene_id)).toEqual([
      'office',
    ]);
    const bad = await t.request({
      method: 'PUT',
      url: '/game/scene/office',
      body: { game_id: 'demo', bounds: { min: { x: 5, y: 0, z: 0 }, max: { x: 1, y: 1, z: 1 } } },
    });
    expect(bad.json().error.message).toBe('bounds.min.x: must not exceed bounds.max.x');
    const noGame = await t.request({ method: 'PUT', url: '/game/scene/office', body: { name: 'x' } });
    expect(noGame.json().error.message).toBe('game_id: Required');
  });

  it.runIf(driver === 'postgres')('closes a timed-out session exactly once with several replicas sweeping', async () => {
    const replicas = await Promise.all(
      [1, 2].map(() =>
        buildTestApp({
          databaseUrl: t.databaseUrl!,
          redisPrefix: t.redisPrefix!,
          config: { game: { session_timeout_s: 2 } },
        }),
      ),
    );
    try {
      const session = (await connect({ game_id: 'swept' })).json();
      await expect.poll(() => sessionStatus(session.session_id), { timeout: 10_000, interval: 100 }).toBe('disconnected');
      const events = (await eventsOf(t.app, { type: 'game.disconnected' })).filter((e) => e.data.session_id === session.session_id);
      expect(events).toHaveLength(1);
      expect(events[0]!.data.reason).toBe('timeout');
    } finally {
      await Promise.all(replicas.map((r) => r.app.close()));
    }
  });

  it('isolates games for game keys', async () => {
    const key = await createKey(t, ['game'], 'mine');
    expect((await t.request({ method: 'POST', url: '/game/connect', key, body: { game_id: 'demo' } })).statusCode).toBe(403);
    const own = await t.request({ method: 'POST', url: '/game/connect', key, body: { game_id: 'mine' } });
    expect(own.statusCode).toBe(201);
    expect((await t.request({ method: 'GET', url: '/game/agents/demo', key })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: '/game/scene/office', key })).statusCode).toBe(404);
    expect((await t.request({ method: 'PUT', url: '/game/scene/office', key, body: { game_id: 'demo' } })).statusCode).toBe(403);
    const sessions = (await t.request({ method: 'GET', url: '/game/sessions', key })).json().items;
    expect(sessions.every((s: Json) => s.game_id === 'mine')).toBe(true);
    const games = (await t.request({ method: 'GET', url: '/games', key })).json().items;
    expect(games.map((g: Json) => g.game_id)).toEqual(['mine']);
    const demoSession = (await t.request({ method: 'GET', url: '/game/sessions?game_id=demo' })).json().items[0];
    expect(
      (await t.request({ method: 'POST', url: '/game/disconnect', key, body: { session_id: demoSession.session_id } })).statusCode,
    ).toBe(404);
  });

  const connect = (body: Json, key?: string) => t.request({ method: 'POST', url: '/game/connect', body, ...(key ? { key } : {}) });
  const sessionStatus = async (id: string) =>
    (await t.request({ method: 'GET', url: '/game/sessions?limit=500' })).json().items.find((s: Json) => s.session_id === id)?.status;

  it('keeps a session open while the game sends traffic, and closes it once the traffic stops', async () => {
    const session = (await connect({ game_id: 'alive' })).json();
    const [agent] = (await t.request({ method: 'GET', url: '/game/agents/alive' })).json().items;
    const gameKey = await createKey(t, ['game'], 'alive');
    // Two and a half timeouts' worth of traffic: positions (admin key) and reads with the game's own key.
    const until = Date.now() + 5000;
    for (let i = 0; Date.now() < until; i++) {
      const res =
        i % 2 === 0
          ? await t.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: i, y: 0, z: 0 } })
          : await t.request({ method: 'GET', url: '/agents', key: gameKey });
      expect(res.statusCode).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 150)); // pacing, not an assertion
    }
    expect(await sessionStatus(session.session_id)).toBe('connected');
    // Someone watching the game (a query filter) is not the game's traffic.
    await expect
      .poll(async () => (await t.request({ method: 'GET', url: '/game/sessions?game_id=alive' })).json().items[0].status, {
        timeout: 10_000,
        interval: 100,
      })
      .toBe('disconnected');
    const closed = (await t.request({ method: 'GET', url: '/game/sessions?game_id=alive' })).json().items[0];
    expect(closed.disconnect_reason).toBe('timeout');
    const events = (await eventsOf(t.app, { type: 'game.disconnected' })).filter((e) => e.data.session_id === session.session_id);
    expect(events).toHaveLength(1); // closed once
  });

  it('auto-spawns exactly min_idle_agents under concurrent connects, and tops up when agents leave idle', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => connect({ game_id: 'rush' })));
    expect(results.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
    const agentsOf = async () => (await t.request({ method: 'GET', url: '/game/agents/rush' })).json().items as Json[];
    const idle = async () => (await agentsOf()).filter((a) => a.status === 'idle');
    expect(await agentsOf()).toHaveLength(2);
    expect((await idle()).map((a) => a.metadata.spawned_by)).toEqual(['auto_spawn', 'auto_spawn']);

    // One takes a (long) task: it leaves idle, and a new idle agent joins.
    const [worker] = await agentsOf();
    await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'long job', agent_id: worker!.id } });
    await expect.poll(async () => (await agentsOf()).find((a) => a.id === worker!.id)!.status, { timeout: 10_000 }).toBe('busy');
    await expect.poll(async () => (await idle()).length, { timeout: 10_000 }).toBe(2);
    expect(await agentsOf()).toHaveLength(3);

    // One is deleted: topped up again.
    const [gone] = await idle();
    expect((await t.request({ method: 'DELETE', url: `/agents/${gone!.id}` })).statusCode).toBe(204);
    await expect.poll(async () => (await idle()).length, { timeout: 10_000 }).toBe(2);
    expect(await agentsOf()).toHaveLength(3);
  });

  it('validates connect, disconnect and scene bodies, naming the field', async () => {
    const cases: Array<[string, string, Json, string]> = [
      ['POST', '/game/connect', {}, 'game_id: Required'],
      [
        'POST',
        '/game/connect',
        { game_id: 'has space' },
        'game_id: letters, digits, ".", "_", ":" and "-" only, starting with a letter or digit',
      ],
      ['POST', '/game/connect', { game_id: 'g', players: 4 }, 'players: unknown field'],
      ['POST', '/game/connect', { game_id: 'g', engine: 42 }, 'engine: expected string, received number'],
      ['POST', '/game/connect', { game_id: 'g', metadata: { blob: 'x'.repeat(17_000) } }, 'metadata: must be at most 16384 bytes as JSON'],
      ['POST', '/game/disconnect', { session_id: 'abc' }, 'session_id: must be a UUID'],
      ['POST', '/game/disconnect', {}, 'session_id: Required'],
      ['PUT', '/game/scene/office', { game_id: 'demo', spawn_points: [{ x: 1, y: 2 }] }, 'spawn_points.0.z: Required'],
      ['PUT', '/game/scene/bad%20id', { game_id: 'demo' }, 'scene_id: letters, digits, ".", "_", ":", "/" and "-" only'],
    ];
    for (const [method, url, body, message] of cases) {
      const res = await t.request({ method, url, body });
      expect(res.statusCode, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(res.json().error.message).toBe(message);
    }
    const unknown = await t.request({
      method: 'POST',
      url: '/game/disconnect',
      body: { session_id: '01900000-0000-7000-8000-000000000000' },
    });
    expect(unknown.statusCode).toBe(404);
    const big = await t.app.inject({
      method: 'POST',
      url: '/game/connect',
      headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
      payload: JSON.stringify({ game_id: 'g', metadata: { blob: 'x'.repeat(1_100_000) } }),
    });
    expect(big.statusCode).toBe(413);
  });

  it('lets read keys list sessions and games but not change them', async () => {
    const readKey = await createKey(t, ['read']);
    expect((await t.request({ method: 'GET', url: '/game/sessions', key: readKey })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/games', key: readKey })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/game/agents/demo', key: readKey })).statusCode).toBe(200);
    expect((await connect({ game_id: 'demo' }, readKey)).statusCode).toBe(403);
    expect((await t.request({ method: 'PUT', url: '/game/scene/x', key: readKey, body: { game_id: 'demo' } })).statusCode).toBe(403);
    const open = (await t.request({ method: 'GET', url: '/game/sessions?status=connected' })).json().items;
    for (const s of open) expect(s.status).toBe('connected');
    const page = (await t.request({ method: 'GET', url: '/game/sessions?limit=1' })).json();
    expect(page.items).toHaveLength(1);
    const next = (await t.request({ method: 'GET', url: `/game/sessions?limit=1&cursor=${page.next_cursor}` })).json();
    expect(next.items[0].session_id < page.items[0].session_id).toBe(true); // newest first
  });
});
