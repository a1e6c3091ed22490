import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export const DEV_KEY = 'development-key';
export type TestDriver = 'pglite' | 'postgres';
export const driver: TestDriver = (process.env.TEST_DB_DRIVER as TestDriver | undefined) ?? 'pglite';

export function pgUrl(): string {
  return inject('pgUrl');
}
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A fresh database on the test Postgres server; drop() removes it (forcefully). */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const admin = pgUrl();
  const name = `agentvm_t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  driver: TestDriver;
  /** Base URL when started with listen: true. */
  url: string;
  databaseUrl: string | null;
  redisPrefix: string | null;
  close: () => Promise<void>;
  /** Authenticated inject with the development (admin) key unless another key is given. */
  request: (opts: { method: string; url: string; body?: unknown; key?: string | null; headers?: Record<string, string> }) => Promise<{
    statusCode: number;
    json: <T = any>() => T;
    body: string;
    headers: Record<string, unknown>;
  }>;
}

export interface TestAppOptions {
  /** Deep-merged over configs/testing.yaml. */
  config?: Record<string, unknown>;
  /** Use this database URL instead of creating one (a second replica on the same database). */
  databaseUrl?: string;
  /** Share a Redis key prefix (replicas of one deployment). */
  redisPrefix?: string;
  /** Use Redis even on the pglite driver. */
  redis?: boolean;
  /** Connect to Redis here instead of the test server (e.g. through a proxy). */
  redisUrl?: string;
  listen?: boolean;
  driver?: TestDriver;
  /** Capture the app's JSON logs. */
  logStream?: NodeJS.WritableStream;
}

/** Builds the real app on the test driver: PGlite in memory, or a new Postgres database + Redis. */
export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const chosen = options.driver ?? driver;
  let databaseUrl: string | null = null;
  let drop: (() => Promise<void>) | null = null;
  if (chosen === 'postgres') {
    if (options.databaseUrl) databaseUrl = options.databaseUrl;
    else {
      const created = await createTestDatabase();
      databaseUrl = created.url;
      drop = created.drop;
    }
  }
  const useRedis = options.redis ?? chosen === 'postgres';
  const redisPrefix = useRedis ? (options.redisPrefix ?? `agentvm-test:${randomBytes(6).toString('hex')}:`) : null;
  const env: Record<string, string | undefined> = { AGENT_ENV: 'testing' };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  if (useRedis) {
    env.REDIS_URL = options.redisUrl ?? redisUrl();
    env.AGENTVM_REDIS_PREFIX = redisPrefix!;
  }
  const config = loadConfig({ env, ...(options.config ? { overrides: options.config } : {}) });
  const app = await buildApp(config, options.logStream ? { logStream: options.logStream } : {});
  let url = '';
  if (options.listen) url = await app.listen({ port: 0, host: '127.0.0.1' });
  else await app.ready();
  return {
    app,
    config,
    driver: chosen,
    url,
    databaseUrl,
    redisPrefix,
    async close() {
      await app.close();
      if (drop) await drop();
    },
    async request({ method, url: path, body, key = DEV_KEY, headers = {} }) {
      const res = await app.inject({
        method: method as 'GET',
        url: path,
        headers: { ...(key ? { 'x-api-key': key } : {}), ...headers },
        ...(body !== undefined ? { payload: body as object } : {}),
      });
      return { statusCode: res.statusCode, json: () => res.json(), body: res.body, headers: res.headers };
    },
  };
}

/** Creates an API key through the admin API and returns the key. */
export async function createKey(t: TestApp, scopes: string[], gameId?: string): Promise<string> {
  const res = await t.request({
    method: 'POST',
    url: '/admin/api-keys',
    body: { name: `test-${scopes.join('-')}`, scopes, ...(gameId ? { game_id: gameId } : {}) },
  });
  if (res.statusCode !== 201) throw new Error(`createKey failed: ${res.statusCode} ${res.body}`);
  return res.json<{ key: string }>().key;
}
