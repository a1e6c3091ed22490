import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/schema.js';
import type { Activity } from '../../contract/agents.js';
import type { TaskError } from '../../contract/tasks.js';
import type { EventBus } from '../../infra/bus.js';
import type { ProgressReport, Runtime, RuntimeTask } from '../runtimes/runtime.js';
import { latestWins } from '../../lib/latest-wins.js';
import { mayFreeSlot, startActivity } from './assignment.js';
import type { StartedTask } from './tasks.repository.js';
import type { TasksService } from './tasks.service.js';

/**
 * The built-in worker: runs tasks of agent types whose runtime lives in this process
 * (simulated, command, agentvm). It dispatches, starts assigned tasks under a lease, runs them,
 * heart-beats while they run and reports the outcome through the same service the REST runtime
 * protocol uses. Several workers (embedded in api replicas or `npm run worker`) share the queue
 * safely: starting a task is an UPDATE … SKIP LOCKED, and only the lease holder may finish it.
 */

/** Progress is published at most this often per task (a game renders it; more is noise). */
const PROGRESS_EVERY_MS = 200;

/**
 * A task's activity changes are written at most this often (the latest waiting one wins): a
 * game cannot show a bubble for less, and a fast runtime wrote a transaction per phase.
 */
const ACTIVITY_EVERY_MS = 200;

/** The worker answers no client: its outcomes return at commit and are sequenced meanwhile. */
const BACKGROUND = { background: true } as const;

interface ActivityWrite {
  activity: Activity | null;
  detail: string | null | undefined;
}

interface Running {
  row: StartedTask;
  token: string;
  controller: AbortController;
  abortReason: 'cancelled' | 'lease_lost' | 'shutdown' | null;
  progress: ProgressReport;
  done: Promise<void>;
}

export interface WorkerDeps {
  config: Config;
  service: TasksService;
  bus: EventBus;
  log: FastifyBaseLogger;
  /** Runtime per agent type name (only the types this worker runs). */
  runtimes: Map<string, Runtime>;
  stats: { running: boolean; activeTasks: number };
}

