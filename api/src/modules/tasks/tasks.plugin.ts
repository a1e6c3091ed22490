import { eq } from 'drizzle-orm';
import fp from 'fastify-plugin';
import { agents } from '../../db/schema.js';
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

/** Long-polling claims wait here; any task or agent event wakes them (they then re-check). */
export interface TaskWaiters {
  wait(agentId: string, ms: number): Promise<void>;
}

function taskWaiters(subscribe: (handler: (message: string) => void) => () => void) {
  const waiting = new Set<() => void>();
  const unsubscribe = subscribe((message) => {
    if (waiting.size === 0 || (!message.includes('"task.') && !message.includes('"agent.'))) return;
    for (const wake of waiting) wake();
    waiting.clear();
  });
  return {
    wait(_agentId: string, ms: number): Promise<void> {
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          waiting.delete(done);
          resolve();
        }
        waiting.add(done);
      });
    },
    close(): void {
      unsubscribe();
      for (const wake of waiting) wake();
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
    const waiters = taskWaiters((handler) => app.bus.subscribe('events', handler));
    app.decorate('taskWaiters', waiters);

    let worker: Worker | null = null;
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
        describeAgent: async (agentId) => {
          const [row] = await app.database.db
            .select({ name: agents.name, personality: agents.personality, agentType: agents.agentType })
            .from(agents)
            .where(eq(agents.id, agentId))
            .limit(1);
          return row ?? null;
        },
      });
    }
    app.decorate('worker', worker);
    app.addHook('onReady', async () => worker?.start());
    // preClose: stop taking work and hand running tasks back before the database closes.
    app.addHook('preClose', async () => {
      waiters.close();
      await worker?.stop();
      await Promise.all([...runtimes.values()].map((r) => r.close?.()));
    });
  },
  { name: 'tasks', dependencies: ['config', 'db', 'redis'] },
);
