import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { gamesService, sweepEveryMs, type GamesService } from './games.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    games: GamesService;
  }
}

/**
 * Auto-spawn reacts to agents leaving idle (bus events, gathered for this long so a burst of
 * task starts costs one check) and, as a safety net for missed messages, checks every game
 * this often.
 */
const AUTO_SPAWN_DEBOUNCE_MS = 50;
const AUTO_SPAWN_EVERY_MS = 5000;

/**
 * Games in which an agent left idle or was deleted, from a bus message (newline-delimited
 * event envelopes). Cheap string checks first: most messages are positions and progress.
 */
export function gamesLosingIdleAgents(message: string): Set<string> {
  const found = new Set<string>();
  if (!message.includes('"agent.state_changed"') && !message.includes('"agent.deleted"')) return found;
  for (const line of message.split('\n')) {
    if (!line.includes('"agent.state_changed"') && !line.includes('"agent.deleted"')) continue;
    try {
      const event = JSON.parse(line) as { type?: unknown; game_id?: unknown; data?: { status?: unknown; previous_status?: unknown } };
      if (typeof event.game_id !== 'string') continue;
      const leftIdle = event.type === 'agent.state_changed' && event.data?.previous_status === 'idle' && event.data.status !== 'idle';
      if (leftIdle || event.type === 'agent.deleted') found.add(event.game_id);
    } catch {
      // not an envelope: nothing to learn from it
    }
  }
  return found;
}

/**
 * The game a successful request acted for: its key's game, or the game_id in its path or body.
 * A game_id in a query string is a filter of someone watching (the console listing a game's
 * sessions), not a sign that the game is alive, so it does not count.
 */
export function trafficGame(request: Pick<FastifyRequest, 'actor' | 'params' | 'body'>): string | null {
  if (request.actor?.gameId) return request.actor.gameId;
  for (const part of [request.params, request.body]) {
    const value = part && typeof part === 'object' ? (part as Record<string, unknown>).game_id : undefined;
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return null;
}

/**
 * `app.games`, plus the periodic session sweep (closes sessions without traffic) and the
 * auto-spawn check. Every successful request made with a game-bound key or naming a game_id in
 * its path or body counts as that game's traffic; the agent routes and the position store add
 * the games of the agents they act on.
 */
export default fp(
  async (app) => {
    const service = gamesService({ config: app.config, database: app.database, bus: app.bus, agents: () => app.agents, log: app.log });
    app.decorate('games', service);
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode >= 400) return; // a refused request is not a sign of life
      const gameId = trafficGame(request);
      if (gameId) service.touch(gameId);
    });

    const running = new Set<Promise<unknown>>();
    let closing = false;
    /** A background job: one run at a time; failures are logged and retried on the next call. */
    function job(what: string, work: () => Promise<unknown>): () => void {
      let current: Promise<unknown> | null = null;
      return () => {
        if (current || closing) return;
        const run = work()
          .catch((err: Error) => app.log.warn({ err: err.message }, `${what} failed; retrying`))
          .finally(() => {
            running.delete(run);
            current = null;
          });
        current = run;
        running.add(run);
      };
    }
    const timers: NodeJS.Timeout[] = [];
    const every = (ms: number, run: () => void) => {
      const timer = setInterval(run, ms);
      timer.unref();
      timers.push(timer);
    };

    every(
      sweepEveryMs(app.config.game.session_timeout_s),
      job('session sweep', async () => {
        const closed = await service.sweep();
        if (closed) app.log.info({ closed }, 'closed game sessions after session_timeout_s without traffic');
      }),
    );

    let unsubscribe = () => {};
    let scheduled: NodeJS.Timeout | null = null;
    if (app.config.system.auto_spawn && app.config.system.min_idle_agents > 0) {
      every(
        AUTO_SPAWN_EVERY_MS,
        job('auto-spawn', () => service.autoSpawnConnected()),
      );
      // Every replica hears the event; the create lock keeps their top-ups from overshooting.
      const dirty = new Set<string>();
      let topping: Promise<unknown> | null = null;
      const schedule = () => {
        if (scheduled || topping || closing || dirty.size === 0) return;
        scheduled = setTimeout(() => {
          scheduled = null;
          const games = [...dirty];
          dirty.clear();
          const run = service
            .autoSpawnConnected(games)
            .catch((err: Error) => app.log.warn({ err: err.message }, 'auto-spawn failed; the periodic check retries'))
            .finally(() => {
              running.delete(run);
              topping = null;
              schedule(); // games that lost idle agents meanwhile
            });
          topping = run;
          running.add(run);
        }, AUTO_SPAWN_DEBOUNCE_MS);
        scheduled.unref();
      };
      unsubscribe = app.bus.subscribe('events', (message) => {
        for (const gameId of gamesLosingIdleAgents(message)) dirty.add(gameId);
        schedule();
      });
    }
    app.addHook('preClose', async () => {
      closing = true;
      unsubscribe();
      for (const timer of timers) clearInterval(timer);
      if (scheduled) clearTimeout(scheduled);
    });
    // After the last request, before the database closes: let a sweep, spawn or touch finish.
    app.addHook('onClose', async () => {
      await Promise.all([...running]);
      await service.settle();
    });
  },
  { name: 'games', dependencies: ['config', 'db', 'redis'] },
);
