/**
 * The task pipeline (issue #11): tasks created → completed per second and assignment latency of
 * the api's task engine, against graphile-worker and pg-boss measured in the same run on the
 * same Postgres, each with the same concurrency and the same enqueue pattern.
 *
 * What runs the api's tasks — both are measured, on one deployment, each in its own game:
 * - agents of type `sim` (bench/configs/production.yaml: the built-in simulated runtime at speed
 *   0.0001, no failures), run by the api's embedded worker: the engine's in-process path
 *   (dispatch, start under a lease, complete) with no HTTP hop per task. Not free: the simulated
 *   runtime walks its personality's phases, so each task also records ~4 activity changes
 *   (durable agent.state_changed, each its own transaction) that a no-op job does not;
 * - agents of type `bench` (runtime external) driven by a loop in this process over the runtime
 *   protocol: claim (long-poll), complete at once — a true no-op job, plus two HTTP round trips.
 * CONCURRENCY agents (one task each at a time) = the worker's concurrency (64 by default) = the
 * baselines' concurrency.
 *
 * Phases per system: warm-up — WARM_DRAIN tasks/jobs run (api: through agents of a game of their
 * own; baselines: then the workers stop); drain — N tasks/jobs queued while nothing can run them
 * (api: no sim agent yet / bench agents offline; baselines: workers stopped), then the
 * agents/workers come, the rate they are worked off is reported (processing capacity alone);
 * warm-up; throughput —
 * ENQUEUERS closed loops create N tasks/jobs while the workers run, tasks/s = N / (first create
 * → last completion); latency — tasks created at
 * LATENCY_RATE per second (below saturation), latency = event receipt (api: task.assigned /
 * task.started over WebSocket) or handler start (baselines) − the client's send time.
 * Exactly-once: every api task completed, attempts = 1, one task.completed in the log and one on
 * the socket each; every baseline job ran once (and its queue is empty / all completed).
 * CPU time per task (per job) of the throughput phase is noted for both, from /proc: the api
 * process against the baseline's worker process + this process (its enqueuer), and every local
 * `postgres` process — less noisy than tasks/s on a shared machine, and it shows what bounds
 * tasks/s here: two cores divided by the CPU one task costs on all of them.
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { Scope } from './lib/cleanup.js';
import { createDatabase } from './lib/db.js';
import { DURATION_S } from './lib/env.js';
import { cpuSeconds, postgresCpuSeconds } from './lib/load.js';
import { percentile } from './lib/stats.js';
import { markdownTable, type Row } from './lib/table.js';
import { QueueBaseline, type QueueKind } from './lib/tasks-queue.js';
import { TaskTap } from './lib/tasks-tap.js';
import { ApiDeployment, Rest } from './lib/ws-api.js';
import { wsUrl } from './lib/ws-fleet.js';
import { nowMs, sleep } from './lib/ws-stats.js';

const CONCURRENCY = Number(process.env.BENCH_TASKS_CONCURRENCY ?? 64);
/** Tasks/jobs per throughput phase. */
const N = Number(process.env.BENCH_TASKS ?? Math.max(500, 100 * DURATION_S));
const ENQUEUERS = 16;
const LATENCY_RATE = Number(process.env.BENCH_TASKS_LATENCY_RATE ?? 20);
const WARM = 50;
/**
 * Tasks/jobs each system runs before its backlog drain (the api: through agents of a game of
 * their own). The drain was each system's first work after start: the api's included its
 * warm-up (JIT, Postgres's per-connection plans of its functions) — its sim drain 513/s cold
 * against 1,113–1,175/s warm on the same deployment, graphile-worker's 1,577–1,870/s either way.
 */
const WARM_DRAIN = Number(process.env.BENCH_TASKS_WARM_DRAIN ?? 300);
const GAME = 'tasks-bench';
const SECTION = 'Task pipeline';
const DONE_TIMEOUT_MS = 300_000;

interface Result {
  perS: number;
  /** A backlog of N worked off, per second. */
  drainPerS: number;
  /** CPU time per task (job) while the backlog drained: the api's or the worker's, and Postgres's. */
  drainCpu: string;
  /** Assignment (api) — or pick-up for the baselines. */
  assign: number[];
  pickup: number[];
  elapsedS: number;
  errors: string[];
  notes: string[];
}

