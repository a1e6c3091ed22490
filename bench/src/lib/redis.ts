/** Redis helpers of the REST benchmarks: a run's key prefix and the server's version. */
import { Redis } from 'ioredis';
import { REDIS_URL } from './env.js';

async function withRedis<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under a prefix; resolves with how many. */
export function dropRedisKeys(prefix: string): Promise<number> {
  return withRedis(async (redis) => {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    return deleted;
  });
}

/** redis_version from INFO server. */
export function redisVersion(): Promise<string> {
  return withRedis(async (redis) => /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown');
}
