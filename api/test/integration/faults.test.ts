import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiProcess, testingConfigDir } from '../helpers/api-process.js';
import { buildTestApp, driver, redisUrl, type TestApp } from '../helpers/build-app.js';
import { outboxSettled } from '../helpers/fixtures.js';
import { freePort, PgCluster, pgClusterUnavailableReason } from '../helpers/pg-cluster.js';
import { RedisServer, redisServerUnavailableReason } from '../helpers/redis-server.js';
import { WsClient, type Frame } from '../helpers/ws-client.js';

/**
 * Fault injection against services the tests own (issue #11): a throwaway Postgres cluster
 * stopped mid-traffic, a private redis-server killed under two replicas, a worker process
 * SIGKILLed while it holds a task, and the api process restarted under a WebSocket client.
 * The shared Postgres / Redis other tests use are never stopped.
 *
 * Each case prints its figures on `[faults]` lines (faults injected, writes acknowledged, lost,
 * duplicates) for RELIABILITY.md.
 */

const pgSkip = driver === 'postgres' ? pgClusterUnavailableReason() : null;
const redisSkip = driver === 'postgres' ? redisServerUnavailableReason() : null;
if (pgSkip) console.log(`[faults] skipped: Postgres restart case: ${pgSkip}`);
if (redisSkip) console.log(`[faults] skipped: Redis restart case: ${redisSkip}`);

function figures(name: string, values: Record<string, unknown>): void {
  console.log(
    `[faults] ${name}: ${Object.entries(values)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ')}`,
  );
}

/** Cleanups of one case, run in reverse order whatever happened; a safety net runs them after all. */
class Cleanup {
  private steps: Array<{ what: string; fn: () => unknown }> = [];
  add(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }
  async run(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const { what, fn } of steps) {
      const t0 = Date.now();
      try {
        await fn();
        if (Date.now() - t0 > 3000) console.log(`[faults] cleanup "${what}" took ${Date.now() - t0} ms`);
      } catch (err) {
        console.log(`[faults] cleanup "${what}" failed: ${(err as Error).message}`);
      }
    }
  }
}
const pendingCleanups = new Set<Cleanup>();
function cleanup(): Cleanup {
  const c = new Cleanup();
  pendingCleanups.add(c);
  return c;
}
afterAll(async () => {
  for (const c of pendingCleanups) await c.run();
});

/** Polls until `check` returns a value other than undefined/false; throws `what` at the deadline. */
async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolves with the promise's value, or 'hang' when it did not settle in time. */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | 'hang'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), ms)))]).finally(() => clearTimeout(timer));
}

/** The contract's 503: `{"error": {"code": "unavailable", …}, "request_id"}` with an integer Retry-After. */
function badUnavailable(res: { statusCode: number; body: string; headers: Record<string, unknown> }): string | null {
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `503 body is not JSON: ${res.body.slice(0, 200)}`;
  }
  if (body?.error?.code !== 'unavailable' || typeof body.error.message !== 'string' || typeof body.request_id !== 'string') {
    return `503 body not in the contract's shape: ${res.body.slice(0, 300)}`;
  }
  if (!/^\d+$/.test(String(res.headers['retry-after'] ?? '')))
    return `503 without an integer Retry-After (${String(res.headers['retry-after'])})`;
  return null;
}

/** Agent type and lease settings shared by the in-process app and the child processes. */
const SLOW_TYPES = {
  tasks: { lease_s: 1, reaper_interval_ms: 100, backoff_base_ms: 50, backoff_max_ms: 200 },
  agent_types: {
    // A steady simulated agent at speed 0.3 works ~2.4 s per task: long enough to be caught mid-task.
    slowsim: { runtime: 'simulated', capabilities: ['code'], speed: 0.3, seed: 7, personality_failures: false },
  },
};

