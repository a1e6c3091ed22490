import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

/**
 * The api (src/server.ts) or a standalone worker (src/worker.ts) as a real child process, run
 * from source through tsx, so tests can SIGTERM or SIGKILL it and start it again. Readiness is
 * read from its JSON log (LOG_LEVEL=info): "agentvm api listening" / "agentvm worker running".
 */

const API_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIGS_DIR = resolve(API_DIR, '../configs');

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test run that dies halfway must not leave servers or workers behind.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/**
 * A config directory holding configs/testing.yaml with `overrides` deep-merged over it (for
 * settings no environment variable reaches: lease length, agent types). Pass its `dir` as
 * AGENTVM_CONFIG_DIR; remove() deletes it.
 */
export function testingConfigDir(overrides: Record<string, unknown>): { dir: string; remove: () => void } {
  const base = parseYaml(readFileSync(join(CONFIGS_DIR, 'testing.yaml'), 'utf8')) as Record<string, unknown>;
  const dir = mkdtempSync(join(tmpdir(), 'agentvm-faults-config-'));
  writeFileSync(join(dir, 'testing.yaml'), stringifyYaml(deepMerge(base, overrides)));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ApiProcessOptions {
  /** src/server.ts (api, listens on `port`) or src/worker.ts (no listener). */
  entry: 'server' | 'worker';
  /** Environment on top of AGENT_ENV=testing and LOG_LEVEL=info (DATABASE_URL, REDIS_URL, …). */
  env: Record<string, string>;
  /** Server only: the port to listen on (kept across restarts). */
  port?: number;
  startTimeoutMs?: number;
}

export interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

export class ApiProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  /** Every JSON log line of every run, in order. */
  readonly logs: LogLine[] = [];
  /** Non-JSON output (stack traces), bounded. */
  private raw = '';
  starts = 0;

  constructor(private readonly options: ApiProcessOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isRunning(): boolean {
    return this.child !== null;
  }

  /** Spawns the process and resolves once it logged that it is listening / running. */
  async start(): Promise<void> {
    if (this.child) throw new Error('already running');
    installExitHook();
    const { entry, env, port, startTimeoutMs = 45_000 } = this.options;
    if (entry === 'server' && !port) throw new Error('a server needs a port');
    const ready = entry === 'server' ? 'agentvm api listening' : 'agentvm worker running';
    const child = spawn(process.execPath, ['--import', 'tsx', `src/${entry}.ts`], {
      cwd: API_DIR,
      env: {
        ...process.env,
        AGENT_ENV: 'testing',
        LOG_LEVEL: 'info',
        ...(port ? { PORT: String(port), HOST: '127.0.0.1' } : {}),
        ...env,
        // vitest's own variables must not make the child think it is a test worker.
        VITEST: '',
        VITEST_POOL_ID: '',
        VITEST_WORKER_ID: '',
        NODE_OPTIONS: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    live.add(child);
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (this.child === child) this.child = null;
        resolveExit({ code, signal });
      });
    });
    let buffer = '';
    let isReady = false;
    let onReady: (() => void) | null = null;
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as LogLine;
          this.logs.push(parsed);
          if (parsed.msg === ready) {
            isReady = true;
            onReady?.();
          }
        } catch {
          this.appendRaw(line + '\n');
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => this.appendRaw(chunk.toString()));
    const exited = this.exited;
    const outcome = await Promise.race([
      new Promise<'ready'>((resolveReady) => {
        if (isReady) resolveReady('ready');
        onReady = () => resolveReady('ready');
      }),
      exited.then((e) => `exited (code ${e.code}, signal ${e.signal})`),
      new Promise<string>((r) => setTimeout(() => r(`not ready within ${startTimeoutMs} ms`), startTimeoutMs).unref()),
    ]);
    if (outcome !== 'ready') {
      await this.kill();
      throw new Error(`${entry} ${outcome}:\n${this.output()}`);
    }
  }

  private appendRaw(text: string): void {
    this.raw = (this.raw + text).slice(-20_000);
  }

  /** The last log lines and stderr, for a failure's message. */
  output(lines = 40): string {
    return [
      ...this.logs.slice(-lines).map((l) => JSON.stringify(l)),
      this.raw.trim() ? `--- stderr / raw ---\n${this.raw.slice(-4000)}` : '',
    ].join('\n');
  }

  /** Log lines with this message. */
  logged(msg: string): LogLine[] {
    return this.logs.filter((l) => l.msg === msg);
  }

  /**
   * Sends the signal and waits for the exit (SIGKILL after timeoutMs). Resolves with how it
   * ended; at once when not running.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    const exited = this.exited;
    if (!child || !exited) return { code: null, signal: null };
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      exited,
      new Promise<null>((r) => {
        timer = setTimeout(() => r(null), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (result) return result;
    child.kill('SIGKILL');
    await exited;
    throw new Error(`process did not exit within ${timeoutMs} ms of ${signal}; killed:\n${this.output()}`);
  }

  /** SIGKILL, for cleanup: never throws. */
  async kill(): Promise<void> {
    const child = this.child;
    const exited = this.exited;
    if (!child || !exited) return;
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP / SIGCONT: a process that hangs (GC pause, frozen VM) without dying. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }
  resume(): void {
    this.child?.kill('SIGCONT');
  }
}
