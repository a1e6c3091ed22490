import fp from 'fastify-plugin';
import { agentsRepository } from './agents.repository.js';
import { agentsService, type AgentsService } from './agents.service.js';
import { positionStore, type PositionStore } from './positions.js';

declare module 'fastify' {
  interface FastifyInstance {
    agents: AgentsService;
    positions: PositionStore;
  }
}

/** `app.agents` (the rules other modules call) and `app.positions` (the coalescing store). */
export default fp(
  async (app) => {
    const positions = positionStore({
      repo: agentsRepository(app.database),
      bus: app.bus,
      flushIntervalMs: app.config.positions.flush_interval_ms,
      onError: (err) => app.log.warn({ err: err.message }, 'position flush failed; retrying at the next interval'),
      onGameTraffic: (gameId) => app.games.touch(gameId),
    });
    app.decorate('positions', positions);
    app.decorate('agents', agentsService({ config: app.config, database: app.database, bus: app.bus, tasks: app.tasks, positions }));
    // Shutdown flushes twice. preClose: what is pending now reaches Postgres at once, even if
    // draining the server then takes longer than the process is given. onClose: positions that
    // requests still in flight accepted while the server drained. This plugin is registered
    // after the database plugin, and Fastify runs onClose hooks last-registered first, so the
    // database is still open then.
    app.addHook('preClose', async () => {
      await positions.flush().catch((err: Error) => app.log.error({ err: err.message }, 'position flush at shutdown failed'));
    });
    app.addHook('onClose', async () => {
      await positions.close().catch((err: Error) => app.log.error({ err: err.message }, 'final position flush failed'));
    });
  },
  { name: 'agents', dependencies: ['config', 'db', 'redis', 'tasks', 'games'] },
);
