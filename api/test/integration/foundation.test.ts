import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { buildTestApp, createKey, createTestDatabase, driver, redisUrl, type TestApp } from '../helpers/build-app.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

describe(`foundation (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => t?.close());

  it('/health answers without a key and touches nothing', async () => {
    const res = await t.request({ method: 'GET', url: '/health', key: null });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'healthy' });
  });

  it('every other route needs a key: 401 in the contract error shape', async () => {
    for (const url of ['/system/status', '/ready', '/admin/api-keys', '/metrics', '/nope']) {
      const res = await t.request({ method: 'GET', url, key: null });
      expect(res.statusCode, url).toBe(401);
      const body = res.json();
      expect(body.error.code).toBe('unauthorized');
      expect(body.error.message).toMatch(/Authorization: Bearer/);
      expect(typeof body.request_id).toBe('string');
    }
    const wrong = await t.request({ method: 'GET', url: '/system/status', key: 'not-a-key' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.message).toMatch(/invalid or revoked/);
  });

  it('accepts the key as Bearer token and as X-API-Key', async () => {
    const bearer = await t.request({
      method: 'GET',
      url: '/system/status',
      key: null,
      headers: { authorization: 'Bearer development-key' },
    });
    expect(bearer.statusCode).toBe(200);
    const header = await t.request({ method: 'GET', url: '/system/status' });
    expect(header.statusCode).toBe(200);
    const status = header.json();
    expect(status.components.database.driver).toBe(driver === 'postgres' ? 'postgres' : 'pglite');
    expect(status.components.redis.mode).toBe(driver === 'postgres' ? 'redis' : 'memory');
    expect(status.agents.total).toBeGreaterThanOrEqual(0);
    expect(status.agent_types.map((a: { name: string }) => a.name)).toEqual(
      expect.arrayContaining(['aider', 'opencode', 'claude', 'custom']),
    );
  });

  it('creates, lists and revokes API keys; keys are stored hashed; scopes are enforced', async () => {
    const created = await t.request({ method: 'POST', url: '/admin/api-keys', body: { name: 'reader', scopes: ['read'] } });
    expect(created.statusCode).toBe(201);
    const { key, id } = created.json();
    expect(key).toMatch(/^avm_/);
    const rows = await t.app.database.rows<{ key_hash: string }>(
      (await import('drizzle-orm')).sql`select key_hash from api_keys where id = ${id}`,
    );
    expect(rows[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.key_hash).not.toContain(key);

    const list = await t.request({ method: 'GET', url: '/admin/api-keys?limit=500' });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(key);
    expect(list.json().items.some((k: { id: string }) => k.id === id)).toBe(true);

    // read may GET but not write, and never reach admin routes
    expect((await t.request({ method: 'GET', url: '/system/status', key })).statusCode).toBe(200);
    const forbidden = await t.request({ method: 'POST', url: '/admin/api-keys', key, body: { name: 'x', scopes: ['admin'] } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().error.code).toBe('forbidden');
    expect((await t.request({ method: 'GET', url: '/admin/api-keys', key })).statusCode).toBe(403);

    expect((await t.request({ method: 'DELETE', url: `/admin/api-keys/${id}` })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/system/status', key })).statusCode).toBe(401);
    expect((await t.request({ method: 'DELETE', url: '/admin/api-keys/00000000-0000-4000-8000-000000000000' })).statusCode).toBe(404);
  });

  it('a game key requires game_id; bad bodies name the field', async () => {
    const missing = await t.request({ method: 'POST', url: '/admin/api-keys', body: { name: 'g', scopes: ['game'] } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.message).toBe('game_id: required for a key with the game scope');
    const extra = await t.request({ method: 'POST', url: '/admin/api-keys', body: { name: 'g', scopes: ['read'], colour: 'red' } });
    expect(extra.json().error).toMatchObject({ code: 'validation_failed', message: 'colour: unknown field' });
    const wrongType = await t.request({ method: 'POST', url: '/admin/api-keys', body: { name: 5, scopes: ['read'] } });
    expect(wrongType.json().error.details[0].field).toBe('name');
    const noName = await t.request({ method: 'POST', url: '/admin/api-keys', body: { scopes: ['read'] } });
    expect(noName.json().error.message).toBe('name: Required');
    const badScope = await t.request({ method: 'POST', url: '/admin/api-keys', body: { name: 'x', scopes: ['root'] } });
    expect(badScope.json().error.details[0].field).toBe('scopes.0');
    const gameKey = await createKey(t, ['game'], 'demo');
    expect((await t.request({ method: 'GET', url: '/admin/api-keys', key: gameKey })).statusCode).toBe(403);
  });

  it('maps Fastify errors to the contract: malformed JSON, oversize body, unknown route, bad param', async () => {
    const malformed = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toMatchObject({ code: 'validation_failed', message: 'body: malformed JSON' });
    const big = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), scopes: ['read'] }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('payload_too_large');
    const unknown = await t.request({ method: 'GET', url: '/definitely/not/here' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('not_found');
    const badId = await t.request({ method: 'DELETE', url: '/admin/api-keys/not-a-uuid' });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error.message).toBe('key_id: must be a UUID');
    const noBody = await t.app.inject({ method: 'POST', url: '/admin/api-keys', headers: { 'x-api-key': 'development-key' } });
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().error.message).toMatch(/^\(body\): Required/);
    for (const res of [malformed, big, unknown, badId, noBody]) {
      expect(res.body).not.toMatch(/at .*\.(ts|js):\d+|SELECT|select /);
      expect(res.headers['x-request-id']).toBeTruthy();
    }
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await t.request({ method: 'GET', url: '/openapi.json', key: null });
    expect(doc.statusCode).toBe(200);
    const spec = doc.json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/health', '/system/status', '/admin/api-keys']));
    const ui = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toMatch(/swagger/i);
  });

  it('exposes Prometheus metrics', async () => {
    const res = await t.request({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/agentvm_http_request_duration_seconds_bucket/);
    expect(res.body).toMatch(/agentvm_ws_connections/);
  });

  it('migrations apply on an empty database and are idempotent', async () => {
    if (driver === 'postgres') {
      const created = await createTestDatabase();
      const db = await openDatabase({ url: created.url, poolSize: 2, dataDir: '', statementTimeoutMs: 5000 });
      try {
        await db.migrate();
        await db.migrate();
        const tables = await db.rows<{ table_name: string }>(
          (await import('drizzle-orm')).sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`,
        );
        expect(tables.map((r) => r.table_name)).toEqual(
          expect.arrayContaining(['agents', 'api_keys', 'events', 'game_sessions', 'games', 'scenes', 'tasks']),
        );
      } finally {
        await db.close();
        await created.drop();
      }
    } else {
      const db = await openDatabase({ url: null, poolSize: 1, dataDir: 'memory://', statementTimeoutMs: 5000 });
      await db.migrate();
      await db.migrate();
      const tables = await db.rows<{ n: number }>(
        (await import('drizzle-orm')).sql`select count(*)::int as n from information_schema.tables where table_schema = 'public'`,
      );
      expect(tables[0]!.n).toBeGreaterThanOrEqual(7);
      await db.close();
    }
  });
});

