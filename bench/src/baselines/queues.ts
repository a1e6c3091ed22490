/**
 * Baselines for the task pipeline: graphile-worker and pg-boss on the same Postgres, each in its
 * own process (as the api's engine is), running a no-op job at a given concurrency. Started by
 * tasks.ts through fork():
 *
 *   queues.ts <graphile|pgboss> <database url> <concurrency>
 *
 * The process prepares the queue (schema, queue) at once and starts its workers on `work` (and
 * stops them on `pause`, keeping the process: the parent warms it up, then enqueues a backlog
 * while nothing runs and times its drain). The parent enqueues jobs with
 * {t0: <send time>} itself and asks over IPC for what was handled:
 * how many jobs, how many distinct ids (a job run twice is a duplicate), when the last one ran,
 * and the pick-up latencies (handler start − t0) since the last `mark`.
 *
 * Settings are each library's defaults except the concurrency and the pool: graphile-worker runs
 * `concurrency` jobs at once (LISTEN/NOTIFY wakes it on a new job); pg-boss 10 has no concurrency
 * option of its own, so `concurrency` workers each fetch one job at a time, polling every 0.5 s
 * (its minimum; it does not wake on a new job).
 */
import { Logger, run, runMigrations, type Runner } from 'graphile-worker';
import PgBoss from 'pg-boss';

export interface QueueStats {
  handled: number;
  distinct: number;
  duplicates: number;
  lastDoneAt: number;
  latencies: number[];
}

export type QueueRequest = { op: 'stats' } | { op: 'mark' } | { op: 'work' } | { op: 'pause' } | { op: 'stop' };

const [kind, url, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 64);
const seen = new Map<string, number>();
let handled = 0;
let lastDoneAt = 0;
let latencies: number[] = [];
const now = () => performance.timeOrigin + performance.now();

function onJob(id: string, t0: unknown): void {
  const started = now();
  handled++;
  seen.set(id, (seen.get(id) ?? 0) + 1);
  if (typeof t0 === 'number') latencies.push(started - t0);
  lastDoneAt = now();
}

let stop: () => Promise<void> = async () => undefined;
let work: () => Promise<void> = async () => undefined;
/** Stops taking jobs, the process and its queue staying (work() starts again). */
let pause: () => Promise<void> = async () => undefined;

const logger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`);
});

async function prepare(): Promise<void> {
  if (kind === 'graphile') {
    await runMigrations({ connectionString: url, logger });
    work = async () => {
      const runner: Runner = await run({
        connectionString: url,
        concurrency,
        maxPoolSize: 20,
        noHandleSignals: true,
        pollInterval: 2000,
        logger,
        taskList: {
          noop: async (payload, helpers) => {
            onJob(helpers.job.id, (payload as { t0?: number }).t0);
          },
        },
      });
      stop = () => runner.stop();
      pause = async () => {
        await runner.stop();
        stop = async () => undefined;
      };
    };
  } else if (kind === 'pgboss') {
    const boss = new PgBoss({ connectionString: url, max: 20 });
    boss.on('error', (err: Error) => console.error(`pg-boss: ${err.message}`));
    await boss.start();
    await boss.createQueue('noop');
    stop = () => boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    pause = () => boss.offWork('noop');
    work = async () => {
      for (let i = 0; i < concurrency; i++) {
        await boss.work<{ t0?: number }>('noop', { batchSize: 1, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          for (const job of jobs) onJob(job.id, job.data.t0);
        });
      }
    };
  } else {
    throw new Error(`unknown queue ${kind}`);
  }
}

function stats(): QueueStats {
  let duplicates = 0;
  for (const n of seen.values()) duplicates += n - 1;
  return { handled, distinct: seen.size, duplicates, lastDoneAt, latencies };
}

process.on('message', (msg: { id: number; req: QueueRequest }) => {
  const reply = (result: unknown) => process.send!({ id: msg.id, ok: true, result });
  const fail = (err: Error) => process.send!({ id: msg.id, ok: false, error: err.message });
  if (msg.req.op === 'stats') reply(stats());
  else if (msg.req.op === 'mark') {
    latencies = [];
    reply({});
  } else if (msg.req.op === 'work') work().then(() => reply({}), fail);
  else if (msg.req.op === 'pause') pause().then(() => reply({}), fail);
  else if (msg.req.op === 'stop') stop().then(() => reply({}), fail);
});
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0));
});

prepare().then(
  () => process.send!({ id: 0, ok: true, result: 'ready' }),
  (err: Error) => {
    console.error(err);
    process.send!({ id: 0, ok: false, error: err.message });
    process.exit(1);
  },
);
