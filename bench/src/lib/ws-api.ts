/**
 * Shared plumbing of the WebSocket, task and soak benchmarks: an api deployment (fresh database,
 * own Redis key prefix, one or more replicas) that is always torn down, and a keep-alive REST client.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { hold, type Held } from './cleanup.js';
import { createDatabase, type BenchDatabase } from './db.js';
import { BENCH_KEY } from './env.js';
import { startApi, type Child } from './proc.js';
import { dropRedisKeys } from './redis.js';

// ---------------------------------------------------------------------------------------- REST

export interface RestResponse<T = unknown> {
  status: number;
  body: T;
}

const IDLE_SOCKET_MS = 20_000;

/** A small keep-alive JSON client over node:http (cheaper per request than fetch). */
export class Rest {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    readonly baseUrl: string,
    maxSockets = 64,
  ) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
    // A pooled socket idle for IDLE_SOCKET_MS is closed here, well before the api's keep-alive
    // timeout (Fastify's 72 s) closes it there: otherwise a request can go out on a socket just
    // as the server's FIN arrives and fail with ECONNRESET (seen once: 18 of 10,000 moves, on
    // sockets last used 90 s earlier). The timeout only closes free sockets: an answer never
    // takes that long.
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: IDLE_SOCKET_MS });
  }

  request<T = unknown>(method: string, path: string, body?: unknown): Promise<RestResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.agent,
          headers: {
            'x-api-key': BENCH_KEY,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            if (text && (res.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                // keep the text
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (payload) req.end(payload);
      else req.end();
    });
  }

  /** Like request, but a status other than `expect` is an error naming the call and the body. */
  async call<T = unknown>(method: string, path: string, body?: unknown, expect = 200): Promise<T> {
    const res = await this.request<T>(method, path, body);
    if (res.status !== expect) {
      throw new Error(`${method} ${path} → ${res.status} (expected ${expect}): ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    return res.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------- deployment

/** One api deployment: a fresh database, its own Redis prefix, replicas sharing both. */
export class ApiDeployment {
  readonly replicas: Child[] = [];
  readonly prefix: string;
  private db: BenchDatabase | null = null;
  /** Registered with run.ts's clean-up on interrupt (lib/cleanup.ts). */
  private readonly held: Held;

  private constructor(readonly label: string) {
    this.prefix = `agentvm_bench_${label}_${randomBytes(4).toString('hex')}:`;
    this.held = hold(`api deployment (${label})`, () => this.teardown());
  }

  static async start(label: string, replicas = 1, env: Record<string, string> = {}): Promise<ApiDeployment> {
    const d = new ApiDeployment(label);
    try {
      d.db = await createDatabase(label);
      for (let i = 0; i < replicas; i++) await d.addReplica(env);
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  get databaseUrl(): string {
    return this.db!.url;
  }

  /** Another api process on the same database and Redis prefix. */
  async addReplica(env: Record<string, string> = {}): Promise<Child> {
    const child = await startApi({ databaseUrl: this.db!.url, redisPrefix: this.prefix, env });
    this.replicas.push(child);
    return child;
  }

  /** Stops the replicas, drops the database and the Redis keys (once); never throws. */
  stop(): Promise<void> {
    return this.held.release();
  }

  private async teardown(): Promise<void> {
    await Promise.allSettled(this.replicas.map((r) => r.stop()));
    if (this.db) await this.db.drop().catch((err: Error) => console.error(`dropping ${this.db!.name}: ${err.message}`));
    await dropRedisKeys(this.prefix).catch((err: Error) => console.error(`cleaning Redis ${this.prefix}*: ${err.message}`));
  }
}

/** Runs `fn` with SIGINT/SIGTERM turned into a clean-up before exiting. */
export async function withCleanup<T>(cleanup: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
  let cleaning: Promise<void> | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: cleaning up…`);
    cleaning ??= cleanup();
    void cleaning.finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cleaning ??= cleanup();
    await cleaning;
  }
}

interface EventsPage {
  items: Array<{ seq: number | null; type: string; game_id: string | null; data: Record<string, unknown> }>;
  next_cursor: string | null;
  last_seq: number;
}

/** The newest committed seq (GET /events reports it with every page). */
export async function lastSeq(rest: Rest): Promise<number> {
  const page = await rest.call<EventsPage>('GET', `/events?since=0&limit=1`);
  return page.last_seq;
}

export interface LoggedEvent {
  seq: number;
  type: string;
  gameId: string | null;
  data: Record<string, unknown>;
}

/** Every logged event after `since` (GET /events, paged), optionally of one game and types. */
export async function readLog(rest: Rest, opts: { since: number; gameId?: string; types?: string }): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  let since = opts.since;
  for (;;) {
    const q = new URLSearchParams({ since: String(since), limit: '1000' });
    if (opts.gameId) q.set('game_id', opts.gameId);
    if (opts.types) q.set('types', opts.types);
    const page = await rest.call<EventsPage>('GET', `/events?${q.toString()}`);
    for (const e of page.items) out.push({ seq: e.seq!, type: e.type, gameId: e.game_id, data: e.data });
    if (!page.next_cursor) return out;
    since = Number(page.next_cursor);
  }
}
