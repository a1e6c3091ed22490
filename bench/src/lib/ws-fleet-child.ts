/**
 * A fleet of WebSocket clients in its own process (so receiving a million frames a second does
 * not share an event loop with the load generator). Driven over IPC by ws-fleet.ts.
 *
 * Each client checks its subscription's durable events: seq must grow by exactly one (every
 * event the bench produces matches the subscription, so the log has no holes the client should
 * skip; a jump is recorded and verified against the log by the parent), a seq at or below the
 * last one is a duplicate. A client closed by the server (4008 too slow, 1001 shutdown, 1011)
 * resumes with since=<last seq>, as the protocol asks. Volatile `agent.moved` events carry the
 * bench's write number in position.x: each client keeps a bitmap and counts a move seen twice.
 * Latency: durable events carry the producer's send time as `"bt":<epoch ms>` in their JSON,
 * moves carry it in position.y; receipt time minus that goes to a histogram. Frames are read
 * from the raw bytes (no JSON.parse per event) so the fleet keeps up with the server.
 */
import WebSocket from 'ws';
import { Histogram, nowMs, sleep } from './ws-stats.js';
import type { FleetClientReport, FleetReply, FleetRequest, FleetStats } from './ws-fleet.js';

interface Client {
  index: number;
  ws: WebSocket | null;
  url: string;
  /** seq of the hello of the first connection: the client expects every matching event after it. */
  startSeq: number | null;
  lastSeq: number;
  durable: number;
  volatile: number;
  gaps: number;
  dups: number;
  jumps: Array<[number, number]>;
  /** Volatile agent.moved events seen, by position x (the producer numbers them): a bit each. */
  moved: Uint8Array;
  movedDistinct: number;
  movedDups: number;
  reconnects: number;
  /** Set by us before closing on purpose (no automatic resume). */
  closing: boolean;
  open: boolean;
}

const SEQ_PREFIX = Buffer.from('{"seq":');
const BT = Buffer.from('"bt":');
const X = Buffer.from('"x":');
const Y = Buffer.from('"y":');
const MAX_JUMPS = 100;

let key = '';
const clients: Client[] = [];
const closes = new Map<string, number>();
const errorFrames = new Map<string, number>();
let window = newWindow();
let totalDeliveries = 0;
const totalHist = new Histogram();

function newWindow() {
  return { started: nowMs(), lastAt: 0, deliveries: 0, durable: 0, volatile: 0, hist: new Histogram() };
}

function count(map: Map<string, number>, k: string): void {
  map.set(k, (map.get(k) ?? 0) + 1);
}

/** Digits at buf[from…] as a number (stops at the first non-digit); NaN when none. */
function readNumber(buf: Buffer, from: number): number {
  let n = 0;
  let i = from;
  let digits = 0;
  let frac = 0;
  let scale = 1;
  for (; i < buf.length; i++) {
    const c = buf[i]!;
    if (c >= 48 && c <= 57) {
      if (frac) {
        scale /= 10;
        n += (c - 48) * scale;
      } else n = n * 10 + (c - 48);
      digits++;
    } else if (c === 46 && !frac) frac = 1;
    else break;
  }
  return digits ? n : Number.NaN;
}

function markMoved(client: Client, x: number): void {
  if (!Number.isInteger(x) || x < 0 || x >= 1 << 26) return;
  const byte = x >> 3;
  if (byte >= client.moved.length) {
    const grown = new Uint8Array(Math.max(byte + 1, client.moved.length * 2));
    grown.set(client.moved);
    client.moved = grown;
  }
  const bit = 1 << (x & 7);
  if (client.moved[byte]! & bit) client.movedDups++;
  else {
    client.moved[byte]! |= bit;
    client.movedDistinct++;
  }
}

