import WebSocket from 'ws';

export interface Frame {
  type: string;
  seq?: number | null;
  game_id?: string | null;
  data?: Record<string, any>;
  [key: string]: unknown;
}

/** A test WebSocket client that records every frame and can wait for one. */
export class WsClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      this.frames.push(JSON.parse(raw.toString()) as Frame);
      this.notify();
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.notify();
    });
  }

  static async connect(
    baseUrl: string,
    query: Record<string, string | number> = {},
    headers: Record<string, string> = { 'x-api-key': 'development-key' },
  ): Promise<WsClient> {
    const url = new URL('/ws', baseUrl.replace(/^http/, 'ws'));
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
    const socket = new WebSocket(url, { headers });
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (req, res) => {
        req.destroy(); // ws leaves the refused request open otherwise
        reject(new Error(`upgrade refused: ${res.statusCode}`));
      });
      socket.once('error', reject);
    });
    await client.waitFor((f) => f.type === 'hello');
    return client;
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  events(): Frame[] {
    return this.frames.filter((f) => f.type !== 'hello' && f.type !== 'pong' && f.type !== 'subscribed' && f.type !== 'error');
  }

  durable(): Frame[] {
    return this.events().filter((f) => typeof f.seq === 'number');
  }

  async waitFor(predicate: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before the frame arrived`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting; got ${this.frames.map((f) => f.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.close();
    await new Promise<void>((resolve) => {
      if (this.closed) resolve();
      else this.socket.once('close', () => resolve());
    });
  }
}
