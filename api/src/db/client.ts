import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import * as schema from './schema.js';

export type Schema = typeof schema;
/** Both drivers produce this type; code never needs to know which one runs. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export type Driver = 'postgres' | 'pglite';

export interface Database {
  db: Db;
  driver: Driver;
  /** Runs `select 1`; throws when the database cannot answer within timeoutMs. */
  ping(timeoutMs?: number): Promise<number>;
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Rows of a raw statement, the same shape on both drivers. */
  rows<T>(query: ReturnType<typeof sql>): Promise<T[]>;
}

export interface DatabaseOptions {
  url: string | null;
  poolSize: number;
  dataDir: string;
  statementTimeoutMs: number;
  onError?: (err: Error) => void;
}

export function migrationsFolder(): string {
  // src/db → ../../drizzle, and dist/src/db → ../../../drizzle
  const here = dirname(fileURLToPath(import.meta.url));
  const fromSrc = resolve(here, '../../drizzle');
  return here.includes(`${join('dist', 'src')}`) ? resolve(here, '../../../drizzle') : fromSrc;
}

/** Held while migrating so that replicas booting together migrate one at a time. */
const MIGRATION_LOCK = 72_616_001;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Statement texts named so far (text → name), shared by every connection of the process. A
 * parameterized statement goes to Postgres as a named prepared statement: each connection
 * parses and analyses its text once, and after five executions Postgres may keep a generic plan
 * instead of planning it again on every call. Unnamed, parse, analysis and planning were a third
 * of Postgres's CPU time in the task benchmark (perf, 2026-12-04): every statement was planned
 * on every call. Prepared statements outlive a transaction's rollback and end with their
 * connection. The names are bounded, and so is what each Postgres session keeps (a parse tree
 * and a plan each): the api sends ~75 distinct texts in the tasks bench; texts beyond
 * MAX_NAMED_STATEMENTS (a statement built with a variable number of placeholders, say) run
 * unnamed, as before.
 */
const statementNames = new Map<string, string>();
export const MAX_NAMED_STATEMENTS = 500;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `agentvm_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

interface QueryConfigLike {
  text?: unknown;
  name?: unknown;
  values?: unknown;
  submit?: unknown;
}

/** Makes this connection send every parameterized statement as a named one (see statementNames). */
export function prepareOnce(client: pg.ClientBase): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (config: unknown, values?: unknown, callback?: unknown) => {
    const params = Array.isArray(values) ? values : undefined;
    if (typeof config === 'string' && params && params.length > 0) {
      const name = statementName(config);
      if (name) return query({ text: config, name }, values, callback);
    } else if (config !== null && typeof config === 'object') {
      const c = config as QueryConfigLike;
      // A Submittable (cursor, stream) or a query already named is left as it is.
      const hasParams = (params ?? (Array.isArray(c.values) ? c.values : [])).length > 0;
      if (typeof c.submit !== 'function' && typeof c.text === 'string' && c.name === undefined && hasParams) {
        const name = statementName(c.text);
        if (name) return query({ ...c, name }, values, callback);
      }
    }
    return query(config, values, callback);
  };
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options) : openPglite(options);
}

async function openPostgres(options: DatabaseOptions): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: options.url!,
    max: options.poolSize,
    // Fail fast while Postgres is down so requests get a 503 instead of hanging.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs,
    application_name: 'agentvm',
  });
  // An idle client losing its connection emits here; without a listener node would crash.
  pool.on('error', (err) => options.onError?.(err));
  // A client checked out for a transaction can lose its connection between statements; pg then
  // emits 'error' on the client, which without a listener would crash the process. The pending
  // query (if any) still rejects, and the pool discards the broken client on release.
  pool.on('connect', (client) => {
    client.on('error', (err) => options.onError?.(err));
    prepareOnce(client);
  });
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  // drizzle's transaction() on a pool checks a client out and never releases it when BEGIN
  // itself fails — which is what a pooled connection the server already closed does after a
  // Postgres restart. Each such failure stranded a pool slot for good (and held shutdown for the
  // close timeout); enough of them exhausted the pool. So transactions run on a client checked
  // out here and released whatever happens (a broken one is discarded by the pool).
  // One drizzle instance per pooled connection, made on its first transaction: building one
  // walks the whole schema (extractTablesRelationalConfig), which per transaction cost ~5 % of
  // the api's CPU in the task benchmark.
  const onClient = new WeakMap<pg.PoolClient, Db>();
  db.transaction = async (fn, config) => {
    const client = await pool.connect();
    try {
      let clientDb = onClient.get(client);
      if (!clientDb) onClient.set(client, (clientDb = drizzlePg(client, { schema }) as unknown as Db));
      return await clientDb.transaction(fn, config);
    } finally {
      client.release();
    }
  };
  const database: Database = {
    db,
    driver: 'postgres',
    async ping(timeoutMs = 2000) {
      const started = performance.now();
      await withTimeout(pool.query('select 1'), timeoutMs, 'database ping');
      return performance.now() - started;
    },
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
        await migratePg(drizzlePg(client, { schema }), { migrationsFolder: migrationsFolder() });
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
        client.release();
      }
    },
    async close() {
      // A client stranded by a dead connection must not hold shutdown forever.
      await Promise.race([pool.end(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    },
    async rows<T>(query: ReturnType<typeof sql>) {
      const result = (await db.execute(query)) as unknown as { rows: T[] };
      return result.rows;
    },
  };
  return database;
}

async function openPglite(options: DatabaseOptions): Promise<Database> {
  const inMemory = options.dataDir.startsWith('memory://');
  if (!inMemory) mkdirSync(resolve(options.dataDir), { recursive: true });
  const client = inMemory ? new PGlite() : new PGlite(resolve(options.dataDir));
  await client.waitReady;
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    driver: 'pglite',
    async ping(timeoutMs = 2000) {
      const started = performance.now();
      await withTimeout(client.query('select 1'), timeoutMs, 'database ping');
      return performance.now() - started;
    },
    async migrate() {
      // One process owns a PGlite directory, so no lock is needed.
      await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder: migrationsFolder() });
    },
    async close() {
      if (!client.closed) await client.close();
    },
    async rows<T>(query: ReturnType<typeof sql>) {
      const result = (await db.execute(query)) as unknown as { rows: T[] };
      return result.rows;
    },
  };
}

export { sql, schema };