function onFrame(client: Client, data: Buffer): void {
  const received = nowMs();
  if (data.length > SEQ_PREFIX.length && data.compare(SEQ_PREFIX, 0, SEQ_PREFIX.length, 0, SEQ_PREFIX.length) === 0) {
    totalDeliveries++;
    window.deliveries++;
    window.lastAt = received;
    const at = SEQ_PREFIX.length;
    if (data[at] === 110 /* n: null */) {
      client.volatile++;
      window.volatile++;
      // agent.moved from the bench: x numbers the write, y is its send time.
      const xi = data.indexOf(X);
      const yi = xi >= 0 ? data.indexOf(Y, xi) : -1;
      if (xi >= 0 && yi >= 0) {
        markMoved(client, readNumber(data, xi + X.length));
        const sent = readNumber(data, yi + Y.length);
        if (sent > 1e12) {
          window.hist.add(received - sent);
          totalHist.add(received - sent);
        }
      }
      return;
    } else {
      const seq = readNumber(data, at);
      window.durable++;
      if (seq <= client.lastSeq) client.dups++;
      else {
        if (seq > client.lastSeq + 1) {
          client.gaps += seq - client.lastSeq - 1;
          if (client.jumps.length < MAX_JUMPS) client.jumps.push([client.lastSeq, seq]);
        }
        client.lastSeq = seq;
        client.durable++;
      }
    }
    const bt = data.indexOf(BT);
    if (bt >= 0) {
      const sent = readNumber(data, bt + BT.length);
      if (Number.isFinite(sent)) {
        window.hist.add(received - sent);
        totalHist.add(received - sent);
      }
    }
    return;
  }
  // A control frame: hello, subscribed, pong or error.
  let frame: { type?: string; last_seq?: number; code?: string };
  try {
    frame = JSON.parse(data.toString('utf8')) as typeof frame;
  } catch {
    count(errorFrames, 'unparseable');
    return;
  }
  if (frame.type === 'hello') {
    if (client.startSeq === null && typeof frame.last_seq === 'number') {
      client.startSeq = frame.last_seq;
      client.lastSeq = frame.last_seq;
    }
  } else if (frame.type === 'error') {
    count(errorFrames, frame.code ?? 'unknown');
  }
}

function connect(client: Client, since: number | null): Promise<boolean> {
  return new Promise((resolve) => {
    const url = since === null ? client.url : `${client.url}${client.url.includes('?') ? '&' : '?'}since=${since}`;
    const ws = new WebSocket(url, { headers: { 'x-api-key': key }, perMessageDeflate: false });
    client.ws = ws;
    client.closing = false;
    let settled = false;
    const settle = (ok: boolean) => {
      if (!settled) {
        settled = true;
        resolve(ok);
      }
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const first = client.startSeq === null;
      onFrame(client, data);
      if (first && client.startSeq !== null) settle(true);
      else if (since !== null) settle(true);
    });
    ws.on('open', () => {
      client.open = true;
      // A client resuming already has its startSeq: open is enough.
      if (client.startSeq !== null) settle(true);
    });
    ws.on('error', () => settle(false));
    ws.on('close', (code: number) => {
      client.open = false;
      settle(false);
      if (client.ws !== ws) return;
      if (client.closing) return;
      count(closes, String(code));
      // Resume as the protocol asks: since=<last seq seen>.
      client.reconnects++;
      void sleep(100 + Math.random() * 400).then(() => {
        if (!client.closing && client.ws === ws) void connect(client, client.lastSeq);
      });
    });
  });
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function closeClient(c: Client): Promise<void> {
  c.closing = true;
  const ws = c.ws;
  if (!ws || ws.readyState === WebSocket.CLOSED) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 3000);
    ws.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    ws.close(1000, 'bench done');
  });
}

