import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { batchPositionsBody, positionBody } from '../../src/contract/agents.js';
import { openDatabase } from '../../src/db/client.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTestApp, driver, type TestApp, type TestAppOptions } from '../helpers/build-app.js';

type Json = Record<string, any>;

/**
 * An app whose periodic flush never fires: its timers are created under a fake setInterval
 * (which nobody advances), so positions reach the database only when the test or the shutdown
 * flushes — however slow the machine. (The app's other periodic jobs sleep too; these tests
 * need none of them.)
 */
async function buildWithoutFlushTimer(options: TestAppOptions): Promise<TestApp> {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  try {
    return await buildTestApp(options);
  } finally {
    vi.useRealTimers();
  }
}

describe(`positions (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ config: { positions: { flush_interval_ms: 50 } } });
  });
  afterAll(async () => t?.close());

  const create = async (game = 'g-pos') =>
    (await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: game } })).json() as Json;
  const stored = async (id: string) =>
    (
      await t.app.database.rows<{ x: number; y: number; z: number; rotation_y: number; scene_id: string | null }>(
        sql`select x, y, z, rotation_y, scene_id from agents where id = ${id}`,
      )
    )[0]!;

  it('accepts a position, answers with it, publishes agent.moved at once, and reads see it before the flush', async () => {
    const agent = await create();
    const moved: Json[] = [];
    const off = t.app.bus.subscribe('volatile', (m) => {
      for (const line of m.split('\n')) if (line.includes('agent.moved')) moved.push(JSON.parse(line));
    });
    const res = await t.request({
      method: 'PUT',
      url: `/agents/${agent.id}/position`,
      body: { x: 1.5, y: 0, z: -2, rotation_y: 90, scene_id: 'lobby' },
    });
    await expect.poll(() => moved.length).toBe(1); // through Redis on the postgres driver
    off();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ agent_id: agent.id, position: { x: 1.5, y: 0, z: -2 }, rotation_y: 90, scene_id: 'lobby' });
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({
      seq: null,
      type: 'agent.moved',
      game_id: 'g-pos',
      data: { agent_id: agent.id, position: { x: 1.5, y: 0, z: -2 } },
    });
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toMatchObject({
      position: { x: 1.5, y: 0, z: -2 },
      rotation_y: 90,
      scene_id: 'lobby',
    });
    await expect.poll(async () => (await stored(agent.id)).x).toBe(1.5);
    expect(await stored(agent.id)).toEqual({ x: 1.5, y: 0, z: -2, rotation_y: 90, scene_id: 'lobby' });
    // a later position without scene keeps the scene and rotation
    const next = (await t.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: 2, y: 0, z: 0 } })).json();
    expect(next).toMatchObject({ rotation_y: 90, scene_id: 'lobby' });
  });

  it('rejects non-finite or non-numeric coordinates and unknown agents', async () => {
    const agent = await create();
    for (const body of [
      { x: '1', y: 0, z: 0 },
      { x: 1, y: 0 },
      { x: 1, y: 0, z: 0, w: 1 },
      { x: null, y: 0, z: 0 },
    ]) {
      const res = await t.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    const nan = await t.app.inject({
      method: 'PUT',
      url: `/agents/${agent.id}/position`,
      headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
      payload: '{"x":NaN,"y":0,"z":0}',
    });
    expect(nan.statusCode).toBe(400);
    expect(
      (await t.request({ method: 'PUT', url: '/agents/01900000-0000-7000-8000-000000000000/position', body: { x: 1, y: 1, z: 1 } }))
        .statusCode,
    ).toBe(404);
  });

  it('ends at the last write under concurrent writers, and the batch endpoint writes many in one call', async () => {
    const agents = await Promise.all([1, 2, 3, 4].map(() => create('g-race')));
    // Many concurrent writers per agent; the final write of each agent is sent alone, last.
    await Promise.all(
      agents.flatMap((a) =>
        Array.from({ length: 25 }, (_, i) => t.request({ method: 'PUT', url: `/agents/${a.id}/position`, body: { x: i, y: i, z: i } })),
      ),
    );
    await Promise.all(
      agents.map((a, n) => t.request({ method: 'PUT', url: `/agents/${a.id}/position`, body: { x: 1000 + n, y: 0, z: 0 } })),
    );
    for (const [n, a] of agents.entries()) await expect.poll(async () => (await stored(a.id)).x).toBe(1000 + n);

    const batch = await t.request({
      method: 'PUT',
      url: '/agents/positions',
      body: {
        positions: [
          ...agents.map((a, n) => ({ agent_id: a.id, x: n, y: 1, z: 2, rotation_y: 45 })),
          { agent_id: '01900000-0000-7000-8000-000000000000', x: 0, y: 0, z: 0 },
        ],
      },
    });
    expect(batch.json()).toEqual({ updated: 4, not_found: ['01900000-0000-7000-8000-000000000000'] });
    for (const [n, a] of agents.entries()) await expect.poll(async () => (await stored(a.id)).x).toBe(n);
    const tooMany = await t.request({
      method: 'PUT',
      url: '/agents/positions',
      body: { positions: Array.from({ length: 1001 }, () => ({ agent_id: agents[0]!.id, x: 0, y: 0, z: 0 })) },
    });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.message).toMatch(/^positions: at most 1000/);
  });

  it('checks plainly valid position bodies by hand and sends the rest to zod (same answers)', async () => {
    const agents = await Promise.all([1, 2].map(() => create('g-fast')));
    const single = vi.spyOn(positionBody, 'safeParse');
    const batch = vi.spyOn(batchPositionsBody, 'safeParse');
    try {
      const moved = await t.request({ method: 'PUT', url: `/agents/${agents[0]!.id}/position`, body: { x: 1, y: 2, z: 3, scene_id: 's' } });
      expect(moved.statusCode).toBe(200);
      const many = await t.request({
        method: 'PUT',
        url: '/agents/positions',
        body: { positions: agents.map((a, n) => ({ agent_id: a.id, x: n, y: 0, z: 0, rotation_y: 10 })) },
      });
      expect(many.json()).toEqual({ updated: 2, not_found: [] });
      expect(single).not.toHaveBeenCalled();
      expect(batch).not.toHaveBeenCalled();
      // Anything the hand check does not plainly take is zod's to judge and word.
      const bad = await t.request({
        method: 'PUT',
        url: '/agents/positions',
        body: { positions: [{ agent_id: agents[0]!.id, x: 0, y: 0, z: 0, w: 1 }] },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.details).toEqual([{ field: 'positions.0.w', message: 'unknown field' }]);
      expect(batch).toHaveBeenCalledTimes(1);
      const bad1 = await t.request({ method: 'PUT', url: `/agents/${agents[0]!.id}/position`, body: { x: 1, y: 2, z: 3, scene_id: '' } });
      expect(bad1.statusCode).toBe(400);
      expect(bad1.json().error.details[0].field).toBe('scene_id');
      expect(single).toHaveBeenCalledTimes(1);
    } finally {
      single.mockRestore();
      batch.mockRestore();
    }
  });

  it('flushes pending positions on graceful shutdown', async () => {
    // A file-backed PGlite (or a Postgres database) we can reopen after the app closed.
    const dataDir = mkdtempSync(join(tmpdir(), 'agentvm-pos-'));
    const t2 = await buildWithoutFlushTimer({ config: { database: { data_dir: dataDir } } });
    const agent = (await t2.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } })).json();
    await t2.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: 42, y: 43, z: 44 } });
    const before = (await t2.app.database.rows<{ x: number }>(sql`select x from agents where id = ${agent.id}`))[0]!.x;
    expect(before).toBe(0); // not flushed yet
    await t2.app.close(); // flushes, then closes the database
    const reopened = await openDatabase({ url: t2.databaseUrl, poolSize: 1, dataDir, statementTimeoutMs: 5000 });
    try {
      const rows = await reopened.rows<{ x: number; y: number; z: number }>(sql`select x, y, z from agents where id = ${agent.id}`);
      expect(rows[0]).toEqual({ x: 42, y: 43, z: 44 });
    } finally {
      await reopened.close();
      await t2.close().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('keeps every position it answered 200 to while shutting down (flushed after the last request, before the database closes)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agentvm-pos-'));
    const t2 = await buildTestApp({ listen: true, config: { positions: { flush_interval_ms: 10_000 }, database: { data_dir: dataDir } } });
    try {
      const agent = (await t2.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } })).json();
      let lastAccepted = -1;
      // A game moving its NPC as fast as it can, while the service is told to stop. A new
      // connection per request: a keep-alive socket would hold the server's drain open.
      const { port } = new URL(t2.url);
      const put = (x: number) =>
        new Promise<number>((resolve) => {
          const body = JSON.stringify({ x, y: 0, z: 0 });
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port,
              method: 'PUT',
              path: `/agents/${agent.id}/position`,
              agent: false,
              headers: { 'x-api-key': 'development-key', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', () => resolve(0));
          req.end(body);
        });
      const mover = (async () => {
        for (let x = 0; ; x++) {
          if ((await put(x)) !== 200) return;
          lastAccepted = x;
        }
      })();
      await expect.poll(() => lastAccepted, { timeout: 10_000 }).toBeGreaterThan(20);
      await t2.app.close();
      await mover;
      const reopened = await openDatabase({ url: t2.databaseUrl, poolSize: 1, dataDir, statementTimeoutMs: 5000 });
      try {
        const rows = await reopened.rows<{ x: number }>(sql`select x from agents where id = ${agent.id}`);
        expect(rows[0]!.x).toBe(lastAccepted);
      } finally {
        await reopened.close();
      }
    } finally {
      await t2.close().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('coalesces per agent and writes everything pending in one flush; a scene is not lost to coalescing', async () => {
    const slow = await buildWithoutFlushTimer({});
    try {
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        ids.push((await slow.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: 'g-co' } })).json().id);
      }
      // five positions per agent; the first names a scene and a rotation, the later ones do not
      for (let round = 0; round < 5; round++) {
        const body = (n: number) => ({ x: round * 100 + n, y: round, z: -n, ...(round === 0 ? { scene_id: 'lobby', rotation_y: n } : {}) });
        if (round % 2 === 0) {
          for (const [n, id] of ids.entries()) await slow.request({ method: 'PUT', url: `/agents/${id}/position`, body: body(n) });
        } else {
          const positions = ids.map((id, n) => ({ agent_id: id, ...body(n) }));
          expect((await slow.request({ method: 'PUT', url: '/agents/positions', body: { positions } })).json().updated).toBe(40);
        }
      }
      // reads see the newest position before anything reached the database
      expect((await slow.request({ method: 'GET', url: `/agents/${ids[7]}` })).json()).toMatchObject({
        position: { x: 407, y: 4, z: -7 },
        scene_id: 'lobby',
        rotation_y: 7,
      });
      const listed = (await slow.request({ method: 'GET', url: '/agents?game_id=g-co&limit=500' })).json().items;
      expect(listed.map((a: Json) => a.position.x)).toEqual(ids.map((_, n) => 400 + n));
      expect((await slow.app.database.rows<{ x: number }>(sql`select x from agents where id = ${ids[7]}`))[0]!.x).toBe(0);
      // 200 accepted positions, one flush, one statement: 40 rows
      expect(await slow.app.positions.flush()).toBe(40);
      expect(await slow.app.positions.flush()).toBe(0); // nothing left
      const rows = await slow.app.database.rows<{ id: string; x: number; scene_id: string; rotation_y: number }>(
        sql`select id, x, scene_id, rotation_y from agents where game_id = 'g-co' order by id`,
      );
      expect(rows).toEqual(ids.map((id, n) => ({ id, x: 400 + n, scene_id: 'lobby', rotation_y: n })));
    } finally {
      await slow.close();
    }
  });

  it('takes a batch of 1,000 positions; the last one of each agent wins', async () => {
    const agents: Json[] = [];
    for (let i = 0; i < 100; i++) agents.push(await create('g-batch'));
    const positions = Array.from({ length: 1000 }, (_, i) => ({ agent_id: agents[i % 100]!.id, x: i, y: 0, z: 0 }));
    const res = await t.request({ method: 'PUT', url: '/agents/positions', body: { positions } });
    expect(res.json()).toEqual({ updated: 1000, not_found: [] });
    for (const [n, a] of agents.entries()) {
      if (n % 25 === 0) await expect.poll(async () => (await stored(a.id)).x).toBe(900 + n);
    }
  });

  it('a read never goes back in time while flushes run under it', async () => {
    const fast = await buildTestApp({ config: { positions: { flush_interval_ms: 5 } } });
    try {
      const id = (await fast.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } })).json().id;
      const stale: Array<[number, number]> = [];
      for (let x = 1; x <= 300; x++) {
        await fast.request({ method: 'PUT', url: `/agents/${id}/position`, body: { x, y: 0, z: 0 } });
        const [one, many] = await Promise.all([
          fast.request({ method: 'GET', url: `/agents/${id}` }),
          fast.request({ method: 'GET', url: '/agents?limit=10' }),
        ]);
        const seen = [one.json().position.x, many.json().items.find((a: Json) => a.id === id).position.x];
        for (const s of seen) if (s !== x) stale.push([x, s]);
      }
      expect(stale).toEqual([]);
    } finally {
      await fast.close();
    }
  });

  it('has its own rate budget (positions_per_minute), answered with 429 and Retry-After', async () => {
    const limited = await buildTestApp({ config: { rate_limit: { per_minute: 1000, positions_per_minute: 5 } } });
    try {
      const id = (await limited.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } })).json().id;
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) {
        codes.push((await limited.request({ method: 'PUT', url: `/agents/${id}/position`, body: { x: i, y: 0, z: 0 } })).statusCode);
      }
      expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
      const refused = await limited.request({ method: 'PUT', url: `/agents/${id}/position`, body: { x: 9, y: 0, z: 0 } });
      expect(refused.json().error.code).toBe('rate_limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      // the refused position was not accepted; other routes keep their own budget
      expect((await limited.request({ method: 'GET', url: `/agents/${id}` })).json().position.x).toBe(4);
    } finally {
      await limited.close();
    }
  });

  it.runIf(driver === 'postgres')('works across replicas: ownership cache evicted on delete, newest position durable', async () => {
    const b = await buildTestApp({ databaseUrl: t.databaseUrl!, redisPrefix: t.redisPrefix! });
    try {
      const agent = await create('g-rep');
      const put = (app: TestApp, x: number) => app.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x, y: 0, z: 0 } });
      expect((await put(b, 5)).statusCode).toBe(200); // replica B learns the agent's game
      await expect.poll(async () => (await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json().position.x).toBe(5);
      expect((await t.request({ method: 'DELETE', url: `/agents/${agent.id}` })).statusCode).toBe(204);
      // B hears agent.deleted through Redis and forgets its cached ownership
      await expect.poll(async () => (await put(b, 6)).statusCode).toBe(404);
    } finally {
      await b.app.close();
    }
  });
});
