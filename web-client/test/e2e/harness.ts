import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

/**
 * The e2e harness: a real api process (the same entry point `npm start` runs) on embedded
 * PGlite or on Postgres + Redis, and Debian's Chromium driven by playwright-core. Never a
 * downloaded browser.
 */

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
export const RESULTS = resolve(here, '../../test-results');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ADMIN_KEY = 'development-key';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type Driver = 'pglite' | 'postgres';

export const haveChromium = existsSync(CHROMIUM);
export const haveBuild = existsSync(join(REPO, 'web-client/dist/index.html'));

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
      .once('error', rej)
      .listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => res(port));
      });
  });
}

/**
 * configs/testing.yaml with the console's simulated `aider` agents at a pace a person can follow
 * (a task takes 0.3–0.6 s instead of 30–60 ms). At test speed a task could go queued → completed
 * between two frames of a loaded browser, and the board never showed it anywhere but done.
 */
function consoleConfigDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentvm-e2e-config-'));
  const doc = parseYaml(readFileSync(join(REPO, 'configs/testing.yaml'), 'utf8')) as {
    agent_types: Record<string, { speed?: number }>;
  };
  doc.agent_types.aider!.speed = 0.05;
  writeFileSync(join(dir, 'testing.yaml'), stringifyYaml(doc));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let configDir: string | undefined;

export class ApiProcess {
  child: ChildProcess | null = null;
  readonly url: string;
  output = '';

  constructor(
    readonly env: Record<string, string>,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'api/src/server.ts')], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        AGENT_ENV: 'testing',
        AGENTVM_CONFIG_DIR: (configDir ??= consoleConfigDir()),
        LOG_LEVEL: 'warn',
        ...this.env,
        PORT: String(this.port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) break;
      try {
        if ((await fetch(`${this.url}/health`)).ok) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    throw new Error(`the api did not start:\n${this.output.slice(-2000)}`);
  }

  /** SIGTERM (graceful: sockets get 1001) or SIGKILL (the process just dies). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((res) => {
      child.once('exit', () => res());
      child.kill(signal);
    });
    this.child = null;
  }

  async rest<T = any>(method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  /** REST that must succeed. */
  async ok<T = any>(method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<T> {
    const res = await this.rest<T>(method, path, body, key);
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

/** An api on a fresh database of the given driver; `cleanup` removes the database afterwards. */
export async function startApi(driver: Driver): Promise<{ api: ApiProcess; cleanup: () => Promise<void> }> {
  const port = await freePort();
  if (driver === 'pglite') {
    // File-backed (not memory://) so a restart keeps the data, as in development.
    const dataDir = mkdtempSync(join(tmpdir(), 'agentvm-e2e-'));
    const api = new ApiProcess({ AGENTVM_DATA_DIR: dataDir }, port);
    await api.start();
    return { api, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const name = `agentvm_console_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const api = new ApiProcess({ DATABASE_URL: url.toString(), REDIS_URL, AGENTVM_REDIS_PREFIX: `${name}:` }, port);
  await api.start();
  return {
    api,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * Collects the page's console errors and uncaught exceptions. Some errors are the browser's own
 * report of something a test provokes on purpose (a refused key logs "401", a killed api logs
 * refused connections); `expect(pattern)` allows those while the step runs.
 */
export class ConsoleErrors {
  readonly errors: string[] = [];
  private allowed: RegExp[] = [];

  constructor(page: Page) {
    page.on('console', (m) => {
      if (m.type() === 'error' && !this.allowed.some((re) => re.test(m.text()))) this.errors.push(m.text());
    });
    page.on('pageerror', (e) => this.errors.push(`uncaught: ${e.message}`));
  }

  async during<T>(pattern: RegExp, step: () => Promise<T>, settleMs = 300): Promise<T> {
    this.allowed.push(pattern);
    try {
      return await step();
    } finally {
      await new Promise((r) => setTimeout(r, settleMs)); // the browser's own log line may trail the DOM
      this.allowed = this.allowed.filter((p) => p !== pattern);
    }
  }
}

export function shot(name: string): string {
  mkdirSync(RESULTS, { recursive: true });
  return join(RESULTS, `${name}.png`);
}