function stats(): FleetStats {
  const elapsed = nowMs() - window.started;
  let open = 0;
  let gaps = 0;
  let dups = 0;
  let reconnects = 0;
  let minLast = Infinity;
  let maxLast = -Infinity;
  for (const c of clients) {
    if (c.open) open++;
    gaps += c.gaps;
    dups += c.dups;
    reconnects += c.reconnects;
    minLast = Math.min(minLast, c.lastSeq);
    maxLast = Math.max(maxLast, c.lastSeq);
  }
  return {
    clients: clients.length,
    open,
    window: {
      elapsedMs: elapsed,
      activeMs: window.lastAt ? window.lastAt - window.started : 0,
      deliveries: window.deliveries,
      durable: window.durable,
      volatile: window.volatile,
      hist: window.hist.sparse(),
      histMax: window.hist.max,
    },
    totalDeliveries,
    gaps,
    dups,
    reconnects,
    closes: Object.fromEntries(closes),
    errorFrames: Object.fromEntries(errorFrames),
    minLastSeq: Number.isFinite(minLast) ? minLast : 0,
    maxLastSeq: Number.isFinite(maxLast) ? maxLast : 0,
    memory: process.memoryUsage().rss,
  };
}

function clientReports(): FleetClientReport[] {
  return clients.map((c) => ({
    index: c.index,
    url: c.url,
    startSeq: c.startSeq,
    lastSeq: c.lastSeq,
    durable: c.durable,
    volatile: c.volatile,
    gaps: c.gaps,
    dups: c.dups,
    jumps: c.jumps,
    movedDistinct: c.movedDistinct,
    movedDups: c.movedDups,
    reconnects: c.reconnects,
    open: c.open,
  }));
}

async function handle(req: FleetRequest): Promise<unknown> {
  switch (req.op) {
    case 'connect': {
      key = req.key;
      const fresh: Client[] = [];
      for (let i = 0; i < req.count; i++) {
        const c: Client = {
          index: clients.length,
          ws: null,
          url: req.url,
          startSeq: null,
          lastSeq: 0,
          durable: 0,
          volatile: 0,
          gaps: 0,
          dups: 0,
          jumps: [],
          moved: new Uint8Array(1024),
          movedDistinct: 0,
          movedDups: 0,
          reconnects: 0,
          closing: false,
          open: false,
        };
        clients.push(c);
        fresh.push(c);
      }
      let failed = 0;
      await pool(fresh, req.concurrency ?? 50, async (c) => {
        if (!(await connect(c, null))) failed++;
      });
      return { connected: fresh.length - failed, failed };
    }
    case 'reset':
      window = newWindow();
      return {};
    case 'stats':
      return stats();
    case 'clients':
      return clientReports();
    case 'waitSeq': {
      const deadline = Date.now() + req.timeoutMs;
      for (;;) {
        const behind = clients.filter((c) => c.lastSeq < req.seq).length;
        if (behind === 0 || Date.now() > deadline) return { reached: behind === 0, behind };
        await sleep(50);
      }
    }
    case 'moveTo': {
      // Every client leaves its replica and resumes on another with since=<last seq>.
      let failed = 0;
      await pool(clients, req.concurrency ?? 50, async (c) => {
        await closeClient(c);
        c.url = req.url;
        if (!(await connect(c, c.lastSeq))) failed++;
      });
      return { failed };
    }
    case 'churn': {
      // Some clients drop and resume with since (what a flaky network does).
      const picked = clients.filter(() => Math.random() < req.fraction);
      let failed = 0;
      await pool(picked, 20, async (c) => {
        await closeClient(c);
        c.reconnects++;
        if (!(await connect(c, c.lastSeq))) failed++;
      });
      return { churned: picked.length, failed };
    }
    case 'closeAll':
      await pool(clients, 100, closeClient);
      return {};
  }
}

process.on('message', (msg: { id: number; req: FleetRequest }) => {
  handle(msg.req).then(
    (result) => process.send!({ id: msg.id, ok: true, result } satisfies FleetReply),
    (err: Error) => process.send!({ id: msg.id, ok: false, error: err.message } satisfies FleetReply),
  );
});
process.on('disconnect', () => process.exit(0));
