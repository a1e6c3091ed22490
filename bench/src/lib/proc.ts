import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_KEY, REDIS_URL } from './env.js';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ROOT_DIR = join(BENCH_DIR, '..');

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  url: string;
  port: number;
  pid: number;
  proc: ChildProcess;
  /** stderr and stdout so far (for error messages). */
  output: () => string;
  /** Resident set size of the process in bytes (from /proc), or NaN where unavailable. */
  rss: () => Promise<number>;
  /** SIGTERM, then SIGKILL after 10 s; resolves when the process is gone. */
  stop: () => Promise<void>;
}

async function readRss(pid: number): Promise<number> {
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Starts a Node script (TypeScript through tsx) and waits until `ready(url)` resolves true. */
export async function startNode(opts: {
  script: string;
  args?: string[];
  env?: Record<string, string>;
  port?: number;
  ready?: (url: string) => Promise<boolean>;
  timeoutMs?: number;
}): Promise<Child> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  // BENCH_NODE_ARGS: extra Node flags for every process started here, e.g. to profile the api:
  // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (NODE_OPTIONS does not allow --cpu-prof).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', opts.script, ...(opts.args ?? [])], {
    cwd: ROOT_DIR,
    env: { ...process.env, PORT: String(port), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  // BENCH_CHILD_LOG=<dir>: each child's whole output also goes to <dir>/<script>-<pid>.log
  // (with BENCH_NODE_ARGS="--trace-gc", say, to see the api's collector pauses).
  if (process.env.BENCH_CHILD_LOG) {
    mkdirSync(process.env.BENCH_CHILD_LOG, { recursive: true });
    const file = createWriteStream(join(process.env.BENCH_CHILD_LOG, `${basename(opts.script)}-${proc.pid}.log`));
    proc.stdout!.pipe(file);
    proc.stderr!.pipe(file);
  }
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child: Child = {
    url,
    port,
    pid: proc.pid!,
    proc,
    output: () => out,
    rss: () => readRss(proc.pid!),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const ready = opts.ready ?? (async (u: string) => (await fetch(`${u}/health`)).ok);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${opts.script} exited with ${proc.exitCode}:\n${out}`);
    try {
      if (await ready(url)) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${opts.script} did not become ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ApiOptions {
  databaseUrl: string;
  /** Redis key prefix shared by replicas of one deployment. */
  redisPrefix: string;
  /** Extra environment (e.g. AGENTVM_WORKER_EMBEDDED=false). */
  env?: Record<string, string>;
}

/**
 * The real api (api/src/server.ts) in its own process, configured by bench/configs/production.yaml:
 * Postgres + Redis, production settings, rate limits raised out of the way, log level warn.
 */
export function startApi(opts: ApiOptions): Promise<Child> {
  return startNode({
    script: join(ROOT_DIR, 'api', 'src', 'server.ts'),
    env: {
      AGENT_ENV: 'production',
      AGENTVM_CONFIG_DIR: join(BENCH_DIR, 'configs'),
      DATABASE_URL: opts.databaseUrl,
      REDIS_URL,
      AGENTVM_REDIS_PREFIX: opts.redisPrefix,
      AGENTVM_API_KEY: BENCH_KEY,
      NODE_ENV: 'production',
      ...opts.env,
    },
    ready: async (u) => (await fetch(`${u}/ready`, { headers: { 'x-api-key': BENCH_KEY } })).ok,
  });
}
