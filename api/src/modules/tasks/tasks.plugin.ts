import fp from 'fastify-plugin';
import { createRuntime } from '../runtimes/registry.js';
import type { Runtime } from '../runtimes/runtime.js';
import { createTaskWaiters, type TaskWaiters } from './claim-waiters.js';
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
 * The task engine: `app.tasks` (the service routes and runtimes call), and — with
 * `worker.embedded` — the built-in worker running simulated / command / agentvm agents.
 */
export default fp(
  async (app) => {
    let worker: Worker | null = null;
    const waiters = createTaskWaiters(
      (handler) => app.bus.subscribe('events', handler),
      () => worker !== null,
    );
    app.decorate('taskWaiters', waiters);
    // The service's dispatch rounds start the tasks they give to agents whose claims wait here.
    const service = tasksService({ database: app.database, bus: app.bus, config: app.config, claims: waiters });
    app.decorate('tasks', service);
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