export function createWorker(deps: WorkerDeps) {
  const { config, service, bus, log, runtimes, stats } = deps;
  const running = new Map<string, Running>();
  const types = [...runtimes.keys()];
  let stopped = true;
  let wake: (() => void) | null = null;
  let pendingWake = false;
  let loop: Promise<void> | null = null;
  let lastReap = 0;
  /** The last round assigned and started nothing. */
  let quiet = false;
  let unsubscribe: (() => void) | null = null;

  function poke(): void {
    pendingWake = true;
    wake?.();
  }

  /** Events that can make work available wake the loop at once; cancellations abort runs. */
  function onBusMessage(message: string): void {
    for (const line of message.split('\n')) {
      // Cheap prefilter before parsing: most lines are positions and progress.
      if (!line.includes('"task.') && !line.includes('"agent.created"') && !line.includes('"agent.state_changed"')) continue;
      let event: { type?: string; data?: { task_id?: string; will_retry?: boolean; status?: string; previous_status?: string } };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        continue;
      }
      const type = event.type ?? '';
      const taskId = event.data?.task_id;
      if ((type === 'task.cancelled' || (type === 'task.failed' && taskId && running.has(taskId))) && taskId) {
        const run = running.get(taskId);
        if (run && run.abortReason === null) {
          run.abortReason = type === 'task.cancelled' ? 'cancelled' : 'lease_lost';
          run.controller.abort(new Error(type));
        }
      }
      if (
        type === 'task.created' ||
        type === 'task.completed' ||
        type === 'task.failed' ||
        type === 'task.cancelled' ||
        // an assignment to start — not one this worker's own round started
        (type === 'task.assigned' && !(taskId && running.has(taskId))) ||
        (type === 'agent.state_changed' && mayFreeSlot(event.data)) ||
        type === 'agent.created'
      ) {
        poke();
      }
    }
  }

  async function tick(): Promise<void> {
    if (Date.now() - lastReap >= config.tasks.reaper_interval_ms) {
      lastReap = Date.now();
      const reaped = await service.reap();
      if (reaped.expired || reaped.timedOut || reaped.offline) log.info(reaped, 'reaper: leases expired, tasks timed out, agents offline');
    }
    // A round after one that found nothing first asks, in one statement without the dispatch
    // lock, whether there is anything to do. The loop is woken by every task and agent event
    // (a task's own activity changes and completion included): at 20 tasks/s most rounds found
    // nothing, and each was a transaction of six statements holding the dispatch lock that a
    // creating request then found taken (and assigned nothing itself).
    if (quiet && !(await service.hasWork(types))) return;
    // Dispatches for every runtime (external agents' tasks too) and starts what this worker runs.
    const free = Math.max(0, config.worker.concurrency - running.size);
    const { assigned, started } = await service.dispatchAndStart(types, free);
    quiet = assigned === 0 && started.length === 0;
    for (const row of started) run(row);
    if (free > 0 && started.length === free) poke(); // there may be more
  }

  function run(row: StartedTask): void {
    const controller = new AbortController();
    const entry: Running = { row, token: row.leaseToken!, controller, abortReason: null, progress: {}, done: Promise.resolve() };
    running.set(row.id, entry);
    stats.activeTasks = running.size;
    entry.done = execute(entry).finally(() => {
      running.delete(row.id);
      stats.activeTasks = running.size;
      poke();
    });
  }

  async function execute(entry: Running): Promise<void> {
    const { row, token, controller } = entry;
    const leaseMs = config.tasks.lease_s * 1000;
    // Heartbeat at a third of the lease: two can be lost before the lease expires.
    const heartbeat = setInterval(
      () => {
        service
          .heartbeat(row.id, token, { progress: entry.progress.progress, message: entry.progress.message }, null)
          .catch((err: Error & { code?: string }) => {
            if (err.code === 'lease_lost' || err.code === 'not_found') {
              if (entry.abortReason === null) {
                entry.abortReason = 'lease_lost';
                controller.abort(err);
              }
            } else {
              log.warn({ task_id: row.id, err: err.message }, 'heartbeat failed; retrying at the next interval');
            }
          });
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    let lastPublished = 0;
    // The start made the agent busy with this activity, the task's description as its detail: a
    // runtime's first report of the same activity is not written (it would only swap that detail
    // for the runtime's own words, at the cost of a durable write and an agent.state_changed).
    let lastActivity: string | null | undefined = startActivity(row);
    // Activity changes are durable writes: one at a time per task, in order, at most one per
    // ACTIVITY_EVERY_MS, the latest waiting one winning.
    const activity = latestWins<ActivityWrite>(
      (next) =>
        service
          .setActivity(row.id, token, next.activity, next.detail)
          .catch((err: Error) => log.debug({ err: err.message }, 'activity update skipped')),
      ACTIVITY_EVERY_MS,
    );
    const report = (p: ProgressReport) => {
      entry.progress = { ...entry.progress, ...p };
      if (p.activity !== undefined && p.activity !== lastActivity) {
        lastActivity = p.activity;
        activity.push({ activity: p.activity, detail: p.activityDetail });
      }
      const now = Date.now();
      if (now - lastPublished >= PROGRESS_EVERY_MS || p.progress === 1) {
        lastPublished = now;
        service.publishProgress(row, { ...entry.progress, activity: entry.progress.activity ?? null }).catch(() => undefined);
      }
    };
    try {
      // The agent's type decides the runtime (an untargeted task names no type of its own); the
      // start statement read it with the task.
      const agent = row.runner;
      const runtime = runtimes.get(agent.agentType);
      if (!runtime) {
        const message = `no built-in runtime here for agent type ${agent.agentType}`;
        await service.fail(row.id, token, { code: 'no_runtime', message }, false, null, BACKGROUND);
        return;
      }
      const task: RuntimeTask = {
        id: row.id,
        description: row.description,
        taskType: row.taskType,
        agentId: row.agentId!,
        agentName: agent.name,
        agentType: agent.agentType,
        personality: agent.personality,
        gameId: row.gameId,
        attempt: row.attempts,
        timeoutS: row.timeoutS,
        collaborative: row.parentId !== null,
        metadata: row.metadata,
      };
      const outcome = await runtime.run(task, { signal: controller.signal, report });
      if (entry.abortReason === 'cancelled' || entry.abortReason === 'lease_lost') return; // someone else decided
      if (entry.abortReason === 'shutdown') {
        await service.fail(
          row.id,
          token,
          { code: 'worker_shutdown', message: 'the worker stopped while running the task' },
          true,
          null,
          BACKGROUND,
        );
        return;
      }
      if (outcome.ok) await service.complete(row.id, token, outcome.result, null, BACKGROUND);
      else await service.fail(row.id, token, outcome.error, outcome.retryable, null, BACKGROUND);
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === 'lease_lost' || e.code === 'not_found') return;
      log.error({ task_id: row.id, err: e.message }, 'task run failed');
      const error: TaskError = { code: 'runtime_error', message: e.message };
      await service.fail(row.id, token, error, true, null, BACKGROUND).catch(() => undefined);
    } finally {
      clearInterval(heartbeat);
      // The task's outcome set the agent's state; a change still waiting would be stale.
      activity.close();
    }
  }

  async function runLoop(): Promise<void> {
    while (!stopped) {
      pendingWake = false;
      try {
        await tick();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'worker round failed; retrying');
      }
      if (stopped) break;
      if (pendingWake) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.worker.poll_interval_ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  }

  return {
    start(): void {
      if (!stopped) return;
      stopped = false;
      stats.running = true;
      const offBus = bus.subscribe('events', onBusMessage);
      const offQueued = service.onQueued?.(poke);
      unsubscribe = () => {
        offBus();
        offQueued?.();
      };
      loop = runLoop();
      log.info({ types, concurrency: config.worker.concurrency }, 'task worker started');
    },
    /** Stops taking work, aborts what runs (those tasks go back to the queue) and waits for it. */
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      stats.running = false;
      unsubscribe?.();
      wake?.();
      for (const entry of running.values()) {
        if (entry.abortReason === null) {
          entry.abortReason = 'shutdown';
          entry.controller.abort(new Error('shutdown'));
        }
      }
      await loop;
      await Promise.allSettled([...running.values()].map((r) => r.done));
    },
    poke,
    activeCount: () => running.size,
  };
}

export type Worker = ReturnType<typeof createWorker>;