async function closedLoops(count: number, loops: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

async function pacedFor(rate: number, seconds: number, fn: () => Promise<void>): Promise<void> {
  const start = nowMs();
  const inflight = new Set<Promise<void>>();
  let due = 0;
  while (nowMs() - start < seconds * 1000) {
    for (const target = Math.floor(((nowMs() - start) / 1000) * rate); due < target; due++) {
      const p = fn().finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await sleep(2);
  }
  await Promise.all(inflight);
}

type Runtime = 'sim' | 'bench';

/** The runtime loops of `bench` agents: claim (long-poll), complete at once — a no-op job. */
function runtimeLoops(rest: Rest, agents: string[], errors: string[]): { stop: () => Promise<void> } {
  let stopped = false;
  const loops = agents.map(async (agentId) => {
    while (!stopped) {
      try {
        const claim = await rest.request<{ task: { id: string }; lease: { token: string } }>('POST', '/runtime/claim', {
          agent_id: agentId,
          wait_s: 1,
        });
        if (claim.status === 204) continue;
        if (claim.status !== 200) throw new Error(`claim → ${claim.status} ${JSON.stringify(claim.body).slice(0, 200)}`);
        const { task, lease } = claim.body;
        await rest.call('POST', `/runtime/tasks/${task.id}/complete`, { lease_token: lease.token, result: null });
      } catch (err) {
        if (errors.length < 5) errors.push(`runtime loop: ${(err as Error).message}`);
        await sleep(100);
      }
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

async function runApi(deployment: ApiDeployment, runtime: Runtime): Promise<Result> {
  const a = deployment.replicas[0]!;
  const game = `${GAME}-${runtime}`;
  const rest = new Rest(a.url, ENQUEUERS * 2);
  const runtimeRest = new Rest(a.url, CONCURRENCY + 4);
  const db = new pg.Client({ connectionString: deployment.databaseUrl });
  const loopErrors: string[] = [];
  let loops: { stop: () => Promise<void> } | null = null;
  let tap: TaskTap | null = null;
  try {
    await db.connect();
    tap = await TaskTap.open(wsUrl(a.url, { game_id: game, types: 'task.*' }));
    const t0 = new Map<string, number>();
    const create = async (gameId = game) => {
      const sent = nowMs();
      const task = await rest.call<{ id: string }>(
        'POST',
        '/tasks/assign',
        { description: 'noop', task_type: 'bench', game_id: gameId },
        201,
      );
      t0.set(task.id, sent);
      return task.id;
    };
    const createAgent = async (i: number, gameId = game) =>
      (
        await rest.call<{ id: string }>(
          'POST',
          '/agents/create',
          { agent_type: runtime, name: `${runtime}-${gameId === game ? '' : 'warm-'}${i}`, game_id: gameId },
          201,
        )
      ).id;

    // Warm-up: WARM_DRAIN tasks through CONCURRENCY agents of a game of their own (they stay,
    // idle, in that game: the drain's tasks are not theirs).
    const warmGame = `${game}-warm`;
    const warmTap = await TaskTap.open(wsUrl(a.url, { game_id: warmGame, types: 'task.*' }));
    try {
      const warmAgents: string[] = [];
      await closedLoops(CONCURRENCY, ENQUEUERS, async (i) => void warmAgents.push(await createAgent(i, warmGame)));
      const warmLoops = runtime === 'bench' ? runtimeLoops(runtimeRest, warmAgents, loopErrors) : null;
      const warmTasks: string[] = [];
      await closedLoops(WARM_DRAIN, ENQUEUERS, async () => void warmTasks.push(await create(warmGame)));
      const warmed = await warmTap.waitFor(warmTasks, 'task.completed', DONE_TIMEOUT_MS);
      await warmLoops?.stop();
      if (!warmed) throw new Error(`api (${runtime}): ${warmTap.missing(warmTasks, 'task.completed').length} warm-up tasks not completed`);
    } finally {
      warmTap.close();
    }

    // Drain: N tasks queued while no agent can take them (sim: none exist yet; bench: offline
    // until their runtime's first claim), then the agents come — the engine's processing alone.
    const backlog: string[] = [];
    const agents: string[] = [];
    if (runtime === 'bench') for (let i = 0; i < CONCURRENCY; i++) agents.push(await createAgent(i));
    await closedLoops(N, ENQUEUERS, async () => void backlog.push(await create()));
    const drainCpu0 = { api: await cpuSeconds(a.pid), pg: await postgresCpuSeconds() };
    const drainStart = nowMs();
    if (runtime === 'bench') loops = runtimeLoops(runtimeRest, agents, loopErrors);
    // Sixteen at a time, as a worker pool starts its slots together (created one by one, the
    // backlog's drain included the ramp of 64 sequential create requests).
    else await closedLoops(CONCURRENCY, ENQUEUERS, async (i) => void agents.push(await createAgent(i)));
    if (!(await tap.waitFor(backlog, 'task.completed', DONE_TIMEOUT_MS))) {
      throw new Error(`api (${runtime}): ${tap.missing(backlog, 'task.completed').length} of ${N} queued tasks not completed`);
    }
    const drainPerS = N / ((Math.max(...backlog.map((id) => tap!.tasks.get(id)!.at.get('task.completed')!)) - drainStart) / 1000);
    const drainCpuMs = {
      api: (((await cpuSeconds(a.pid)) - drainCpu0.api) / N) * 1000,
      pg: (((await postgresCpuSeconds()) - drainCpu0.pg) / N) * 1000,
    };
    // Where a backlog task's time goes, by the engine's clocks (now() of each transaction):
    // waiting to start once assigned, running, and an agent's wait for its next task.
    const { rows: stages } = await db.query<Record<'start' | 'run' | 'next', number[]>>(
      `with t as (select assigned_at, started_at, finished_at,
                    lag(finished_at) over (partition by agent_id order by assigned_at) as prev_done
               from tasks where id = any($1::uuid[]))
       select percentile_disc(array[0.5, 0.99]) within group (order by extract(epoch from started_at - assigned_at) * 1000) as start,
              percentile_disc(array[0.5, 0.99]) within group (order by extract(epoch from finished_at - started_at) * 1000) as run,
              percentile_disc(array[0.5, 0.99]) within group (order by extract(epoch from assigned_at - prev_done) * 1000) as next
         from t`,
      [backlog],
    );
    const stage = (xs: number[] | undefined) => (xs ?? []).map((x) => Number(x).toFixed(1)).join(' / ');
    const backlogStages = `database clocks p50 / p99: assigned → started ${stage(stages[0]?.start)} ms, started → finished ${stage(
      stages[0]?.run,
    )} ms, an agent's previous task finished → next assigned ${stage(stages[0]?.next)} ms`;

    const warm: string[] = [];
    await closedLoops(WARM, ENQUEUERS, async () => void warm.push(await create()));
    if (!(await tap.waitFor(warm, 'task.completed', 60_000))) throw new Error(`api (${runtime}): warm-up tasks did not complete in 60 s`);

    const ids: string[] = [];
    const cpu0 = { api: await cpuSeconds(a.pid), pg: await postgresCpuSeconds() };
    const start = nowMs();
    await closedLoops(N, ENQUEUERS, async () => void ids.push(await create()));
    const createdS = (nowMs() - start) / 1000;
    if (!(await tap.waitFor(ids, 'task.completed', DONE_TIMEOUT_MS))) {
      throw new Error(
        `api (${runtime}): ${tap.missing(ids, 'task.completed').length} of ${N} tasks not completed after ${DONE_TIMEOUT_MS / 1000} s`,
      );
    }
    const last = Math.max(...ids.map((id) => tap!.tasks.get(id)!.at.get('task.completed')!));
    const elapsedS = (last - start) / 1000;
    // CPU time per task of the throughput phase (from /proc; the api's and every local postgres
    // process's): varies less between runs than tasks/s on a shared machine.
    const cpuMs = {
      api: (((await cpuSeconds(a.pid)) - cpu0.api) / N) * 1000,
      pg: (((await postgresCpuSeconds()) - cpu0.pg) / N) * 1000,
    };

    const paced: string[] = [];
    await pacedFor(LATENCY_RATE, DURATION_S, async () => void paced.push(await create()));
    if (!(await tap.waitFor(paced, 'task.completed', 60_000)))
      throw new Error(`api (${runtime}): latency-phase tasks did not complete in 60 s`);
    const since = (id: string, type: string) => tap!.tasks.get(id)!.at.get(type)! - t0.get(id)!;
    const assign = paced.map((id) => since(id, 'task.assigned'));
    const pickup = paced.map((id) => since(id, 'task.started'));
    await loops?.stop();
    loops = null;

    // Exactly-once, from the database and the socket.
    const all = [...backlog, ...warm, ...ids, ...paced];
    const errors: string[] = loopErrors.map((e) => `${runtime}: ${e}`);
    const { rows: states } = await db.query<{ status: string; attempts: number; n: string }>(
      `select status, attempts, count(*) as n from tasks where game_id = $1 group by status, attempts`,
      [game],
    );
    const bad = states.filter((r) => r.status !== 'completed' || r.attempts !== 1);
    if (bad.length) errors.push(`${runtime}: tasks not completed exactly once at the first attempt: ${JSON.stringify(bad)}`);
    const total = states.reduce((n, r) => n + Number(r.n), 0);
    if (total !== all.length) errors.push(`${runtime}: ${total} tasks in the database, ${all.length} created`);
    const { rows: logged } = await db.query<{ task_id: string; n: string }>(
      `select task_id, count(*) as n from events where type = 'task.completed' and game_id = $1 group by task_id`,
      [game],
    );
    const twice = logged.filter((r) => Number(r.n) !== 1);
    if (twice.length) errors.push(`${runtime}: ${twice.length} tasks with more than one task.completed in the log`);
    if (logged.length !== all.length) errors.push(`${runtime}: ${logged.length} task.completed events in the log for ${all.length} tasks`);
    const { rows: counters } = await db.query<{ n: string }>(
      `select coalesce(sum(tasks_completed), 0) as n from agents where game_id = $1`,
      [game],
    );
    if (Number(counters[0]!.n) !== all.length)
      errors.push(`${runtime}: agents' tasks_completed sum to ${counters[0]!.n}, not ${all.length}`);
    const onSocket = all.filter((id) => tap!.tasks.get(id)?.count.get('task.completed') !== 1).length;
    if (onSocket) errors.push(`${runtime}: ${onSocket} tasks did not arrive exactly once as task.completed on the socket`);
    if (tap.duplicates) errors.push(`${runtime}: ${tap.duplicates} duplicate events on the socket`);

    // For reference: the engine's own clock (database timestamps), and what each task cost.
    const { rows: dbLat } = await db.query<{ assign99: number; start99: number }>(
      `select percentile_disc(0.99) within group (order by extract(epoch from assigned_at - created_at) * 1000) as assign99,
              percentile_disc(0.99) within group (order by extract(epoch from started_at - created_at) * 1000) as start99
         from tasks where id = any($1::uuid[])`,
      [paced],
    );
    const { rows: perTask } = await db.query<{ n: string }>(
      `select count(*) as n from events where game_id = $1 and type <> 'agent.created'`,
      [game],
    );
    return {
      perS: N / elapsedS,
      drainPerS,
      drainCpu: `api ${drainCpuMs.api.toFixed(2)} ms, postgres ${drainCpuMs.pg.toFixed(2)} ms`,
      assign,
      pickup,
      elapsedS,
      errors,
      notes: [
        `${N} tasks created in ${createdS.toFixed(1)} s (${Math.round(N / createdS)}/s), all completed after ${elapsedS.toFixed(1)} s; CPU per task: api ${cpuMs.api.toFixed(2)} ms, postgres ${cpuMs.pg.toFixed(2)} ms; ${(
          Number(perTask[0]!.n) / all.length
        ).toFixed(1)} durable events per task; a backlog of ${N} drains at ${Math.round(drainPerS)}/s`,
        `database clocks: assigned_at − created_at p99 ${Number(dbLat[0]?.assign99).toFixed(1)} ms, started_at − created_at p99 ${Number(
          dbLat[0]?.start99,
        ).toFixed(1)} ms`,
        backlogStages,
      ],
    };
  } finally {
    await loops?.stop();
    tap?.close();
    rest.close();
    runtimeRest.close();
    await db.end().catch(() => undefined);
  }
}

async function runQueue(kind: QueueKind): Promise<Result> {
  const scope = new Scope();
  const database = scope.add(`${kind} database`, await createDatabase(kind), (d) => d.drop());
  let q: QueueBaseline | null = null;
  try {
    q = await QueueBaseline.start(kind, database.url, CONCURRENCY, ENQUEUERS);
    const queue = q;
    const waitHandled = async (n: number) => {
      const deadline = Date.now() + DONE_TIMEOUT_MS;
      for (;;) {
        const s = await queue.stats();
        if (s.handled >= n) return s;
        if (Date.now() > deadline) throw new Error(`${kind}: ${s.handled} of ${n} jobs handled after ${DONE_TIMEOUT_MS / 1000} s`);
        await sleep(20);
      }
    };
    // Warm-up: WARM_DRAIN jobs run, then the workers stop (the process stays).
    await queue.work();
    await closedLoops(WARM_DRAIN, ENQUEUERS, () => queue.add(nowMs()));
    await waitHandled(WARM_DRAIN);
    await queue.pause();
    // Drain: N jobs enqueued while no worker runs, then the workers start (processing capacity
    // alone; in the created → completed phase below the enqueue rate can be the limit).
    await closedLoops(N, ENQUEUERS, () => queue.add(nowMs()));
    const drainCpu0 = { worker: await cpuSeconds(queue.pid), pg: await postgresCpuSeconds() };
    const drainStart = nowMs();
    await queue.work();
    const drained = await waitHandled(WARM_DRAIN + N);
    const drainPerS = N / ((drained.lastDoneAt - drainStart) / 1000);
    const drainCpuMs = {
      worker: (((await cpuSeconds(queue.pid)) - drainCpu0.worker) / N) * 1000,
      pg: (((await postgresCpuSeconds()) - drainCpu0.pg) / N) * 1000,
    };

    await closedLoops(WARM, ENQUEUERS, () => queue.add(nowMs()));
    await waitHandled(WARM_DRAIN + N + WARM);

    const cpu0 = { worker: await cpuSeconds(queue.pid), enqueuer: process.cpuUsage(), pg: await postgresCpuSeconds() };
    const start = nowMs();
    await closedLoops(N, ENQUEUERS, () => queue.add(nowMs()));
    const createdS = (nowMs() - start) / 1000;
    const done = await waitHandled(WARM_DRAIN + N + WARM + N);
    const elapsedS = (done.lastDoneAt - start) / 1000;
    // The same CPU split as the api's: worker + enqueuing client (this process, which does
    // little else meanwhile) against the api process, and every local postgres process.
    const enq = process.cpuUsage(cpu0.enqueuer);
    const cpuMs = {
      client: (((await cpuSeconds(queue.pid)) - cpu0.worker + (enq.user + enq.system) / 1e6) / N) * 1000,
      pg: (((await postgresCpuSeconds()) - cpu0.pg) / N) * 1000,
    };

    await queue.mark();
    let sent = 0;
    await pacedFor(LATENCY_RATE, DURATION_S, async () => {
      sent++;
      await queue.add(nowMs());
    });
    const total = WARM_DRAIN + N + WARM + N + sent;
    const final = await waitHandled(total);
    const errors: string[] = [];
    if (final.duplicates) errors.push(`${kind}: ${final.duplicates} jobs ran more than once`);
    if (final.distinct !== total) errors.push(`${kind}: ${final.distinct} distinct jobs ran, ${total} enqueued`);
    // What the queue itself says once it settled (completions are written after the handler).
    await sleep(1000);
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    try {
      const sql =
        kind === 'graphile'
          ? `select count(*) as n from graphile_worker._private_jobs`
          : `select count(*) as n from pgboss.job where name = 'noop' and state <> 'completed'`;
      const { rows } = await c.query<{ n: string }>(sql);
      if (Number(rows[0]!.n) !== 0) errors.push(`${kind}: ${rows[0]!.n} jobs left unfinished in its tables`);
    } finally {
      await c.end();
    }
    return {
      perS: N / elapsedS,
      drainPerS,
      drainCpu: `worker ${drainCpuMs.worker.toFixed(2)} ms, postgres ${drainCpuMs.pg.toFixed(2)} ms`,
      assign: final.latencies,
      pickup: final.latencies,
      elapsedS,
      errors,
      notes: [
        `${N} jobs, enqueued in ${createdS.toFixed(1)} s (${Math.round(N / createdS)}/s), all run after ${elapsedS.toFixed(1)} s; ` +
          `CPU per job: worker + enqueuer ${cpuMs.client.toFixed(2)} ms, postgres ${cpuMs.pg.toFixed(2)} ms; ` +
          `a backlog of ${N} drains at ${Math.round(drainPerS)}/s`,
      ],
    };
  } finally {
    await q?.stop();
    await scope.close();
  }
}

export async function runTasks(): Promise<Row[]> {
  const deployment = await ApiDeployment.start('tasks');
  let api: Result;
  let external: Result;
  try {
    api = await runApi(deployment, 'sim');
    external = await runApi(deployment, 'bench');
  } finally {
    await deployment.stop();
  }
  const graphile = await runQueue('graphile');
  const boss = await runQueue('pgboss');
  const p99 = (xs: number[]) => percentile(xs, 99);
  const p50 = (xs: number[]) => percentile(xs, 50);
  const conc = `concurrency ${CONCURRENCY}`;
  const rows: Row[] = [];
  for (const [label, r] of [
    ['sim agents, embedded worker', api],
    ['bench agents, runtime protocol', external],
  ] as const) {
    rows.push(
      {
        section: SECTION,
        metric: `tasks/s created → completed, ${label} (${N}, ${conc}, ${ENQUEUERS} creators)`,
        value: r.perS,
        unit: '/s',
        baseline: { name: 'graphile-worker', value: graphile.perS },
        target: '≥ 1,000/s and ≥ 50 % of graphile-worker',
        pass: r.perS >= 1000 && r.perS >= 0.5 * graphile.perS,
        note: r.notes[0],
      },
      {
        section: SECTION,
        metric: `backlog of ${N} worked off, tasks/s, ${label}`,
        value: r.drainPerS,
        unit: '/s',
        baseline: { name: 'graphile-worker', value: graphile.drainPerS },
        target: '≥ 50 % of graphile-worker',
        pass: r.drainPerS >= 0.5 * graphile.drainPerS,
        note: `pg-boss ${Math.round(boss.drainPerS)}/s; CPU per task while draining: ${r.drainCpu} (graphile-worker per job: ${graphile.drainCpu}); ${r.notes[2]}`,
      },
      {
        section: SECTION,
        metric: `tasks/s vs pg-boss, ${label}`,
        value: r.perS,
        unit: '/s',
        baseline: { name: 'pg-boss', value: boss.perS },
        target: 'ahead of pg-boss',
        pass: r.perS > boss.perS,
      },
      {
        section: SECTION,
        metric: `assignment latency p99 at ${LATENCY_RATE} tasks/s, ${label} (send → task.assigned received)`,
        value: p99(r.assign),
        unit: 'ms',
        baseline: { name: 'graphile-worker pick-up p99', value: p99(graphile.pickup) },
        target: 'p99 < 10 ms',
        pass: p99(r.assign) < 10,
        note: `p50 ${p50(r.assign).toFixed(1)} ms; ${r.notes[1]}`,
      },
      {
        section: SECTION,
        metric: `pick-up latency p99 at ${LATENCY_RATE}/s, ${label} (send → task.started received)`,
        value: p99(r.pickup),
        unit: 'ms',
        baseline: { name: 'pg-boss pick-up p99', value: p99(boss.pickup) },
        note: `p50 ${p50(r.pickup).toFixed(1)} ms`,
      },
    );
  }
  rows.push(
    {
      section: SECTION,
      metric: `graphile-worker jobs/s and pick-up (handler start − send) at ${LATENCY_RATE}/s`,
      value: graphile.perS,
      unit: '/s',
      note: `${graphile.notes[0]}; pick-up p50 ${p50(graphile.pickup).toFixed(1)} ms, p99 ${p99(graphile.pickup).toFixed(1)} ms`,
    },
    {
      section: SECTION,
      metric: `pg-boss jobs/s and pick-up at ${LATENCY_RATE}/s`,
      value: boss.perS,
      unit: '/s',
      note: `${boss.notes[0]}; pick-up p50 ${p50(boss.pickup).toFixed(1)} ms, p99 ${p99(boss.pickup).toFixed(1)} ms (polls every 0.5 s, not woken by a new job)`,
    },
  );
  const errors = [...api.errors, ...external.errors, ...graphile.errors, ...boss.errors];
  rows.push({
    section: SECTION,
    metric: 'exactly-once (api: db + log + socket; baselines: handler counts + queue tables)',
    value: errors.length,
    unit: 'violations',
    target: '0',
    pass: errors.length === 0,
    note: errors.join('; ') || 'every task and job completed exactly once',
  });
  if (errors.length) throw Object.assign(new Error(`task bench: ${errors.join('; ')}\n\n${markdownTable(rows)}`), { rows });
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runTasks().then(
    (rows) => console.log(markdownTable(rows)),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
