/**
 * Parent side of a queue baseline (baselines/queues.ts): a graphile-worker or pg-boss worker in
 * its own process on a fresh database, plus an enqueuer in this process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import PgBoss from 'pg-boss';
import type { QueueRequest, QueueStats } from '../baselines/queues.js';
import { hold, type Held } from './cleanup.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'baselines', 'queues.ts');

export type QueueKind = 'graphile' | 'pgboss';

export class QueueBaseline {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  private enqueuer: { add: (t0: number) => Promise<void>; close: () => Promise<void> } | null = null;
  private readonly held: Held;

  private constructor(
    readonly kind: QueueKind,
    private readonly proc: ChildProcess,
  ) {
    this.held = hold(`${kind} worker`, () => this.shutdown());
    proc.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.ok) w.resolve(msg.result);
      else w.reject(new Error(`${kind}: ${msg.error}`));
    });
    proc.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`${kind} process exited with ${code}`));
      this.waiting.clear();
    });
  }

  /** Starts the worker process (it creates its schema) and this process's enqueuer. */
  static async start(kind: QueueKind, databaseUrl: string, concurrency: number, enqueuers: number): Promise<QueueBaseline> {
    const proc = fork(CHILD, [kind, databaseUrl, String(concurrency)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const q = new QueueBaseline(kind, proc);
    try {
      await new Promise<void>((resolve, reject) => {
        q.waiting.set(0, { resolve: () => resolve(), reject });
      });
      if (kind === 'graphile') {
        const utils: WorkerUtils = await makeWorkerUtils({ connectionString: databaseUrl, maxPoolSize: enqueuers });
        q.enqueuer = {
          add: async (t0) => {
            await utils.addJob('noop', { t0 });
          },
          close: async () => {
            await utils.release();
          },
        };
      } else {
        const boss = new PgBoss({ connectionString: databaseUrl, max: enqueuers, supervise: false, schedule: false, migrate: false });
        boss.on('error', (err: Error) => console.error(`pg-boss (enqueuer): ${err.message}`));
        await boss.start();
        q.enqueuer = {
          add: async (t0) => {
            const id = await boss.send('noop', { t0 });
            if (!id) throw new Error('pg-boss refused a job');
          },
          close: () => boss.stop({ graceful: false, wait: true }),
        };
      }
    } catch (err) {
      await q.stop();
      throw err;
    }
    return q;
  }

  add(t0: number): Promise<void> {
    return this.enqueuer!.add(t0);
  }

  /** The worker process (for its CPU time). */
  get pid(): number {
    return this.proc.pid ?? Number.NaN;
  }

  private call<T>(req: QueueRequest): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.kind} process is gone`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, req });
    });
  }

  /** Starts the workers (the queue exists from start() on, so a backlog can be enqueued first). */
  work(): Promise<void> {
    return this.call({ op: 'work' });
  }
  /** Stops the workers (the process and its pool stay); work() starts them again. */
  pause(): Promise<void> {
    return this.call({ op: 'pause' });
  }
  stats(): Promise<QueueStats> {
    return this.call({ op: 'stats' });
  }
  /** Starts a new latency window. */
  mark(): Promise<void> {
    return this.call({ op: 'mark' });
  }

  stop(): Promise<void> {
    return this.held.release();
  }

  private async shutdown(): Promise<void> {
    await this.enqueuer?.close().catch(() => undefined);
    this.enqueuer = null;
    if (this.exited) return;
    await this.call({ op: 'stop' }).catch(() => undefined);
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.disconnect();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}
