import type { Redis } from 'ioredis';

/**
 * A rate-limit store for @fastify/rate-limit that counts in process and writes behind to Redis.
 *
 * The plugin's Redis store runs a Lua script per request: on the position hot path that round
 * trip (a socket write per request) was the largest single item of the api's profile. Here:
 * - the first request of a key in a window is counted in Redis at once (INCRBY + PTTL), so a
 *   window starts exact and its expiry comes from Redis, shared by every replica;
 * - later requests of the window are counted in memory and answered at once; every `flushMs`
 *   the hits of all keys go to Redis in one pipeline, and each key learns the replicas' total;
 * - a replica's view of a key is the total Redis last reported plus its own hits not yet
 *   acknowledged: exact within a replica; other replicas' hits are seen within one flush
 *   interval (a budget can be overshot by what other replicas let through in that time).
 * A Redis error fails open like the plugin's `skipOnError` (the hits are kept and sent with
 * the next flush). At most `maxKeys` keys are held; past that a new key is counted in Redis
 * per request, as the plugin's own store does. `continueExceeding` / `exponentialBackoff` are
 * not supported (not used here).
 */
export interface WriteBehindOptions {
  redis: Redis;
  prefix: string;
  flushMs?: number;
  maxKeys?: number;
  onError?: (err: Error) => void;
}

interface Entry {
  /** The replicas' total in Redis at the last answer (including this replica's acknowledged hits). */
  seen: number;
  /** This replica's hits sent and not yet acknowledged. */
  inFlight: number;
  /** This replica's hits not yet sent. */
  pending: number;
  expiresAt: number;
  windowMs: number;
}

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

const INCR_BY = `
local current = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {current, ttl}`;

type WithCommand = Redis & {
  agentvmRateIncrBy(key: string, by: number, windowMs: number): Promise<[number, number]>;
};

export function writeBehindStore(options: WriteBehindOptions) {
  const redis = options.redis as WithCommand;
  const flushMs = options.flushMs ?? 100;
  const maxKeys = options.maxKeys ?? 50_000;
  const onError = options.onError ?? (() => undefined);
  if (typeof redis.agentvmRateIncrBy !== 'function') redis.defineCommand('agentvmRateIncrBy', { numberOfKeys: 1, lua: INCR_BY });

  const entries = new Map<string, Entry>();
  let timer: NodeJS.Timeout | null = null;

  const learn = (entry: Entry, total: number, ttl: number, now: number) => {
    entry.seen = Math.max(entry.seen, Number(total));
    entry.expiresAt = now + Number(ttl);
  };

  function schedule(): void {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      void flush();
    }, flushMs);
    timer.unref();
  }

  async function flush(): Promise<void> {
    const now = Date.now();
    const batch: Array<[string, Entry, number]> = [];
    for (const [key, entry] of entries) {
      if (entry.expiresAt <= now) {
        // The window is over: its unsent hits belong to it, not to the next one.
        if (entry.inFlight === 0) entries.delete(key);
      } else if (entry.pending > 0) {
        batch.push([key, entry, entry.pending]);
        entry.inFlight += entry.pending;
        entry.pending = 0;
      }
    }
    if (batch.length === 0) return;
    const pipeline = redis.pipeline() as unknown as WithCommand & { exec(): Promise<Array<[Error | null, unknown]> | null> };
    for (const [key, entry, n] of batch) void pipeline.agentvmRateIncrBy(key, n, entry.windowMs);
    let replies: Array<[Error | null, unknown]> | null = null;
    let failure: Error | null = null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      failure = err as Error;
    }
    const answered = Date.now();
    for (const [i, [, entry, n]] of batch.entries()) {
      entry.inFlight -= n;
      const [err, value] = replies?.[i] ?? [failure ?? new Error('no reply from Redis'), null];
      if (err || !Array.isArray(value)) {
        failure ??= err ?? new Error('unexpected reply from Redis');
        entry.pending += n; // sent again with the next flush
        continue;
      }
      learn(entry, value[0] as number, value[1] as number, answered);
    }
    if (failure) {
      onError(failure);
      schedule();
    }
  }

  class WriteBehindStore {
    constructor(private readonly prefix: string) {}

    incr(key: string, cb: Callback, timeWindow: number): void {
      const now = Date.now();
      const full = this.prefix + key;
      const entry = entries.get(full);
      if (entry && now < entry.expiresAt) {
        entry.pending++;
        schedule();
        cb(null, { current: entry.seen + entry.inFlight + entry.pending, ttl: entry.expiresAt - now });
        return;
      }
      // A new window (or a key not held): counted in Redis now.
      redis.agentvmRateIncrBy(full, 1, timeWindow).then(
        ([total, ttl]) => {
          const answered = Date.now();
          const held = entries.get(full);
          if (held && answered < held.expiresAt) {
            learn(held, total, ttl, answered);
            cb(null, { current: held.seen + held.inFlight + held.pending, ttl: Number(ttl) });
            return;
          }
          if (held || entries.size < maxKeys) {
            entries.set(full, { seen: Number(total), inFlight: 0, pending: 0, expiresAt: answered + Number(ttl), windowMs: timeWindow });
          }
          cb(null, { current: Number(total), ttl: Number(ttl) });
        },
        (err: Error) => cb(err),
      );
    }

    child(routeOptions: object): WriteBehindStore {
      // The plugin passes the route's merged options with `routeInfo` (the route, or {} for app.rateLimit(options)).
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo ?? {};
      return new WriteBehindStore(`${this.prefix}${route.method ?? ''}${route.url ?? ''}-`);
    }
  }

  return {
    /** The class the plugin instantiates (its `store` option). */
    Store: class extends WriteBehindStore {
      constructor() {
        super(options.prefix);
      }
    },
    /** Sends what is counted and not yet sent (shutdown, tests). */
    flush,
    close(): void {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
