import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';

/**
 * Finds Postgres and Redis for the integration tests: TEST_DATABASE_URL / TEST_REDIS_URL when
 * given, else the local services on 127.0.0.1, else (only when a Docker engine answers)
 * throwaway containers through testcontainers. Each test app then creates its own database and
 * Redis key prefix, so runs never collide.
 */
const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) || 5432 }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<unknown>> = [];
  let pgUrl = process.env.TEST_DATABASE_URL;
  let redisUrl = process.env.TEST_REDIS_URL;
  if (!pgUrl) {
    if (await reachable(DEFAULT_PG)) pgUrl = DEFAULT_PG;
    else {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:16-alpine').start();
      stops.push(() => container.stop());
      pgUrl = container.getConnectionUri();
    }
  }
  if (!redisUrl) {
    if (await reachable(DEFAULT_REDIS)) redisUrl = DEFAULT_REDIS;
    else {
      const { RedisContainer } = await import('@testcontainers/redis');
      const container = await new RedisContainer('redis:7-alpine').start();
      stops.push(() => container.stop());
      redisUrl = container.getConnectionUrl();
    }
  }
  project.provide('pgUrl', pgUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    for (const stop of stops) await stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    redisUrl: string;
  }
}
