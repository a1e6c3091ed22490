import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';
import { WsClient, type Frame } from '../helpers/ws-client.js';

/**
 * Isolation between games (issue #11): a key bound to game A probes every id of game B on every
 * route with an id in its path. B's resources must look exactly like resources that never
 * existed (404, not 403: no hint that they exist), lists hold A's rows only, nothing can be
 * created in B, and A's WebSocket never carries B's events.
 */

type Json = Record<string, any>;
const A = 'iso-a';
const B = 'iso-b';
const figures = { idRoutes: 0, probes: 0, requests: 0, fiveXX: 0 };

interface World {
  game: string;
  sim: string;
  remote: string;
  done: string;
  queued: string;
  session: string;
}

/** Routes with a path parameter, from the router's printed trees (see security.test.ts for the full matrix). */
function idRoutes(t: TestApp): string[] {
  const found: string[] = [];
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const stack: string[] = [];
    for (const line of t.app.printRoutes({ method }).split('\n')) {
      const m = /^((?:[│ ] {3})*)[├└]── (.*)$/.exec(line);
      if (!m) continue;
      const node = /^(.*) \(([A-Z, ]+)\)$/.exec(m[2]!);
      stack.length = m[1]!.length / 4;
      stack.push(node ? node[1]! : m[2] === '(empty root node)' ? '' : m[2]!);
      const url = stack.join('');
      if (node && node[2]!.split(', ').includes(method) && url.includes('/:')) found.push(`${method} ${url}`);
    }
  }
  return found;
}

