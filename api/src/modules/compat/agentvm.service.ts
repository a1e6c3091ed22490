import { and, eq, inArray, isNull } from 'drizzle-orm';
import type { Config } from '../../config/schema.js';
import type { AgentRunBody, AgentRunResponse } from '../../contract/compat.js';
import type { TaskError } from '../../contract/tasks.js';
import type { Database } from '../../db/client.js';
import { agents, type TaskRow } from '../../db/schema.js';
import type { EventBus } from '../../infra/bus.js';
import type { Actor } from '../../lib/access.js';
import { ValidationError } from '../../lib/errors.js';
import { disallowedArg, resolveRepoPath } from '../../lib/workspace.js';
import type { TasksService } from '../tasks/tasks.service.js';

/** Bounds what one /agent/run answer carries back (the original returned whole outputs; ours keep the tail). */
const MAX_OUTPUT_CHARS = 1024 * 1024;

export interface CompatDeps {
  config: Config;
  database: Database;
  bus: EventBus;
  tasks: TasksService;
  /** Creates an agent of this type outside any game (auto-spawn); returns its id. */
  spawnAgent: (agentType: string, actor: Actor) => Promise<string>;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v.slice(-MAX_OUTPUT_CHARS) : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

/** A finished task in the original API's five keys: {success, stdout, stderr, returncode, error}. */
export function toRunResponse(row: TaskRow): AgentRunResponse {
  if (row.status === 'completed') {
    const r = row.result as Record<string, unknown> | string | null;
    if (typeof r === 'string') return { success: true, stdout: str(r), stderr: null, returncode: 0, error: null };
    const stdout = str(r?.stdout) ?? str(r?.output) ?? str(r?.summary) ?? (r === null ? null : JSON.stringify(r));
    return { success: true, stdout, stderr: str(r?.stderr), returncode: int(r?.returncode) ?? 0, error: null };
  }
  const e = (row.error ?? {}) as Partial<TaskError> & Record<string, unknown>;
  if (row.status === 'cancelled') {
    return {
      success: false,
      stdout: null,
      stderr: null,
      returncode: null,
      error: `Task was cancelled (${String(e.reason ?? 'cancelled')})`,
    };
  }
  return {
    success: false,
    stdout: str(e.stdout),
    stderr: str(e.stderr) ?? str(e.message),
    returncode: int(e.returncode),
    error: str(e.message) ?? 'Agent execution failed',
  };
}

export function agentvmCompatService(deps: CompatDeps) {
  const { config, database, bus, tasks } = deps;

  function validate(body: AgentRunBody): void {
    const type = config.agent_types[body.agent];
    if (!type) {
      throw new ValidationError('agent', `Unknown agent: ${body.agent}. Valid agents: ${Object.keys(config.agent_types).join(', ')}`);
    }
    if (type.runtime === 'command') {
      if (body.repo_path) {
        const resolved = resolveRepoPath(body.repo_path, type.workspace_roots);
        if (!resolved.ok) throw new ValidationError('repo_path', resolved.reason);
      }
      const bad = disallowedArg(body.extra_args ?? [], type.extra_args_allow);
      if (bad !== null)
        throw new ValidationError('extra_args', `argument "${bad}" is not allowed for agent ${body.agent} (extra_args_allow)`);
    }
  }

  /** An agent of the type outside any game that can take work, or a new one when auto_spawn allows. */
  async function ensureAgent(agentType: string, actor: Actor): Promise<void> {
    const [existing] = await database.db
      .select({ id: agents.id })
      .from(agents)
      .where(and(eq(agents.agentType, agentType), isNull(agents.gameId), inArray(agents.status, ['idle', 'busy'])))
      .limit(1);
    if (existing || !config.system.auto_spawn) return;
    await deps.spawnAgent(agentType, actor);
  }

  /** Resolves with the task once it is final (or null when the signal fires first). */
  function waitForFinal(taskId: string, signal: AbortSignal): Promise<TaskRow | null> {
    return new Promise((resolve) => {
      let done = false;
      let checking = false;
      const finish = (row: TaskRow | null) => {
        if (done) return;
        done = true;
        unsubscribe();
        clearInterval(poll);
        signal.removeEventListener('abort', onAbort);
        resolve(row);
      };
      const check = async () => {
        if (checking || done) return;
        checking = true;
        try {
          const row = await tasks.getRow(taskId, { keyId: 'system', name: 'system', scopes: ['admin'], gameId: null });
          if (row.status === 'completed' || row.status === 'failed' || row.status === 'cancelled') finish(row);
        } catch {
          // transient (database blip): the next event or poll checks again
        } finally {
          checking = false;
        }
      };
      const unsubscribe = bus.subscribe('events', (message) => {
        if (message.includes(taskId)) void check();
      });
      // Events are the fast path; the poll covers a bus message lost during a Redis reconnect.
      const poll = setInterval(() => void check(), 1000);
      const onAbort = () => finish(null);
      signal.addEventListener('abort', onAbort);
      void check();
    });
  }

  return {
    validate,
    /** Queues the run as an ordinary task (type `run`) on an agent of that type. */
    async start(body: AgentRunBody, actor: Actor) {
      validate(body);
      await ensureAgent(body.agent, actor);
      return tasks.create(
        {
          description: body.prompt,
          task_type: 'run',
          preferred_type: body.agent,
          timeout_s: body.timeout,
          // A synchronous caller is waiting for one answer: no silent retries behind its back.
          max_attempts: 1,
          metadata: {
            source: 'agent/run',
            ...(body.repo_path ? { repo_path: body.repo_path } : {}),
            ...(body.extra_args?.length ? { extra_args: body.extra_args } : {}),
          },
          ...(actor.gameId ? { game_id: actor.gameId } : {}),
        },
        actor,
      );
    },
    waitForFinal,
    toResponse: toRunResponse,
  };
}

export type AgentvmCompatService = ReturnType<typeof agentvmCompatService>;
