/**
 * HTTP load for the REST benchmarks: autocannon (programmatic, in this process) with exact
 * per-request latencies, plus small helpers to call the api and read its /metrics.
 */
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import autocannon from 'autocannon';
import { BENCH_KEY } from './env.js';
import { percentile } from './stats.js';

export interface LoadOptions {
  /** Base URL of the server (http://127.0.0.1:port). */
  url: string;
  method?: 'GET' | 'PUT' | 'POST' | 'PATCH';
  /** The path of the i-th request (spread requests over many resources). */
  path: (i: number) => string;
  /** The JSON body of the i-th request. */
  body?: (i: number) => string;
  /** Send the bench's api key (default true). */
  auth?: boolean;
  connections?: number;
  durationS: number;
  /** Requests per second over all connections (paced load); unpaced when absent. */
  overallRate?: number;
}

export interface LoadResult {
  /** Responses received. */
  requests: number;
  ok: number;
  non2xx: number;
  /** Socket errors (timeouts included). */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  seconds: number;
  /** 2xx responses per second. */
  okPerS: number;
  /** Latency of 2xx responses, ms (exact, not bucketed). */
  p50: number;
  p99: number;
  max: number;
  /** Every 2xx latency, ms (for combining runs). */
  samples: Float64Array;
}

/** Runs one load; never throws for non-2xx or socket errors (they are counted). */
export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  let i = 0;
  const latencies: number[] = [];
  const headers: Record<string, string> = {};
  if (opts.auth !== false) headers['x-api-key'] = BENCH_KEY;
  if (opts.body) headers['content-type'] = 'application/json';
  const method = opts.method ?? 'GET';
  const request: autocannon.Request = {
    method,
    path: opts.path(0),
    headers,
    setupRequest: (req) => {
      const n = i++;
      return { ...req, path: opts.path(n), ...(opts.body ? { body: opts.body(n) } : {}) };
    },
  };
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections ?? 50,
        pipelining: 1,
        duration: opts.durationS,
        timeout: 10,
        requests: [request],
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
      },
      (err, result) => {
        if (err) return reject(err);
        const statusCodes: Record<string, number> = {};
        for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0;
        resolve(
          summarize({
            statusCodes,
            latencies,
            seconds: result.duration,
            non2xx: result.non2xx,
            errors: result.errors,
            timeouts: result.timeouts,
          }),
        );
      },
    );
    // autocannon emits (client, statusCode, resBytes, responseTime); its typings omit the client.
    (instance as unknown as NodeJS.EventEmitter).on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}

/**
 * A steady open-loop load for latency: one request every 1000/rate ms, evenly spaced (autocannon's
 * own rate limit sends each connection's quota for the second in a burst), over a keep-alive pool
 * of `connections` sockets; a request waiting for a free socket counts that wait in its latency.
 */
