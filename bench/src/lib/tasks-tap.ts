/**
 * One WebSocket client in the bench's own process that records task events as they arrive:
 * for each task id, when `task.assigned`, `task.started`, `task.completed` … were first received
 * and how many times each came. The task bench reads latencies and exactly-once from it. It
 * resumes with since=<last seq> if the server closes it.
 */
import WebSocket from 'ws';
import { BENCH_KEY } from './env.js';
import { nowMs, sleep } from './ws-stats.js';

export interface TaskEventRecord {
  /** First receipt time (epoch ms) per type. */
  at: Map<string, number>;
  /** Receipts per type (a durable event twice would be a duplicate). */
  count: Map<string, number>;
}

export class TaskTap {
  readonly tasks = new Map<string, TaskEventRecord>();
  lastSeq = 0;
  gaps = 0;
  duplicates = 0;
  closes = 0;
  private ws: WebSocket | null = null;
  private closed = false;

  private constructor(private readonly url: string) {}

  /** Connects to ws://…/ws?… and resolves once the hello arrived. */
  static async open(url: string): Promise<TaskTap> {
    const tap = new TaskTap(url);
    await tap.connect(null);
    return tap;
  }

  private connect(since: number | null): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(since === null ? this.url : `${this.url}&since=${since}`, {
        headers: { 'x-api-key': BENCH_KEY },
        perMessageDeflate: false,
      });
      this.ws = ws;
      let ready = false;
      ws.on('message', (data: Buffer) => {
        const received = nowMs();
        const e = JSON.parse(data.toString('utf8')) as {
          type: string;
          seq?: number | null;
          last_seq?: number;
          data?: { task_id?: string };
        };
        if (e.type === 'hello') {
          if (since === null && typeof e.last_seq === 'number') this.lastSeq = e.last_seq;
          ready = true;
          resolve();
          return;
        }
        if (typeof e.seq === 'number') {
          if (e.seq <= this.lastSeq) {
            this.duplicates++;
            return;
          }
          // The bench's game has only task events this client subscribes to after setup, but
          // other events of the game (agents) also take seqs: gaps are checked by the bench via
          // the log, not here.
          this.lastSeq = e.seq;
        }
        const id = e.data?.task_id;
        if (!id) return;
        let rec = this.tasks.get(id);
        if (!rec) {
          rec = { at: new Map(), count: new Map() };
          this.tasks.set(id, rec);
        }
        if (!rec.at.has(e.type)) rec.at.set(e.type, received);
        rec.count.set(e.type, (rec.count.get(e.type) ?? 0) + 1);
      });
      ws.on('error', (err) => {
        if (!ready) reject(err);
      });
      ws.on('close', () => {
        if (this.closed || this.ws !== ws) return;
        this.closes++;
        void sleep(200).then(() => this.connect(this.lastSeq).catch(() => undefined));
      });
    });
  }

  /** Tasks among `ids` that have not had `type` yet. */
  missing(ids: Iterable<string>, type: string): string[] {
    const out: string[] = [];
    for (const id of ids) if (!this.tasks.get(id)?.at.has(type)) out.push(id);
    return out;
  }

  /** Resolves when every id had `type` (true) or after timeoutMs (false). */
  async waitFor(ids: string[], type: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let pending = this.missing(ids, type);
    while (pending.length > 0) {
      if (Date.now() > deadline) return false;
      await sleep(20);
      pending = this.missing(pending, type);
    }
    return true;
  }

  close(): void {
    this.closed = true;
    this.ws?.close(1000);
  }
}