describe.skipIf(driver !== 'postgres')('fault injection (services owned by the test)', () => {
  describe.skipIf(pgSkip !== null)(`Postgres restarted mid-traffic${pgSkip ? ` (skipped: ${pgSkip})` : ''}`, () => {
    it('answers 2xx or a 503 with Retry-After while it is down, resumes after, and loses no acknowledged write', async () => {
      const c = cleanup();
      const started = Date.now();
      try {
        const cluster = await PgCluster.create();
        c.add('destroy the cluster', () => cluster.destroy());
        const admin = new pg.Client({ connectionString: cluster.url() });
        await admin.connect();
        await admin.query('create database agentvm_faults');
        await admin.end();
        const databaseUrl = cluster.url('agentvm_faults');
        // A small pool: a connection stranded by the outage would soon leave none to serve with.
        const t = await buildTestApp({ driver: 'postgres', databaseUrl, config: { database: { pool_size: 2 } } });
        let closed = false;
        c.add('close the app', () => (closed ? undefined : t.close()));

        type Kind = 'create' | 'position' | 'patch';
        interface Outcome {
          kind: Kind;
          status: number | 'hang';
          at: number;
        }
        const outcomes: Outcome[] = [];
        const problems: string[] = [];
        const ackedCreates = new Set<string>();
        const ackedPatches: Array<{ id: string; n: number }> = [];
        const lastAckedPosition = new Map<string, number>();
        let stop = false;
        c.add('stop the writers', () => {
          stop = true;
        });

        const HANG_MS = 10_000;
        async function writer(w: number): Promise<void> {
          const mine: string[] = [];
          let n = 0;
          while (!stop) {
            n++;
            const agent = mine[n % Math.max(1, mine.length)];
            const kind: Kind = !agent || n % 4 === 0 ? 'create' : n % 2 === 0 ? 'patch' : 'position';
            const value = n;
            const request =
              kind === 'create'
                ? t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', name: `w${w}-${n}`, game_id: 'faults' } })
                : kind === 'patch'
                  ? t.request({ method: 'PATCH', url: `/agents/${agent}`, body: { metadata: { n: value } } })
                  : t.request({ method: 'PUT', url: `/agents/${agent}/position`, body: { x: value, y: w, z: 0 } });
            const res = await withDeadline(request, HANG_MS);
            const at = Date.now();
            if (res === 'hang') {
              outcomes.push({ kind, status: 'hang', at });
              problems.push(`${kind} did not answer within ${HANG_MS} ms`);
              continue;
            }
            outcomes.push({ kind, status: res.statusCode, at });
            if (res.statusCode >= 200 && res.statusCode < 300) {
              if (kind === 'create') {
                const id = res.json<{ id: string }>().id;
                ackedCreates.add(id);
                mine.push(id);
              } else if (kind === 'patch') ackedPatches.push({ id: agent!, n: value });
              else lastAckedPosition.set(agent!, value);
            } else if (res.statusCode === 503) {
              const bad = badUnavailable(res);
              if (bad) problems.push(`${kind}: ${bad}`);
              await new Promise((r) => setTimeout(r, 20)); // a client backs off a little
            } else {
              problems.push(`${kind} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
            }
          }
        }
        const writers = Array.from({ length: 6 }, (_, w) => writer(w));
        const acked = () => outcomes.filter((o) => typeof o.status === 'number' && o.status < 300);
        const ackedSince = (since: number, kind: Kind) =>
          outcomes.some((o) => o.kind === kind && o.at > since && o.status !== 'hang' && o.status < 300);

        let faults = 0;
        const cycles: Array<{ mode: string; downMs: number; unavailable: number; recoverMs: number }> = [];
        for (const mode of ['immediate', 'fast', 'immediate'] as const) {
          const before = acked().length;
          await until(() => acked().length >= before + 20, 'writes before the fault');
          const downAt = Date.now();
          await cluster.stop({ mode });
          faults++;
          const stoppedAt = Date.now();
          const unavailableBefore = outcomes.filter((o) => o.status === 503).length;
          // Down long enough for every kind of write to meet the outage.
          await until(
            () => outcomes.filter((o) => o.status === 503 && o.at > stoppedAt).length >= 8 && Date.now() - stoppedAt >= 500,
            '503s while down',
          );
          await cluster.start();
          const upAt = Date.now();
          await until(
            () => ackedSince(upAt, 'create') && ackedSince(upAt, 'patch') && ackedSince(upAt, 'position'),
            'writes after the restart',
            20_000,
          );
          cycles.push({
            mode,
            downMs: upAt - downAt,
            unavailable: outcomes.filter((o) => o.status === 503).length - unavailableBefore,
            recoverMs: Date.now() - upAt,
          });
        }
        const settle = acked().length;
        await until(() => acked().length >= settle + 20, 'writes after the last restart');
        stop = true;
        await Promise.all(writers);

        // Everything acknowledged must be in the database: agents, their agent.updated events, and
        // the last position each agent was told was accepted (positions flush every 20 ms).
        const check = new pg.Client({ connectionString: databaseUrl });
        await check.connect();
        c.add('close the check connection', () => check.end());
        // A write acknowledged just before Postgres went down may have committed with its events
        // still staged: the sequencer's sweep moves them once the database is back.
        await outboxSettled(t.app, 20_000);
        const ids = [...ackedCreates];
        const { rows: agentRows } = await check.query<{ id: string }>('select id from agents where id = any($1::uuid[])', [ids]);
        const present = new Set(agentRows.map((r) => r.id));
        const lostCreates = ids.filter((id) => !present.has(id));
        const { rows: updated } = await check.query<{ agent_id: string; n: number }>(
          `select agent_id, (data->'agent'->'metadata'->>'n')::int as n from events where type = 'agent.updated'`,
        );
        const updates = new Set(updated.map((r) => `${r.agent_id}:${r.n}`));
        const lostPatches = ackedPatches.filter((p) => !updates.has(`${p.id}:${p.n}`));
        const positionsMismatch = async () => {
          const { rows } = await check.query<{ id: string; x: number }>('select id, x from agents where id = any($1::uuid[])', [
            [...lastAckedPosition.keys()],
          ]);
          const stored = new Map(rows.map((r) => [r.id, Number(r.x)]));
          return [...lastAckedPosition].filter(([id, x]) => stored.get(id) !== x);
        };
        let lostPositions = await positionsMismatch();
        const flushDeadline = Date.now() + 10_000;
        while (lostPositions.length > 0 && Date.now() < flushDeadline) {
          await new Promise((r) => setTimeout(r, 50));
          lostPositions = await positionsMismatch();
        }

        // Shutdown is not held up by a connection the outage stranded (close() gives up on the pool after 5 s).
        const closing = Date.now();
        await t.close();
        closed = true;
        const closeMs = Date.now() - closing;

        const byStatus: Record<string, number> = {};
        for (const o of outcomes) byStatus[String(o.status)] = (byStatus[String(o.status)] ?? 0) + 1;
        figures('postgres-restart', {
          faults,
          requests: outcomes.length,
          acked: acked().length,
          acked_creates: ackedCreates.size,
          acked_patches: ackedPatches.length,
          acked_positions_agents: lastAckedPosition.size,
          status: byStatus,
          hangs: outcomes.filter((o) => o.status === 'hang').length,
          lost: lostCreates.length + lostPatches.length + lostPositions.length,
          close_ms: closeMs,
          cycles,
          ms: Date.now() - started,
        });

        expect(problems, problems.slice(0, 5).join('\n')).toEqual([]);
        expect(Object.keys(byStatus).every((s) => s === '503' || /^2\d\d$/.test(s))).toBe(true);
        expect(cycles.every((cy) => cy.unavailable > 0)).toBe(true);
        expect(lostCreates).toEqual([]);
        expect(lostPatches).toEqual([]);
        expect(lostPositions).toEqual([]);
        expect(closeMs).toBeLessThan(3000);
      } finally {
        await c.run();
      }
    }, 60_000);
  });

  describe.skipIf(redisSkip !== null)(`Redis restarted under two replicas${redisSkip ? ` (skipped: ${redisSkip})` : ''}`, () => {
    it('keeps events flowing to sockets on the producing replica while Redis is down; fan-out between replicas resumes after', async () => {
      const c = cleanup();
      const started = Date.now();
      try {
        const redis = await RedisServer.start();
        c.add('stop redis-server', () => redis.stop());
        const prefix = `agentvm-faults:${randomBytes(4).toString('hex')}:`;
        const a = await buildTestApp({ redisUrl: redis.url, redisPrefix: prefix, listen: true, config: { worker: { embedded: false } } });
        c.add('close replica A', () => a.close());
        const b = await buildTestApp({
          databaseUrl: a.databaseUrl!,
          redisUrl: redis.url,
          redisPrefix: prefix,
          listen: true,
          config: { worker: { embedded: false } },
        });
        c.add('close replica B', () => b.close());
        const game = 'faults-redis';
        const wsA = await WsClient.connect(a.url, { game_id: game });
        c.add('close ws A', () => wsA.close());
        const wsB = await WsClient.connect(b.url, { game_id: game });
        c.add('close ws B', () => wsB.close());

        const create = async (t: TestApp, name: string) => {
          const res = await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', name, game_id: game } });
          expect(res.statusCode, res.body).toBe(201);
          return res.json<{ id: string }>().id;
        };
        const created = (id: string) => (f: Frame) => f.type === 'agent.created' && f.data?.agent?.id === id;

        // Fan-out works before the fault.
        const first = await create(a, 'before');
        await wsA.waitFor(created(first));
        await wsB.waitFor(created(first));

        await redis.stop();
        const downAt = Date.now();
        // Both replicas noticed (their command connection is no longer ready).
        await until(() => a.app.redis!.status !== 'ready' && b.app.redis!.status !== 'ready', 'the replicas to see Redis down');

        const duringOnA: string[] = [];
        const sameReplicaMs: number[] = [];
        for (let i = 0; i < 3; i++) {
          const id = await create(a, `down-a-${i}`);
          duringOnA.push(id);
          const sent = Date.now();
          await wsA.waitFor(created(id), 5_000);
          sameReplicaMs.push(Date.now() - sent);
        }
        const duringOnB = await create(b, 'down-b');
        await wsB.waitFor(created(duringOnB), 5_000);
        // A few seconds down: the clients' reconnect backoff has grown, so the replicas come back
        // one connection at a time (a subscription may return before the other replica can publish).
        await until(() => Date.now() - downAt >= 2500, 'the outage to last');

        await redis.start();
        const upAt = Date.now();
        // After the restart both directions fan out again, and what the other replica produced
        // during the outage is caught up from the log.
        const afterOnA = await create(a, 'after-a');
        await wsB.waitFor(created(afterOnA), 15_000);
        const crossMs = Date.now() - upAt;
        const afterOnB = await create(b, 'after-b');
        await wsA.waitFor(created(afterOnB), 15_000);
        for (const id of duringOnA) await wsB.waitFor(created(id), 5_000);
        await wsA.waitFor(created(duringOnB), 5_000);

        // Both sockets: every durable event of the game exactly once, in seq order.
        const rows = await a.app.database.rows<{ seq: string }>(
          (await import('drizzle-orm')).sql`select seq from events where game_id = ${game} order by seq`,
        );
        const logged = rows.map((r) => Number(r.seq));
        await until(() => wsA.durable().length >= logged.length && wsB.durable().length >= logged.length, 'both sockets to catch up');
        const seqsA = wsA.durable().map((f) => f.seq as number);
        const seqsB = wsB.durable().map((f) => f.seq as number);
        const dups = (s: number[]) => s.length - new Set(s).size;
        figures('redis-restart', {
          faults: 1,
          events_during_outage: duringOnA.length + 1,
          same_replica_delivery_ms: sameReplicaMs,
          cross_replica_resume_ms: crossMs,
          outage_ms: upAt - downAt,
          logged: logged.length,
          delivered_a: seqsA.length,
          delivered_b: seqsB.length,
          duplicates: dups(seqsA) + dups(seqsB),
          ms: Date.now() - started,
        });
        expect(seqsA).toEqual(logged);
        expect(seqsB).toEqual(logged);
      } finally {
        await c.run();
      }
    }, 60_000);
  });

  describe('worker killed mid-task', () => {
    it('SIGKILL while it holds a running task: after the lease expires another worker runs it, and it completes exactly once', async () => {
      const c = cleanup();
      const started = Date.now();
      try {
        const prefix = `agentvm-faults:${randomBytes(4).toString('hex')}:`;
        const t = await buildTestApp({ redisPrefix: prefix, config: { ...SLOW_TYPES, worker: { embedded: false } } });
        c.add('close the app', () => t.close());
        const config = testingConfigDir(SLOW_TYPES);
        c.add('remove the config dir', () => config.remove());
        // The worker that dies: `npm run worker` as its own process.
        const doomed = new ApiProcess({
          entry: 'worker',
          env: { DATABASE_URL: t.databaseUrl!, REDIS_URL: redisUrl(), AGENTVM_REDIS_PREFIX: prefix, AGENTVM_CONFIG_DIR: config.dir },
        });
        c.add('kill the worker process', () => doomed.kill());
        await doomed.start();

        const agent = await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'slowsim', game_id: 'faults-worker' } });
        expect(agent.statusCode, agent.body).toBe(201);
        const agentId = agent.json<{ id: string }>().id;
        const assigned = await t.request({
          method: 'POST',
          url: '/tasks/assign',
          body: { description: 'survive a SIGKILL', task_type: 'code', agent_id: agentId, max_attempts: 3 },
        });
        expect(assigned.statusCode, assigned.body).toBe(201);
        const taskId = assigned.json<{ id: string }>().id;
        const status = async () => (await t.request({ method: 'GET', url: `/tasks/${taskId}/status` })).json<any>();

        // Mid-task: running in the worker process, heart-beating progress.
        await until(async () => {
          const s = await status();
          return s.status === 'running' && s.progress > 0 ? s : undefined;
        }, 'the worker process to be mid-task');
        const [held] = await t.app.database.rows<{ lease_token: string }>(
          (await import('drizzle-orm')).sql`select lease_token from tasks where id = ${taskId}`,
        );
        await doomed.stop('SIGKILL');
        const killedAt = Date.now();
        const afterKill = await status();
        expect(afterKill.status).toBe('running'); // nobody else may touch it while the lease runs
        expect(afterKill.attempts).toBe(1);

        // Another worker (embedded in an api replica) reaps the expired lease and runs the task again.
        const rescuer = await buildTestApp({ databaseUrl: t.databaseUrl!, redisPrefix: prefix, config: SLOW_TYPES });
        c.add('close the second worker', () => rescuer.close());
        const done = await until(
          async () => {
            const s = await status();
            return ['completed', 'failed', 'cancelled'].includes(s.status) ? s : undefined;
          },
          'the task to finish on the second worker',
          20_000,
        );
        const finishedAt = Date.now();

        // The dead worker's lease, should it come back (a paused VM), can no longer finish the task.
        const stale = await t.app.tasks.complete(taskId, held!.lease_token, { from: 'the dead worker' }, null).then(
          () => 'accepted',
          (err: { code?: string; statusCode?: number }) => `${err.statusCode} ${err.code}`,
        );

        // The second worker's completion is visible a moment before its events are sequenced.
        await outboxSettled(t.app);
        const events = await t.app.database.rows<{ type: string; data: any; seq: string }>(
          (await import('drizzle-orm')).sql`select seq, type, data from events where task_id = ${taskId} order by seq`,
        );
        const of = (type: string) => events.filter((e) => e.type === type);
        const agentNow = (await t.request({ method: 'GET', url: `/agents/${agentId}` })).json<any>();
        figures('worker-sigkill', {
          faults: 1,
          final_status: done.status,
          attempts: done.attempts,
          completions: of('task.completed').length,
          duplicates: Math.max(0, of('task.completed').length - 1),
          started: of('task.started').length,
          failed_attempts: of('task.failed').map((e) => e.data.error?.code),
          stale_lease_complete: stale,
          recovered_ms_after_kill: finishedAt - killedAt,
          ms: Date.now() - started,
        });
        expect(done.status).toBe('completed');
        expect(done.attempts).toBe(2);
        expect(of('task.completed')).toHaveLength(1);
        expect(of('task.started').map((e) => e.data.attempt)).toEqual([1, 2]);
        expect(of('task.failed')).toHaveLength(1);
        expect(of('task.failed')[0]!.data).toMatchObject({ attempt: 1, will_retry: true, error: { code: 'lease_expired' } });
        expect(stale).toBe('409 lease_lost');
        expect(agentNow.status).toBe('idle');
      } finally {
        await c.run();
      }
    }, 60_000);
  });

  describe('api restarted under a WebSocket client', () => {
    it('resuming with since=<last seq> across a SIGTERM restart, the client sees every event exactly once, in order', async () => {
      const c = cleanup();
      const started = Date.now();
      try {
        const prefix = `agentvm-faults:${randomBytes(4).toString('hex')}:`;
        // The producer: another replica on the same database and Redis (it keeps writing while the api is down).
        const t = await buildTestApp({ redisPrefix: prefix, config: { ...SLOW_TYPES, worker: { embedded: false } } });
        c.add('close the producer', () => t.close());
        const config = testingConfigDir(SLOW_TYPES);
        c.add('remove the config dir', () => config.remove());
        const port = await freePort();
        const api = new ApiProcess({
          entry: 'server',
          port,
          env: { DATABASE_URL: t.databaseUrl!, REDIS_URL: redisUrl(), AGENTVM_REDIS_PREFIX: prefix, AGENTVM_CONFIG_DIR: config.dir },
        });
        c.add('kill the api', () => api.kill());
        await api.start();

        const ws1 = await WsClient.connect(api.url, { since: 0 });
        c.add('close ws 1', () => ws1.close());

        let stop = false;
        c.add('stop the producer', () => {
          stop = true;
        });
        const producerErrors: string[] = [];
        const agentIds: string[] = [];
        const producer = (async () => {
          let n = 0;
          while (!stop) {
            n++;
            const res =
              agentIds.length === 0 || n % 3 === 0
                ? await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: 'faults-api' } })
                : await t.request({ method: 'PATCH', url: `/agents/${agentIds[n % agentIds.length]}`, body: { metadata: { n } } });
            if (res.statusCode === 201) agentIds.push(res.json<{ id: string }>().id);
            else if (res.statusCode !== 200) producerErrors.push(`${res.statusCode} ${res.body.slice(0, 200)}`);
            await new Promise((r) => setTimeout(r, 30));
          }
        })();

        // Tasks the api's embedded worker is running when it is told to stop: it hands them back
        // (task.failed worker_shutdown) during its shutdown, and the restarted api completes them.
        const taskIds: string[] = [];
        for (let i = 0; i < 2; i++) {
          const agent = await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'slowsim', game_id: 'faults-api' } });
          const task = await t.request({
            method: 'POST',
            url: '/tasks/assign',
            body: { description: `across the restart ${i}`, task_type: 'code', agent_id: agent.json<{ id: string }>().id, max_attempts: 3 },
          });
          expect(task.statusCode, task.body).toBe(201);
          taskIds.push(task.json<{ id: string }>().id);
        }
        for (const id of taskIds) await ws1.waitFor((f) => f.type === 'task.started' && f.data?.task_id === id);
        await until(() => ws1.durable().length >= 15, 'events before the restart');

        const stopping = Date.now();
        const exit = await api.stop('SIGTERM');
        const stoppedAt = Date.now();
        await until(() => ws1.closed, 'the socket to close');
        const lastSeq = Math.max(...ws1.durable().map((f) => f.seq as number));
        await api.start();
        const back = Date.now();
        const ws2 = await WsClient.connect(api.url, { since: lastSeq });
        c.add('close ws 2', () => ws2.close());

        for (const id of taskIds) await ws2.waitFor((f) => f.type === 'task.completed' && f.data?.task_id === id, 20_000);
        const afterCount = ws2.durable().length;
        await until(() => ws2.durable().length >= afterCount + 5, 'events after the restart');
        stop = true;
        await producer;

        const rows = await t.app.database.rows<{ seq: string; created_at: Date; type: string; data: any }>(
          (await import('drizzle-orm')).sql`select seq, created_at, type, data from events order by seq`,
        );
        const logged = rows.map((r) => Number(r.seq));
        const lastLogged = logged[logged.length - 1]!;
        await until(() => ws2.durable().some((f) => f.seq === lastLogged), 'the client to reach the end of the log');
        const seen = [...ws1.durable(), ...ws2.durable()].map((f) => f.seq as number);
        const seenSet = new Set(seen);
        const duplicates = seen.length - seenSet.size;
        const gaps = logged.filter((s) => !seenSet.has(s));
        const shutdownFailures = rows.filter((r) => r.type === 'task.failed' && r.data?.error?.code === 'worker_shutdown');
        const during = rows.filter((r) => Number(r.seq) > lastSeq && new Date(r.created_at).getTime() < back);
        figures('api-restart', {
          faults: 1,
          exit: exit.code ?? exit.signal,
          stop_ms: stoppedAt - stopping,
          down_ms: back - stopping,
          events_logged: logged.length,
          before: logged.filter((s) => s <= lastSeq).length,
          during_shutdown_or_down: during.length,
          handed_back_by_shutdown: shutdownFailures.length,
          after: logged.length - logged.filter((s) => s <= lastSeq).length - during.length,
          seen: seen.length,
          gaps: gaps.length,
          duplicates,
          ms: Date.now() - started,
        });
        expect(producerErrors).toEqual([]);
        expect(exit.code).toBe(0);
        expect(ws1.closed?.code).toBe(1001);
        expect(during.length).toBeGreaterThan(0);
        expect(shutdownFailures.length).toBe(taskIds.length);
        expect(gaps).toEqual([]);
        expect(duplicates).toBe(0);
        expect(seen).toEqual(logged);
      } finally {
        await c.run();
      }
    }, 60_000);
  });
});
