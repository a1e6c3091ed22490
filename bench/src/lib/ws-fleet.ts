/**
 * Parent side of the WebSocket client fleet (ws-fleet-child.ts): spawns the child process and
 * calls it over IPC. See the child for what each client checks.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hold, type Held } from './cleanup.js';
import { BENCH_KEY } from './env.js';
import { Histogram } from './ws-stats.js';

export type FleetRequest =
  | { op: 'connect'; url: string; key: string; count: number; concurrency?: number }
  | { op: 'reset' }
  | { op: 'stats' }
  | { op: 'clients' }
  | { op: 'waitSeq'; seq: number; timeoutMs: number }
  | { op: 'moveTo'; url: string; concurrency?: number }
  | { op: 'churn'; fraction: number }
  | { op: 'closeAll' };

export type FleetReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface FleetStats {
  clients: number;
  open: number;
  /** Since the last reset. */
  window: {
    elapsedMs: number;
    /** From the reset to the last delivery. */
    activeMs: number;
    deliveries: number;
    durable: number;
    volatile: number;
    hist: Array<[number, number]>;
    histMax: number;
  };
  totalDeliveries: number;
  /** Missing seqs summed over clients (verify jumps against the log before calling them gaps). */
  gaps: number;
  dups: number;
  reconnects: number;
  /** Close codes sent by the server, with counts. */
  closes: Record<string, number>;
  errorFrames: Record<string, number>;
  minLastSeq: number;
  maxLastSeq: number;
  /** RSS of the fleet process. */
  memory: number;
}

export interface FleetClientReport {
  index: number;
  /** The URL it connected to last (its subscription is in the query). */
  url: string;
  startSeq: number | null;
  lastSeq: number;
  durable: number;
  volatile: number;
  gaps: number;
  dups: number;
  jumps: Array<[number, number]>;
  /** Distinct agent.moved events seen (by the x the producer numbered them with), and repeats. */
  movedDistinct: number;
  movedDups: number;
  reconnects: number;
  open: boolean;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'ws-fleet-child.ts');

export class Fleet {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  private readonly held: Held;

  private constructor(private readonly proc: ChildProcess) {
    this.held = hold('WebSocket client fleet', () => this.kill());
    proc.on('message', (msg: FleetReply) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.ok) w.resolve(msg.result);
      else w.reject(new Error(`fleet: ${msg.error}`));
    });
    proc.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`fleet process exited with ${code}`));
      this.waiting.clear();
    });
  }

  static start(): Fleet {
    const proc = fork(CHILD, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Fleet(proc);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  private call<T>(req: FleetRequest): Promise<T> {
    if (this.exited) return Promise.reject(new Error('fleet process is gone'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, req });
    });
  }

  /** Opens `count` clients on a WebSocket URL (ws://host:port/ws?…); each waits for its hello. */
  connect(url: string, count: number, concurrency = 50): Promise<{ connected: number; failed: number }> {
    return this.call({ op: 'connect', url, key: BENCH_KEY, count, concurrency });
  }
  reset(): Promise<void> {
    return this.call({ op: 'reset' });
  }
  stats(): Promise<FleetStats> {
    return this.call({ op: 'stats' });
  }
  clients(): Promise<FleetClientReport[]> {
    return this.call({ op: 'clients' });
  }
  /** Until every client has seen `seq` (or the timeout): how many are still behind. */
  waitSeq(seq: number, timeoutMs: number): Promise<{ reached: boolean; behind: number }> {
    return this.call({ op: 'waitSeq', seq, timeoutMs });
  }
  moveTo(url: string): Promise<{ failed: number }> {
    return this.call({ op: 'moveTo', url });
  }
  churn(fraction: number): Promise<{ churned: number; failed: number }> {
    return this.call({ op: 'churn', fraction });
  }
  closeAll(): Promise<void> {
    return this.call({ op: 'closeAll' });
  }

  stop(): Promise<void> {
    return this.held.release();
  }

  private async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

export function windowHistogram(s: FleetStats): Histogram {
  return Histogram.fromSparse(s.window.hist, s.window.histMax);
}

/** ws://… URL of a replica's /ws endpoint with a query. */
export function wsUrl(httpUrl: string, query: Record<string, string>): string {
  const u = new URL('/ws', httpUrl.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Checks every client's jumps against the log: a jump over seqs that the log does not hold (for
 * this subscription) is legitimate; one over logged seqs is a real gap. `logged(seq)` answers.
 */
export function realGaps(reports: FleetClientReport[], logged: (seq: number) => boolean): { clients: number; missing: number } {
  let clients = 0;
  let missing = 0;
  for (const r of reports) {
    let mine = 0;
    for (const [from, to] of r.jumps) for (let s = from + 1; s < to; s++) if (logged(s)) mine++;
    // Jumps beyond the recorded ones are counted as real: the client saw too many to list.
    const listed = r.jumps.reduce((n, [f, t]) => n + (t - f - 1), 0);
    mine += Math.max(0, r.gaps - listed);
    if (mine > 0) clients++;
    missing += mine;
  }
  return { clients, missing };
}
