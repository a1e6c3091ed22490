import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.js';
import type { Database } from '../../db/client.js';
import type { EventBus } from '../../infra/bus.js';
import type { Actor } from '../../lib/access.js';
import { VERSION } from '../../lib/version.js';
import { systemRepository } from './system.repository.js';

export interface Check {
  ok: boolean;
  latency_ms: number | null;
  error: string | null;
}

/** Live figures other parts report (WebSocket gateway, worker); read by /system/status and /metrics. */
export interface RuntimeStats {
  wsConnections: number;
  worker: { embedded: boolean; running: boolean; activeTasks: number };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export function systemService(deps: {
  config: Config;
  database: Database;
  redis: Redis | null;
  bus: EventBus;
  stats: RuntimeStats;
  startedAt: number;
}) {
  const { config, database, redis, bus, stats, startedAt } = deps;
  const repo = systemRepository(database);

  async function checkDatabase(): Promise<Check> {
    try {
      return { ok: true, latency_ms: round(await database.ping(2000)), error: null };
    } catch (err) {
      return { ok: false, latency_ms: null, error: `database unreachable: ${(err as Error).message}` };
    }
  }

  async function checkRedis(): Promise<Check> {
    if (!redis) return { ok: true, latency_ms: null, error: null };
    const started = performance.now();
    try {
      if (redis.status !== 'ready') throw new Error(`connection is ${redis.status}`);
      await Promise.race([redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), 2000).unref())]);
      return { ok: true, latency_ms: round(performance.now() - started), error: null };
    } catch (err) {
      return { ok: false, latency_ms: null, error: `redis unreachable: ${(err as Error).message}` };
    }
  }

  return {
    uptimeS: () => Math.round((Date.now() - startedAt) / 1000),
    async ready() {
      const [db, rd] = await Promise.all([checkDatabase(), checkRedis()]);
      const checks: Record<string, Check> = { database: db };
      if (redis) checks.redis = rd;
      return { status: db.ok && rd.ok ? ('ready' as const) : ('unavailable' as const), checks };
    },
    async status(actor: Actor) {
      const [db, rd] = await Promise.all([checkDatabase(), checkRedis()]);
      let agents: Record<string, number> = {};
      let tasks: Record<string, number> = {};
      let oldest: number | null = null;
      if (db.ok) {
        [agents, tasks, oldest] = await Promise.all([
          repo.agentCounts(actor.gameId),
          repo.taskCounts(actor.gameId),
          repo.oldestQueuedAgeS(actor.gameId),
        ]);
      }
      const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
      return {
        status: db.ok && rd.ok ? ('ok' as const) : ('degraded' as const),
        version: VERSION,
        env: config.env,
        uptime_s: Math.round((Date.now() - startedAt) / 1000),
        components: {
          database: { driver: database.driver, ...db },
          redis: { mode: bus.mode, ...rd },
          worker: { embedded: stats.worker.embedded, running: stats.worker.running, active_tasks: stats.worker.activeTasks },
        },
        agents: { total: sum(agents), by_status: agents },
        tasks: { total: sum(tasks), by_status: tasks, oldest_queued_age_s: oldest === null ? null : Math.round(oldest * 10) / 10 },
        ws: { connections: stats.wsConnections },
        agent_types: Object.entries(config.agent_types).map(([name, t]) => ({
          name,
          runtime: t.runtime,
          capabilities: t.capabilities,
          description: t.description,
        })),
      };
    },
  };
}
