import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { AgentTypeConfig } from '../../config/schema.js';
import type { TaskError } from '../../contract/tasks.js';
import { resolveRepoPath } from '../../lib/workspace.js';
import type { Runtime, RuntimeContext, RuntimeOutcome, RuntimeTask } from './runtime.js';

type CommandConfig = Extract<AgentTypeConfig, { runtime: 'command' }>;

export const PLACEHOLDERS = ['description', 'task_type', 'task_id', 'agent_id', 'agent_name', 'repo_path'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];
/** Anything that looks like a placeholder; unknown names are refused when the runtime is created. */
const PLACEHOLDER_RE = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** After SIGTERM, a process group gets this long before SIGKILL. */
export const KILL_GRACE_MS = 2000;
/** Progress messages are cut to this many characters. */
const MESSAGE_MAX_CHARS = 200;
/** A partial line longer than this is reported as it is (a progress bar without newlines). */
const LINE_MAX_CHARS = 4096;
/**
 * A line `PROGRESS <fraction>` (0..1, e.g. `PROGRESS 0.4`), optionally followed by a message
 * (`PROGRESS 0.4 running tests`), on stdout or stderr, reports progress instead of a message.
 */
export const PROGRESS_RE = /^PROGRESS\s+(\d+(?:\.\d+)?|\.\d+)(?:\s+(.*))?$/;