describe(`isolation between games (${driver})`, () => {
  let t: TestApp;
  let keyA = '';
  let keyB = '';
  let a: World;
  let b: World;
  let bKeyId = '';

  const as = async (key: string, method: string, url: string, body?: unknown) => {
    const res = await t.request({ method, url, key, ...(body !== undefined ? { body } : {}) });
    figures.requests++;
    if (res.statusCode >= 500) {
      figures.fiveXX++;
      throw new Error(`${method} ${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    }
    return res;
  };
  const admin = (method: string, url: string, body?: unknown) => t.request({ method, url, ...(body !== undefined ? { body } : {}) });

  /** A game built with its own key, the way a game client would. */
  async function world(game: string, key: string): Promise<World> {
    const sim = (await as(key, 'POST', '/agents/create', { agent_type: 'aider', name: `${game}-sim` })).json().id;
    const remote = (await as(key, 'POST', '/agents/create', { agent_type: 'remote', name: `${game}-remote` })).json().id;
    const done = (await as(key, 'POST', '/tasks/assign', { description: `${game} quick job`, agent_id: sim })).json().id;
    const queued = (await as(key, 'POST', '/tasks/assign', { description: `${game} waits`, agent_id: remote })).json().id;
    const session = (await as(key, 'POST', '/game/connect', { game_id: game, engine: 'godot' })).json().session_id;
    expect((await as(key, 'PUT', '/game/scene/lobby', { game_id: game, name: `${game} lobby` })).statusCode).toBe(200);
    expect((await as(key, 'PUT', `/game/scene/only-${game}`, { game_id: game })).statusCode).toBe(200);
    expect((await as(key, 'PUT', `/agents/${sim}/position`, { x: 7, y: 8, z: 9 })).statusCode).toBe(200);
    for (let waited = 0; (await admin('GET', `/tasks/${done}`)).json().status !== 'completed'; waited += 20) {
      if (waited > 15_000) throw new Error(`task ${done} of ${game} did not complete`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { game, sim, remote, done, queued, session };
  }

  beforeAll(async () => {
    t = await buildTestApp({ listen: true });
    keyA = await createKey(t, ['game'], A);
    const bKey = (await admin('POST', '/admin/api-keys', { name: 'iso-b', scopes: ['game'], game_id: B })).json();
    keyB = bKey.key;
    bKeyId = bKey.id;
    [a, b] = await Promise.all([world(A, keyA), world(B, keyB)]);
  });
  afterAll(async () => {
    await t?.close();
    console.log(
      `[security] isolation (${driver}): ${figures.idRoutes} routes with an id probed, ${figures.probes} probes, ${figures.requests} requests, 5xx seen: ${figures.fiveXX}`,
    );
  });

  /** What a game-A key gets for each route with an id: B's id, compared with an id that never existed. */
  type Probe = {
    url: (id: string) => string;
    body?: (id: string) => unknown;
    of: (w: World) => string;
    never: () => string;
    status: number;
  };
  const uuidNever = () => randomUUID();
  const PROBES: Record<string, Probe> = {
    'GET /agents/:agent_id': { url: (id) => `/agents/${id}`, of: (w) => w.sim, never: uuidNever, status: 404 },
    'PATCH /agents/:agent_id': {
      url: (id) => `/agents/${id}`,
      body: () => ({ name: 'hijacked' }),
      of: (w) => w.sim,
      never: uuidNever,
      status: 404,
    },
    'DELETE /agents/:agent_id': { url: (id) => `/agents/${id}`, of: (w) => w.remote, never: uuidNever, status: 404 },
    'PUT /agents/:agent_id/position': {
      url: (id) => `/agents/${id}/position`,
      body: () => ({ x: -1, y: -1, z: -1 }),
      of: (w) => w.sim,
      never: uuidNever,
      status: 404,
    },
    'GET /tasks/:task_id': { url: (id) => `/tasks/${id}`, of: (w) => w.queued, never: uuidNever, status: 404 },
    'GET /tasks/:task_id/status': { url: (id) => `/tasks/${id}/status`, of: (w) => w.done, never: uuidNever, status: 404 },
    'POST /tasks/:task_id/cancel': { url: (id) => `/tasks/${id}/cancel`, of: (w) => w.queued, never: uuidNever, status: 404 },
    'GET /agent/status/:task_id': { url: (id) => `/agent/status/${id}`, of: (w) => w.done, never: uuidNever, status: 404 },
    'POST /agent/cancel/:task_id': { url: (id) => `/agent/cancel/${id}`, of: (w) => w.queued, never: uuidNever, status: 404 },
    'GET /game/agents/:game_id': {
      url: (id) => `/game/agents/${id}`,
      of: (w) => w.game,
      never: () => `never-${randomUUID()}`,
      status: 404,
    },
    'GET /game/scene/:scene_id': {
      url: (id) => `/game/scene/${id}`,
      of: (w) => `only-${w.game}`,
      never: () => `never-${randomUUID()}`,
      status: 404,
    },
    'PUT /game/scene/:scene_id': {
      // B's scene id under B's game_id: refused as a write into another game, whether or not it exists.
      url: (id) => `/game/scene/${id}`,
      body: () => ({ game_id: B, name: 'hijacked' }),
      of: (w) => `only-${w.game}`,
      never: () => `never-${randomUUID().slice(0, 8)}`,
      status: 403,
    },
    'DELETE /admin/api-keys/:key_id': { url: (id) => `/admin/api-keys/${id}`, of: () => bKeyId, never: uuidNever, status: 403 },
    'POST /runtime/tasks/:task_id/heartbeat': {
      url: (id) => `/runtime/tasks/${id}/heartbeat`,
      body: () => ({ lease_token: randomUUID() }),
      of: (w) => w.queued,
      never: uuidNever,
      status: 403,
    },
    'POST /runtime/tasks/:task_id/complete': {
      url: (id) => `/runtime/tasks/${id}/complete`,
      body: () => ({ lease_token: randomUUID() }),
      of: (w) => w.queued,
      never: uuidNever,
      status: 403,
    },
    'POST /runtime/tasks/:task_id/fail': {
      url: (id) => `/runtime/tasks/${id}/fail`,
      body: () => ({ lease_token: randomUUID(), error: 'x' }),
      of: (w) => w.queued,
      never: uuidNever,
      status: 403,
    },
  };

  it('every route with an id answers a game key for another game’s id exactly as for an id that never existed', async () => {
    const routes = idRoutes(t);
    expect(
      routes.filter((r) => !(r in PROBES)),
      'routes with a path id and no isolation probe: add one to PROBES',
    ).toEqual([]);
    figures.idRoutes = routes.length;
    const mismatches: string[] = [];
    for (const [route, probe] of Object.entries(PROBES)) {
      const method = route.split(' ')[0]!;
      const theirs = probe.of(b);
      const never = probe.never();
      const seen = await as(keyA, method, probe.url(theirs), probe.body?.(theirs));
      const unseen = await as(keyA, method, probe.url(never), probe.body?.(never));
      figures.probes++;
      const body = seen.json<Json>();
      const blank = (r: typeof seen, id: string) =>
        JSON.stringify({ ...r.json<Json>().error, message: r.json<Json>().error?.message?.replaceAll(id, '<id>') });
      if (seen.statusCode !== probe.status) mismatches.push(`${route}: ${seen.statusCode} ${seen.body.slice(0, 150)}`);
      else if (seen.statusCode !== unseen.statusCode || blank(seen, theirs) !== blank(unseen, never)) {
        mismatches.push(
          `${route}: B's id → ${seen.statusCode} ${seen.body.slice(0, 150)}; unknown id → ${unseen.statusCode} ${unseen.body.slice(0, 150)}`,
        );
      } else expect(body.error.code).toBe(probe.status === 404 ? 'not_found' : 'forbidden');
      // The same key reaches its own game's resource (so the 404 above is about the game, not the route).
      if (method === 'GET') {
        const own = await as(keyA, method, probe.url(probe.of(a)));
        if (own.statusCode !== 200) mismatches.push(`${route}: own resource → ${own.statusCode} ${own.body.slice(0, 150)}`);
      }
    }
    // B's scene id exists in A too (lobby): A's key sees its own, never B's.
    const lobby = (await as(keyA, 'GET', '/game/scene/lobby')).json();
    expect(lobby).toMatchObject({ game_id: A, name: `${A} lobby` });
    expect((await as(keyA, 'GET', `/game/scene/lobby?game_id=${B}`)).statusCode).toBe(404);
    const disconnect = await as(keyA, 'POST', '/game/disconnect', { session_id: b.session });
    const disconnectNever = await as(keyA, 'POST', '/game/disconnect', { session_id: randomUUID() });
    expect([disconnect.statusCode, disconnectNever.statusCode]).toEqual([404, 404]);
    expect(mismatches).toEqual([]);

    // Nothing of B changed.
    const sim = (await admin('GET', `/agents/${b.sim}`)).json();
    expect(sim).toMatchObject({ name: `${B}-sim`, game_id: B, position: { x: 7, y: 8, z: 9 } });
    expect((await admin('GET', `/agents/${b.remote}`)).statusCode).toBe(200);
    expect((await admin('GET', `/tasks/${b.queued}`)).json().status).toBe('queued');
    expect((await admin('GET', `/game/sessions?game_id=${B}`)).json().items[0]).toMatchObject({
      session_id: b.session,
      status: 'connected',
    });
    expect((await admin('GET', `/game/scene/only-${B}?game_id=${B}`)).json().name).toBeNull();
    expect((await as(keyB, 'GET', '/auth/whoami')).statusCode).toBe(200); // B's key was not revoked
  });

  it('lists hold only the key’s own game, whatever filter asks for another', async () => {
    const onlyA = async (url: string, pick: (body: Json) => Json[], gameOf: (row: Json) => unknown = (r) => r.game_id) => {
      const res = await as(keyA, 'GET', url);
      expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBe(200);
      const rows = pick(res.json());
      for (const row of rows) expect(gameOf(row), `${url} leaks ${JSON.stringify(row).slice(0, 200)}`).toBe(A);
      return rows;
    };
    const items = (body: Json) => body.items as Json[];
    const agentsA = await onlyA('/agents', items);
    expect(agentsA.map((r) => r.id).sort()).toEqual([a.sim, a.remote].sort());
    expect(await onlyA(`/agents?game_id=${B}`, items)).toEqual([]);
    expect((await onlyA('/tasks', items)).map((r) => r.id)).toEqual(expect.arrayContaining([a.done, a.queued]));
    expect(await onlyA(`/tasks?game_id=${B}`, items)).toEqual([]);
    expect(await onlyA(`/tasks?agent_id=${b.sim}`, items)).toEqual([]);
    expect((await onlyA('/game/sessions', items)).map((r) => r.session_id)).toEqual([a.session]);
    expect(await onlyA(`/game/sessions?game_id=${B}`, items)).toEqual([]);
    expect((await onlyA('/game/scenes', items)).map((r) => r.scene_id).sort()).toEqual(['lobby', `only-${A}`]);
    expect(await onlyA(`/game/scenes?game_id=${B}`, items)).toEqual([]);
    expect((await onlyA('/games', items)).map((r) => r.game_id)).toEqual([A]);
    expect((await onlyA(`/game/agents/${A}`, items)).length).toBe(2);
    const events = await onlyA('/events?limit=1000', items);
    expect(events.length).toBeGreaterThan(5);
    expect(await onlyA(`/events?game_id=${B}`, items)).toEqual([]);
    expect(await onlyA(`/events?agent_id=${b.sim}`, items)).toEqual([]);
    expect(await onlyA(`/events?task_id=${b.done}`, items)).toEqual([]);
    const analytics = await onlyA('/analytics/agents', items, (r) => ([a.sim, a.remote].includes(r.agent_id) ? A : r.agent_id));
    expect(analytics.map((r) => r.agent_id)).toContain(a.sim);
    expect(await onlyA(`/analytics/agents?game_id=${B}`, items)).toEqual([]);
    const status = (await as(keyA, 'GET', '/system/status')).json();
    expect(status.agents.total).toBe(2);
    expect((await admin('GET', '/system/status')).json().agents.total).toBe(4);
    // A batch naming B's agent moves A's and reports B's as not found.
    const batch = (
      await as(keyA, 'PUT', '/agents/positions', {
        positions: [
          { agent_id: a.sim, x: 1, y: 1, z: 1 },
          { agent_id: b.sim, x: 0, y: 0, z: 0 },
        ],
      })
    ).json();
    expect(batch).toMatchObject({ updated: 1, not_found: [b.sim] });
    expect((await admin('GET', `/agents/${b.sim}`)).json().position).toEqual({ x: 7, y: 8, z: 9 });
  });

  it('nothing can be created in another game: 403 for its game_id, B’s ids in a body read as unknown', async () => {
    const before = async () =>
      JSON.stringify(
        await Promise.all(
          ['/agents', '/tasks', '/game/sessions', '/game/scenes'].map(
            async (u) => (await admin('GET', `${u}?game_id=${B}`)).json().items.length,
          ),
        ),
      );
    const counts = await before();
    const forbidden: Array<[string, string, Json]> = [
      ['POST', '/agents/create', { agent_type: 'aider', game_id: B }],
      ['POST', '/tasks/assign', { description: 'x', game_id: B }],
      ['POST', '/tasks/collaborative', { description: 'x', team_size: 2, game_id: B }],
      ['POST', '/game/connect', { game_id: B }],
      ['PUT', '/game/scene/new-scene', { game_id: B }],
      ['POST', '/admin/api-keys', { name: 'mine-now', scopes: ['game'], game_id: B }],
      ['POST', '/admin/api-keys', { name: 'mine-now', scopes: ['admin'] }],
    ];
    for (const [method, url, body] of forbidden) {
      const res = await as(keyA, method, url, body);
      figures.probes++;
      expect(res.statusCode, `${method} ${url} ${JSON.stringify(body)}: ${res.body.slice(0, 200)}`).toBe(403);
      expect(res.json().error.code).toBe('forbidden');
    }
    // B's ids inside a body: the same answer as ids that never existed.
    const sameAsUnknown: Array<[string, (id: string) => Json, string]> = [
      ['/tasks/assign', (id) => ({ description: 'x', agent_id: id }), b.remote],
      ['/tasks/assign', (id) => ({ description: 'x', depends_on: [id] }), b.queued],
      ['/tasks/collaborative', (id) => ({ description: 'x', team_size: 2, depends_on: [id] }), b.queued],
    ];
    for (const [url, body, id] of sameAsUnknown) {
      const never = randomUUID();
      const seen = await as(keyA, 'POST', url, body(id));
      const unseen = await as(keyA, 'POST', url, body(never));
      figures.probes++;
      expect(seen.statusCode, `${url}: ${seen.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect([seen.statusCode, seen.json().error.message.replaceAll(id, '<id>')]).toEqual([
        unseen.statusCode,
        unseen.json().error.message.replaceAll(never, '<id>'),
      ]);
    }
    expect(await before()).toBe(counts);
  });

  it('the WebSocket of a game key never carries another game’s events: asking is refused, replay and live are filtered', async () => {
    // Asking for B at connect: an error frame, then close 1008.
    const refused = await new Promise<{ code: number; frames: Json[] }>((resolve, reject) => {
      const socket = new WebSocket(`${t.url.replace('http', 'ws')}/ws?game_id=${B}`, { headers: { 'x-api-key': keyA } });
      const frames: Json[] = [];
      socket.on('message', (raw) => frames.push(JSON.parse(raw.toString()) as Json));
      socket.once('close', (code) => resolve({ code, frames }));
      socket.once('error', reject);
    });
    expect(refused.code).toBe(1008);
    expect(refused.frames.every((f) => f.type === 'error' && f.game_id === undefined)).toBe(true);
    const byQuery = new WebSocket(`${t.url.replace('http', 'ws')}/ws?game_id=${B}&api_key=${keyA}`);
    expect(await new Promise<number>((resolve) => byQuery.once('close', (code) => resolve(code)))).toBe(1008);

    const live = await WsClient.connect(t.url, {}, { 'x-api-key': keyA });
    expect(live.frames[0]).toMatchObject({ type: 'hello', game_id: A });
    live.send({ op: 'subscribe', game_id: B });
    expect(await live.waitFor((f) => f.type === 'error')).toMatchObject({ code: 'forbidden' });
    live.send({ op: 'subscribe', game_id: null, types: '*' });
    expect(await live.waitFor((f) => f.type === 'subscribed')).toMatchObject({ game_id: A });
    const replay = await WsClient.connect(t.url, { since: 0 }, { 'x-api-key': keyA });

    // Activity in B (durable and volatile), then a marker in A.
    await admin('PATCH', `/agents/${b.sim}`, { metadata: { secret: 'b-only' } });
    await as(keyB, 'PUT', `/agents/${b.sim}/position`, { x: 3, y: 3, z: 3 });
    await as(keyB, 'POST', '/tasks/assign', { description: 'b secret work', agent_id: b.sim });
    await admin('POST', '/agents/create', { agent_type: 'aider', game_id: B });
    const marker = (await as(keyA, 'POST', '/agents/create', { agent_type: 'remote', name: 'marker' })).json();
    for (const ws of [live, replay]) {
      await ws.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === marker.id);
      const leaked = ws.frames.filter(
        (f: Frame) => f.game_id === B || JSON.stringify(f).includes(b.sim) || JSON.stringify(f).includes('b-only'),
      );
      expect(leaked).toEqual([]);
      expect(ws.events().every((f) => f.game_id === A)).toBe(true);
      await ws.close();
    }
    // The admin's unfiltered socket does see B (the probe above was not vacuous).
    const adminWs = await WsClient.connect(t.url, { since: 0, game_id: B });
    await adminWs.waitFor((f) => f.type === 'agent.updated' && f.data?.agent.id === b.sim);
    await adminWs.close();
    figures.probes += 4;
  });
});