describe.runIf(driver === 'postgres')('statements on Postgres', () => {
  it('a parameterized statement is prepared once per connection and then runs on a generic plan', async () => {
    const { sql } = await import('drizzle-orm');
    const created = await createTestDatabase();
    // One connection, so every statement below runs on the same session.
    const db = await openDatabase({ url: created.url, poolSize: 1, dataDir: '', statementTimeoutMs: 5000 });
    try {
      for (let i = 0; i < 10; i++) {
        const [row] = await db.rows<{ n: number }>(sql`select ${i}::int + 1 as n`);
        expect(row!.n).toBe(i + 1);
      }
      const prepared = await db.rows<{ name: string; generic_plans: string; custom_plans: string }>(
        sql`select name, generic_plans, custom_plans from pg_prepared_statements where statement = ${'select $1::int + 1 as n'}`,
      );
      expect(prepared).toHaveLength(1);
      expect(prepared[0]!.name).toMatch(/^agentvm_\d+$/);
      // Planned for its first five runs, then on the generic plan.
      expect(Number(prepared[0]!.custom_plans)).toBe(5);
      expect(Number(prepared[0]!.generic_plans)).toBe(5);
      // A rolled-back transaction keeps its connection's statements; a statement that fails to
      // parse fails as it did unnamed, and the next ones run.
      await db.db
        .transaction(async (tx) => {
          await tx.execute(sql`select ${2}::int + 1 as n`);
          tx.rollback();
        })
        .catch(() => undefined);
      await expect(db.rows(sql`select ${1}::int frm nowhere`)).rejects.toThrow(/Failed query/);
      await expect(db.rows(sql`select ${1}::int frm nowhere`)).rejects.toThrow(/Failed query/);
      const [again] = await db.rows<{ n: number }>(sql`select ${41}::int + 1 as n`);
      expect(again!.n).toBe(42);
    } finally {
      await db.close();
      await created.drop();
    }
  });
});

describe.runIf(driver === 'postgres')('readiness follows the backing services', () => {
  it('/ready turns 503 when Postgres or Redis goes away and 200 when they return; no crash', async () => {
    const created = await createTestDatabase();
    const pgTarget = new URL(created.url);
    const pgProxy = new TcpProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
    await pgProxy.start();
    const redisTarget = new URL(redisUrl());
    const redisProxy = new TcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379));
    await redisProxy.start();
    const proxiedDb = new URL(created.url);
    proxiedDb.host = `127.0.0.1:${pgProxy.port}`;
    const proxiedRedis = `redis://127.0.0.1:${redisProxy.port}`;
    // No embedded worker: only the readiness path talks to the backing services here.
    const t = await buildTestApp({ databaseUrl: proxiedDb.toString(), redisUrl: proxiedRedis, config: { worker: { embedded: false } } });
    const ready = async () => (await t.request({ method: 'GET', url: '/ready' })).statusCode;
    try {
      // The admin key is cached after the first request, so auth keeps working while Postgres is down.
      expect(await ready()).toBe(200);

      await pgProxy.stop();
      const down = await t.request({ method: 'GET', url: '/ready' });
      expect(down.statusCode).toBe(503);
      expect(down.json().checks.database.ok).toBe(false);
      const status = await t.request({ method: 'GET', url: '/system/status' });
      expect(status.statusCode).toBe(200);
      expect(status.json().status).toBe('degraded');

      await pgProxy.start();
      await expect.poll(ready, { timeout: 10_000, interval: 200 }).toBe(200);

      await redisProxy.stop();
      await expect.poll(ready, { timeout: 10_000, interval: 200 }).toBe(503);
      await redisProxy.start();
      await expect.poll(ready, { timeout: 15_000, interval: 200 }).toBe(200);
    } finally {
      await t.close();
      await pgProxy.stop();
      await redisProxy.stop();
      await created.drop();
    }
  }, 90_000); // reconnects back off up to 5 s and pg connection attempts time out after 5 s
});
