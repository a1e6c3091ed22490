/**
 * Baseline for the WebSocket fan-out: a minimal `ws` server (no framework, no auth, no filter,
 * no bus, no log) that broadcasts one pre-built buffer per event to every connected client.
 * Run as a child process (PORT from the environment); controlled over HTTP:
 *
 *   GET  /health
 *   POST /broadcast?mode=rate&rate=1000&duration_ms=10000&size=700   (paced)
 *   POST /broadcast?mode=max&duration_ms=10000&size=700              (as fast as the sockets drain)
 *
 * Frames look like the api's events to the bench's clients: `{"seq":N,…,"bt":<send time>,…}`
 * with a hello carrying last_seq first, so the same fleet counts, checks seq continuity and
 * measures latency on both.
 */
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 0);
const server = http.createServer();
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
let seq = 0;

wss.on('connection', (socket) => {
  socket.send(JSON.stringify({ type: 'hello', last_seq: seq }));
  socket.on('error', () => undefined);
});

const now = () => performance.timeOrigin + performance.now();

/** One event: the same bytes for every client (built once). */
function frame(size: number): Buffer {
  seq++;
  const head = `{"seq":${seq},"type":"agent.updated","ts":"${new Date().toISOString()}","bt":${now().toFixed(3)},"pad":"`;
  const pad = Math.max(0, size - head.length - 2);
  return Buffer.from(`${head}${'x'.repeat(pad)}"}`);
}

function broadcast(buf: Buffer): number {
  let n = 0;
  for (const client of wss.clients) {
    if (client.readyState !== WebSocket.OPEN) continue;
    client.send(buf, { binary: false });
    n++;
  }
  return n;
}

/** Max mode waits while any socket holds more than this unsent (no drops, no unbounded buffers). */
const HIGH_WATER = 1024 * 1024;

function backlogged(): boolean {
  for (const client of wss.clients) if (client.bufferedAmount > HIGH_WATER) return true;
  return false;
}

async function run(mode: string, rate: number, durationMs: number, size: number): Promise<{ events: number; sends: number }> {
  const start = now();
  let events = 0;
  let sends = 0;
  if (mode === 'max') {
    while (now() - start < durationMs) {
      if (backlogged()) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      sends += broadcast(frame(size));
      events++;
      await new Promise((r) => setImmediate(r));
    }
  } else {
    while (now() - start < durationMs) {
      const due = Math.floor(((now() - start) / 1000) * rate) - events;
      for (let i = 0; i < due; i++) {
        sends += broadcast(frame(size));
        events++;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  return { events, sends };
}

server.on('request', (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/health') {
    res.end('ok');
    return;
  }
  if (url.pathname === '/broadcast' && req.method === 'POST') {
    const mode = url.searchParams.get('mode') ?? 'rate';
    const rate = Number(url.searchParams.get('rate') ?? 1000);
    const durationMs = Number(url.searchParams.get('duration_ms') ?? 10_000);
    const size = Number(url.searchParams.get('size') ?? 700);
    run(mode, rate, durationMs, size).then(
      (r) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ...r, last_seq: seq, clients: wss.clients.size }));
      },
      (err: Error) => {
        res.statusCode = 500;
        res.end(err.message);
      },
    );
    return;
  }
  res.statusCode = 404;
  res.end();
});

server.listen(port, '127.0.0.1');
const stop = () => {
  for (const c of wss.clients) c.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