/** Fails at boot (with the key named) when the argv template uses an unknown placeholder. */
export function checkTemplate(typeName: string, argv: readonly string[]): void {
  for (const arg of argv) {
    for (const match of arg.matchAll(PLACEHOLDER_RE)) {
      if (!PLACEHOLDERS.includes(match[1] as Placeholder)) {
        throw new Error(
          `agent_types.${typeName}.argv: unknown placeholder {${match[1]}} in "${arg}"; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
        );
      }
    }
  }
}

/**
 * Each template element becomes exactly one argument. Values are inserted as text into that
 * element — never through a shell — so `; rm -rf /`, `$(…)`, quotes and newlines stay literal.
 * Substitution is one pass: a value that itself contains `{task_id}` is not expanded again.
 */
export function buildArgv(argv: readonly string[], values: Record<Placeholder, string>): string[] {
  return argv.map((arg) => arg.replace(PLACEHOLDER_RE, (whole, name: string) => (name in values ? values[name as Placeholder] : whole)));
}

/** Keeps the last `max` bytes of a stream, cut at a UTF-8 character boundary. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Drop whole chunks while the rest still holds `max` bytes; toString trims the first one.
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.max) {
      this.size -= this.chunks.shift()!.length;
      this.truncated = true;
    }
  }
  toString(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.max) {
      buf = buf.subarray(buf.length - this.max);
      this.truncated = true;
      // skip the continuation bytes of a character cut in half
      let i = 0;
      while (i < buf.length && (buf[i]! & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
    }
    return buf.toString('utf8');
  }
}

/** Cuts to `max` characters without splitting a surrogate pair. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

type Prepared = { ok: true; cwd: string; args: string[] } | { ok: false; error: TaskError };

/**
 * The command runtime: runs the type's argv template (never a shell, never a command from the
 * API) in the agent's working directory, with an environment allow-list and a timeout that kills
 * the whole process group. Output lines stream as progress messages; the tails are kept.
 */
export function createCommandRuntime(typeName: string, config: CommandConfig): Runtime {
  checkTemplate(typeName, config.argv);
  const [program, ...templateArgs] = config.argv as [string, ...string[]];
  const workdirRoot = resolve(config.workdir_root);
  const allowExtra = config.extra_args_allow.map((pattern, i) => {
    try {
      return new RegExp(`^(?:${pattern})$`);
    } catch (err) {
      throw new Error(`agent_types.${typeName}.extra_args_allow[${i}]: not a regular expression: ${(err as Error).message}`);
    }
  });

  /** Working directory and argv for a task, or why the task cannot run (never retryable). */
  function prepare(task: RuntimeTask): Prepared {
    // Defence in depth: the API validates repo_path and extra_args too.
    const fail = (code: string, message: string): Prepared => ({ ok: false, error: { code, message } });
    let cwd: string;
    const repoPath = task.metadata.repo_path;
    if (repoPath !== undefined && repoPath !== null) {
      if (typeof repoPath !== 'string') return fail('invalid_repo_path', 'repo_path must be a string');
      const checked = resolveRepoPath(repoPath, config.workspace_roots);
      if (!checked.ok) return fail('invalid_repo_path', checked.reason);
      let isDir = false;
      try {
        isDir = statSync(checked.path).isDirectory();
      } catch {
        // missing
      }
      if (!isDir) return fail('invalid_repo_path', `"${repoPath}" is not an existing directory`);
      cwd = checked.path;
    } else {
      cwd = resolve(workdirRoot, task.agentId);
      if (dirname(cwd) !== workdirRoot || basename(cwd) !== task.agentId)
        return fail('invalid_agent_id', `agent id "${task.agentId}" is not a directory name`);
      try {
        mkdirSync(cwd, { recursive: true });
      } catch (err) {
        return fail('workdir_failed', `cannot create the working directory ${cwd}: ${(err as Error).message}`);
      }
    }

    const rawExtra = task.metadata.extra_args ?? [];
    if (!Array.isArray(rawExtra) || rawExtra.some((a) => typeof a !== 'string'))
      return fail('invalid_extra_args', 'extra_args must be an array of strings');
    const extra = rawExtra as string[];
    const bad = extra.find((arg) => !allowExtra.some((re) => re.test(arg)));
    if (bad !== undefined)
      return fail('invalid_extra_args', `argument "${clip(bad, MESSAGE_MAX_CHARS)}" is not allowed (extra_args_allow)`);

    const args = [
      ...buildArgv(templateArgs, {
        description: task.description,
        task_type: task.taskType,
        task_id: task.id,
        agent_id: task.agentId,
        agent_name: task.agentName,
        repo_path: cwd,
      }),
      ...extra,
    ];
    // The one thing an argument cannot carry: the OS would cut it there.
    if (args.some((a) => a.includes('\0'))) return fail('invalid_argument', 'an argument contains a NUL character');
    return { ok: true, cwd, args };
  }

  function environment(task: RuntimeTask): Record<string, string> {
    const env: Record<string, string> = {};
    for (const name of config.env_allow) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    env.AGENTVM_TASK_ID = task.id;
    env.AGENTVM_AGENT_ID = task.agentId;
    env.AGENTVM_TASK_TYPE = task.taskType;
    return env;
  }

  return {
    name: 'command',
    run(task: RuntimeTask, ctx: RuntimeContext): Promise<RuntimeOutcome> {
      const cancelled = (extra: Record<string, unknown> = {}): RuntimeOutcome => ({
        ok: false,
        error: { code: 'cancelled', message: 'the command was stopped', ...extra },
        retryable: false,
      });
      if (ctx.signal.aborted) return Promise.resolve(cancelled());
      const prepared = prepare(task);
      if (!prepared.ok) return Promise.resolve({ ok: false, error: prepared.error, retryable: false });
      const { cwd, args } = prepared;
      const timeoutS = Math.min(task.timeoutS, config.timeout_s);

      return new Promise<RuntimeOutcome>((settle) => {
        const started = Date.now();
        const stdout = new TailBuffer(config.max_output_bytes);
        const stderr = new TailBuffer(config.max_output_bytes);
        let reason: 'timeout' | 'cancelled' | null = null;
        let killTimer: NodeJS.Timeout | null = null;
        let timeout: NodeJS.Timeout | null = null;
        let child: ChildProcess;
        try {
          // detached: the child leads its own process group, so a kill reaches its children too.
          child = spawn(program, args, { cwd, env: environment(task), shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (err) {
          settle({
            ok: false,
            error: { code: 'spawn_failed', message: `cannot run ${program}: ${(err as Error).message}` },
            retryable: false,
          });
          return;
        }

        const killGroup = (signal: NodeJS.Signals) => {
          try {
            if (child.pid) process.kill(-child.pid, signal);
          } catch {
            // the group is gone
          }
        };
        const stop = (why: 'timeout' | 'cancelled') => {
          if (reason) return;
          reason = why;
          killGroup('SIGTERM');
          killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
        };
        timeout = setTimeout(() => stop('timeout'), timeoutS * 1000);
        const onAbort = () => stop('cancelled');
        ctx.signal.addEventListener('abort', onAbort, { once: true });

        const lines = (buffer: TailBuffer) => {
          const decoder = new StringDecoder('utf8'); // a character split across chunks stays whole
          let pending = '';
          const emit = (line: string) => {
            const text = line.trim();
            if (!text) return;
            const progress = PROGRESS_RE.exec(text);
            if (progress) {
              const value = Math.min(1, Number(progress[1]));
              ctx.report(progress[2] ? { progress: value, message: clip(progress[2], MESSAGE_MAX_CHARS) } : { progress: value });
            } else {
              ctx.report({ message: clip(text, MESSAGE_MAX_CHARS), activity: 'coding' });
            }
          };
          return {
            data(chunk: Buffer) {
              buffer.push(chunk);
              pending += decoder.write(chunk);
              const parts = pending.split(/\r?\n|\r/);
              pending = parts.pop() ?? '';
              for (const line of parts) emit(line);
              if (pending.length > LINE_MAX_CHARS) {
                emit(pending);
                pending = '';
              }
            },
            end() {
              emit(pending + decoder.end());
              pending = '';
            },
          };
        };
        const out = lines(stdout);
        const err = lines(stderr);
        child.stdout!.on('data', out.data);
        child.stdout!.on('end', out.end);
        child.stderr!.on('data', err.data);
        child.stderr!.on('end', err.end);
        ctx.report({ activity: 'coding', activityDetail: `running ${program}` });

        let spawnError: Error | null = null;
        child.on('error', (e) => {
          spawnError = e;
        });
        // The program is done: whatever it left running in its group (holding our pipes open,
        // or just lingering) goes too, so `close` comes now rather than at the timeout.
        child.on('exit', () => killGroup('SIGKILL'));
        child.on('close', (code, signal) => {
          if (timeout) clearTimeout(timeout);
          if (killTimer) clearTimeout(killTimer);
          ctx.signal.removeEventListener('abort', onAbort);
          killGroup('SIGKILL');
          const output = { stdout: stdout.toString(), stderr: stderr.toString(), duration_ms: Date.now() - started };
          if (spawnError) {
            settle({
              ok: false,
              error: { code: 'spawn_failed', message: `cannot run ${program}: ${spawnError.message}` },
              retryable: false,
            });
          } else if (reason === 'cancelled') {
            settle(cancelled(output));
          } else if (reason === 'timeout') {
            settle({
              ok: false,
              error: { code: 'timeout', message: `command timed out after ${timeoutS} s`, returncode: null, ...output },
              retryable: config.retryable,
            });
          } else if (code === 0) {
            settle({ ok: true, result: { returncode: 0, ...output } });
          } else {
            const what = code === null ? `was killed by ${signal}` : `exited with ${code}`;
            settle({
              ok: false,
              error: { code: 'exit_status', message: `command ${what}`, returncode: code, signal, ...output },
              retryable: config.retryable,
            });
          }
        });
      });
    },
  };
}