export async function runPaced(opts: {
  url: string;
  path: (i: number) => string;
  rate: number;
  durationS: number;
  connections?: number;
  method?: string;
  body?: (i: number) => string;
}): Promise<LoadResult> {
  const target = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections ?? 10 });
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let errors = 0;
  let timeouts = 0;
  const inFlight = new Set<Promise<void>>();
  const one = (path: string, body: string | undefined): Promise<void> =>
    new Promise((resolve) => {
      const sent = performance.now();
      const headers: Record<string, string> = { 'x-api-key': BENCH_KEY };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const req = http.request(
        { host: target.hostname, port: target.port, path, method: opts.method ?? 'GET', agent, headers, timeout: 10_000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            const code = String(res.statusCode ?? 0);
            statusCodes[code] = (statusCodes[code] ?? 0) + 1;
            if (code.startsWith('2')) latencies.push(performance.now() - sent);
            resolve();
          });
          res.on('error', () => {
            errors++;
            resolve();
          });
        },
      );
      req.on('timeout', () => {
        timeouts++;
        req.destroy(new Error('timeout'));
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const interval = 1000 / opts.rate;
  const started = performance.now();
  const end = started + opts.durationS * 1000;
  for (let i = 0; ; i++) {
    const at = started + i * interval;
    if (at >= end) break;
    const wait = at - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const p = one(opts.path(i), opts.body?.(i));
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const requests = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const ok = Object.entries(statusCodes).reduce((n, [code, c]) => (code.startsWith('2') ? n + c : n), 0);
  return summarize({ statusCodes, latencies, seconds, non2xx: requests - ok, errors, timeouts });
}

/** A LoadResult from status counts and the 2xx latencies of one run. */
function summarize(run: {
  statusCodes: Record<string, number>;
  latencies: number[];
  seconds: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}): LoadResult {
  const { statusCodes, seconds } = run;
  const ok = Object.entries(statusCodes).reduce((n, [code, c]) => (code.startsWith('2') ? n + c : n), 0);
  const sample = Float64Array.from(run.latencies);
  return {
    requests: Object.values(statusCodes).reduce((a, b) => a + b, 0),
    ok,
    non2xx: run.non2xx,
    errors: run.errors,
    timeouts: run.timeouts,
    statusCodes,
    seconds,
    okPerS: ok / seconds,
    p50: percentile(sample, 50),
    p99: percentile(sample, 99),
    max: sample.length ? sample.reduce((a, b) => Math.max(a, b), 0) : Number.NaN,
    samples: sample,
  };
}

/** Several runs of the same load as one (counts and seconds summed, percentiles over all samples). */
export function combine(results: LoadResult[]): LoadResult {
  const statusCodes: Record<string, number> = {};
  for (const r of results) for (const [c, k] of Object.entries(r.statusCodes)) statusCodes[c] = (statusCodes[c] ?? 0) + k;
  const sum = (f: (r: LoadResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const samples = new Float64Array(sum((r) => r.samples.length));
  let at = 0;
  for (const r of results) {
    samples.set(r.samples, at);
    at += r.samples.length;
  }
  const ok = sum((r) => r.ok);
  const seconds = sum((r) => r.seconds);
  return {
    requests: sum((r) => r.requests),
    ok,
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    statusCodes,
    seconds,
    okPerS: ok / seconds,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: Math.max(...results.map((r) => r.max)),
    samples,
  };
}

/** One line describing a load's failures, or '' when every response was 2xx. */
export function loadErrors(name: string, r: LoadResult): string {
  if (r.non2xx === 0 && r.errors === 0) return '';
  const codes = Object.entries(r.statusCodes)
    .filter(([c]) => !c.startsWith('2'))
    .map(([c, n]) => `${n}× ${c}`)
    .join(', ');
  return `${name}: ${r.non2xx} non-2xx${codes ? ` (${codes})` : ''}, ${r.errors} socket errors (${r.timeouts} timeouts)`;
}

/** A JSON call to the api with the bench's key; a status other than `expect` throws. */
export async function apiCall<T = unknown>(baseUrl: string, method: string, path: string, body?: unknown, expect = 200): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'x-api-key': BENCH_KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status !== expect) throw new Error(`${method} ${path} → ${res.status} (expected ${expect}): ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Runs fn over items with at most `concurrency` at a time. */
export async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const n = next++;
        await fn(items[n]!, n);
      }
    }),
  );
}

/**
 * The samples of a Prometheus text exposition at `${url}/metrics`, by metric name (the first label
 * set of each). One scrape: prom-client resets its event-loop-delay histogram on every scrape.
 */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`, { headers: { 'x-api-key': BENCH_KEY } });
  if (!res.ok) throw new Error(`GET /metrics → ${res.status}`);
  const metrics = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && !metrics.has(m[1]!)) metrics.set(m[1]!, Number(m[3]));
  }
  return metrics;
}

/** One metric from a scrape; throws when the exposition lacks it. */
export function metric(metrics: Map<string, number>, name: string): number {
  const v = metrics.get(name);
  if (v === undefined) throw new Error(`metric ${name} not found in /metrics`);
  return v;
}

/** CPU time (user + system) a process has used so far, in seconds (from /proc; NaN elsewhere). */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    return statCpuSeconds(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return Number.NaN;
  }
}

/** user + system seconds from a /proc/<pid>/stat line. */
function statCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line (11 and 12 after the command).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU time (user + system) every local `postgres` process has used so far, in seconds: the
 * server's backends, WAL writer, checkpointer and so on. NaN when none is visible (a remote
 * server, or no /proc). Backends that exit take their time with them: compare across a phase
 * whose connections stay open (a pool).
 */
export async function postgresCpuSeconds(): Promise<number> {
  let total = 0;
  let found = 0;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return Number.NaN;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        try {
          const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
          if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') return;
          total += statCpuSeconds(stat);
          found++;
        } catch {
          // gone meanwhile
        }
      }),
  );
  return found > 0 ? total : Number.NaN;
}

/** "12,345" */
export const n = (v: number): string => Math.round(v).toLocaleString('en-US');
