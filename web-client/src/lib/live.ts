import type { EventEnvelope } from '@agentvm/api/contract';

export type LinkState = 'connecting' | 'live' | 'reconnecting' | 'refused';

export interface LinkStatus {
  state: LinkState;
  /** Human detail: why it dropped, when the next attempt is. */
  detail: string | null;
  /** Epoch ms of the next reconnect attempt (reconnecting only). */
  retryAt: number | null;
}

export interface LiveOptions {
  key: string;
  gameId: string | null;
  /** The last durable seq the client holds; sent as `since` on every (re)connect. */
  since: () => number;
  /** One socket read's worth of events (frames that arrived together are applied together). */
  onEvents: (events: EventEnvelope[]) => void;
  onStatus: (status: LinkStatus) => void;
  /** The server cannot replay what was missed (`replay_gap`): refetch state as of `lastSeq`. */
  onGap: (lastSeq: number) => void;
  /** For tests: the page's origin by default. */
  url?: string;
  /** Our own ping, to notice a half-open socket (laptop sleep, dead proxy) the browser misses. */
  pingIntervalMs?: number;
}

/** Exponential backoff with jitter: 0.5, 1, 2, 4, 8, 15 s (×0.5–1), so restarts are not stampeded. */
export function backoffMs(attempt: number, random = Math.random): number {
  const base = Math.min(15_000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + random() / 2));
}

/**
 * The console's WebSocket. Browsers cannot set handshake headers, so the key goes as
 * `?api_key=` (the api redacts it from logs). Every (re)connect resumes with `since`; close
 * 1008 (bad key or scope) stops, anything else — a restart (1001, 1006), too slow (4008) —
 * reconnects with backoff.
 */
export class LiveConnection {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private awaitingPong = false;
  private pending: EventEnvelope[] = [];
  private flushQueued = false;

  constructor(private readonly options: LiveOptions) {}

  start(): void {
    this.stopped = false;
    this.open();
    globalThis.addEventListener?.('online', this.reconnectNow);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    globalThis.removeEventListener?.('online', this.reconnectNow);
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    // Closing a socket still connecting makes the browser log an error; let it open first.
    if (socket.readyState === WebSocket.CONNECTING) {
      socket.onopen = () => socket.close(1000, 'stopped');
      socket.onerror = () => undefined;
    } else socket.close(1000, 'stopped');
  }

  /** Skip the wait (the network came back, or the user asked). */
  reconnectNow = (): void => {
    if (this.stopped || this.socket) return;
    clearTimeout(this.retryTimer);
    this.open();
  };

  private status(state: LinkState, detail: string | null = null, retryAt: number | null = null): void {
    this.options.onStatus({ state, detail, retryAt });
  }

  private open(): void {
    if (this.stopped) return;
    this.status(this.attempt === 0 ? 'connecting' : 'reconnecting', this.attempt === 0 ? null : 'connecting…');
    const url = new URL('/ws', this.options.url ?? globalThis.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('api_key', this.options.key);
    if (this.options.gameId) url.searchParams.set('game_id', this.options.gameId);
    url.searchParams.set('since', String(this.options.since()));
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onmessage = (message) => {
      if (this.socket !== socket) return;
      this.awaitingPong = false;
      this.frame(JSON.parse(String(message.data)) as EventEnvelope & { code?: string; message?: string; last_seq?: number });
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.lost(event.code, event.reason);
    };
  }

  private lost(code: number, reason: string): void {
    this.socket = null;
    clearInterval(this.pingTimer);
    this.flush();
    if (this.stopped) return;
    if (code === 1008) {
      this.status('refused', reason || 'the server refused this key');
      return;
    }
    this.attempt++;
    // Too slow (4008): resume at once, the log has what was missed; otherwise back off.
    const delay = code === 4008 && this.attempt === 1 ? 0 : backoffMs(this.attempt);
    const why = code === 4008 ? 'fell behind' : code === 1001 ? 'server restarting' : code === 4000 ? 'no answer' : 'connection lost';
    this.status('reconnecting', why, Date.now() + delay);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private frame(frame: EventEnvelope & { code?: string; message?: string; last_seq?: number }): void {
    switch (frame.type) {
      case 'hello':
        this.attempt = 0;
        this.status('live');
        this.startPinging();
        return;
      case 'pong':
      case 'subscribed':
        return;
      case 'error':
        if (frame.code === 'replay_gap') {
          this.flush();
          this.options.onGap(frame.last_seq ?? 0);
        }
        return;
      default:
        // Frames of one socket read arrive as separate messages in the same task; they are
        // applied together in a microtask so the UI is notified once per batch.
        this.pending.push(frame);
        if (!this.flushQueued) {
          this.flushQueued = true;
          queueMicrotask(() => this.flush());
        }
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.options.onEvents(batch);
  }

  private startPinging(): void {
    clearInterval(this.pingTimer);
    this.awaitingPong = false;
    this.pingTimer = setInterval(() => {
      const socket = this.socket;
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      if (this.awaitingPong) {
        // Nothing at all came back for a whole interval: the socket is dead without knowing it
        // (its close could take minutes to be noticed), so give up on it now.
        socket.onclose = null;
        socket.close(4000, 'no pong');
        this.lost(4000, 'no pong');
        return;
      }
      this.awaitingPong = true;
      socket.send(JSON.stringify({ op: 'ping', id: Date.now() }));
    }, this.options.pingIntervalMs ?? 20_000);
  }
}
