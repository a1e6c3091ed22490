import fp from 'fastify-plugin';
import { createRuntime } from '../runtimes/registry.js';
import type { Runtime } from '../runtimes/runtime.js';
import { tasksService, type TasksService } from './tasks.service.js';
import { createWorker, type Worker } from './worker.js';

declare module 'fastify' {
  interface FastifyInstance {
    tasks: TasksService;
    worker: Worker | null;
    taskWaiters: TaskWaiters;
  }
}

/**
 * Long-polling claims wait here. Waking every waiting claim on every event made each of them
 * run a dispatch and a transaction at once (a thundering herd behind the dispatcher and outbox
 * locks: assignment p99 of ~0.4–0.9 s for 64 runtime-protocol agents in the bench). So:
 * - `task.assigned` wakes the claims of the agent it names (their task is ready to start);
 * - an event after which something new may be assignable (MAY_FREE_WORK) wakes one claim,
 *   which dispatches for everyone (its dispatch emits `task.assigned`, which then wakes the
 *   right agents) — unless this replica runs the embedded worker, which dispatches on those
 *   events itself;
 * - other events (`task.started`, `agent.updated`, positions, progress) wake nobody.
 * Every claim also re-checks at least once a second, so a missed wake only delays.
 */
export interface TaskWaiters {
  wait(agentId: string, ms: number): Promise<void>;
  /** Wakes the claims waiting for this agent (a dispatch round of this process gave it a task). */
  wake(agentId: string): void;
}

const TYPE_RE = /"type":"([a-z_]+\.[a-z_]+)"/;
/**
 * Events after which a dispatch round may assign something new: a task to run, an agent or a
 * slot free to run one, a dependency met. task.started, agent.updated, positions and progress
 * cannot, and waking a claim for them only cost a round of transactions.
 */
const MAY_FREE_WORK = new Set([
  'task.created',
  'task.completed',
  'task.failed',
  'task.cancelled',
  'agent.created',
  'agent.state_changed',
  'agent.deleted',
]);
const AGENT_RE = /"agent_id":"([0-9a-fA-F-]{36})"/;

function taskWaiters(subscribe: (handler: (message: string) => void) => () => void, workerDispatches: () => boolean) {
  const waiting = new Map<string, Set<() => void>>();
  const wakeAgent = (agentId: string) => {
    const set = waiting.get(agentId);
    if (set) for (const wake of [...set]) wake();
  };
  const wakeOne = () => {
    for (const set of waiting.values()) {
      for (const wake of set) {
        wake();
        return;
      }
    }
  };
  const unsubscribe = subscribe((message) => {
    if (waiting.size === 0) return;
    let other = false;
    for (const line of message.split('\n')) {
      const type = TYPE_RE.exec(line)?.[1];
      if (!type) continue;
      if (type === 'task.assigned') {
        const agentId = AGENT_RE.exec(line)?.[1];
        if (agentId) wakeAgent(agentId.toLowerCase());
        else other = true;
      } else if (MAY_FREE_WORK.has(type)) {
        other = true;
      }
    }
    if (other && !workerDispatches()) wakeOne();
  });
  return {
    wait(agentId: string, ms: number): Promise<void> {
      const key = agentId.toLowerCase();
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          const set = waiting.get(key);
          set?.delete(done);
          if (set && set.size === 0) waiting.delete(key);
          resolve();
        }
        let set = waiting.get(key);
        if (!set) waiting.set(key, (set = new Set()));
        set.add(done);
      });
    },
    wake(agentId: string): void {
      wakeAgent(agentId.toLowerCase());
    },
    close(): void {
      unsubscribe();
      for (const set of [...waiting.values()]) for (const wake of [...set]) wake();
    },
  };
}

/**
 * The task engine: `app.tasks` (the service routes and runtimes call), and — with
 * `worker.embedded` — the built-in worker running simulated / command / agentvm agents.
 */
export default fp(
  async (app) => {
    const service = tasksService({ database: app.database, bus: app.bus, config: app.config });
    app.decorate('tasks', service);
    let worker: Worker | null = null;
    const waiters = taskWaiters(
      (handler) => app.bus.subscribe('events', handler),
      () => worker !== null,
    );
    app.decorate('taskWaiters', waiters);
    // A claim whose agent this replica's dispatcher just gave a task starts it at commit, not
    // after the task.assigned has been sequenced and come back over the bus.
    const offAssigned = service.onAssigned((agentIds) => {
      for (const id of agentIds) waiters.wake(id);
    });

    const runtimes = new Map<string, Runtime>();
    if (app.config.worker.embedded) {
      for (const [name, type] of Object.entries(app.config.agent_types)) {
        const runtime = createRuntime(name, type, {
          log: app.log,
          onAvailability: (agentType, available) => {
            service
              .setTypeAvailability(agentType, available)
              .catch((err: Error) => app.log.warn({ err: err.message, agent_type: agentType }, 'could not update agent availability'));
          },
        });
        if (runtime) runtimes.set(name, runtime);
      }
      worker = createWorker({
        config: app.config,
        service,
        bus: app.bus,
        log: app.log,
        runtimes,
        stats: app.runtimeStats.worker,
      });
    }
    app.decorate('worker', worker);
    app.addHook('onReady', async () => worker?.start());
    // preClose: stop taking work and hand running tasks back before the database closes.
    app.addHook('preClose', async () => {
      offAssigned();
      waiters.close();
      await worker?.stop();
      await Promise.all([...runtimes.values()].map((r) => r.close?.()));
    });
  },
  { name: 'tasks', dependencies: ['config', 'db', 'redis'] },
);
