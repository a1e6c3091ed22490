import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';

/**
 * Fan-out between replicas. Messages are strings serialized once by the publisher. With
 * REDIS_URL it is Redis pub/sub (every replica receives every message, its own included);
 * without, an in-process emitter with the same interface.
 *
 * Channels: `events` carries durable events (the task worker, the position cache, the games
 * plugin and the hub listen), `volatile` carries agent.moved / task.progress (only the hub
 * listens: the others had to split and skip every position line), `control` carries key
 * revocations.
 *
 * Volatile messages reach the publishing replica's own subscribers at once, in process, and go
 * through Redis only for the other replicas: each carries its origin (`#<replica>` and a newline
 * before the lines), and a replica drops its own when Redis echoes them back. Durable events
 * still come back through Redis to every replica, the publisher included: the hub orders them
 * by seq and would otherwise see a replica's own events overtake those of others.
 */
export type BusChannel = 'events' | 'volatile' | 'control';

export interface EventBus {
  readonly mode: 'redis' | 'memory';
  publish(channel: BusChannel, message: string): Promise<void>;
  subscribe(channel: BusChannel, handler: (message: string) => void): () => void;
  /**
   * Called after the subscription was lost and restored, or when a replica's publishes failed
   * while Redis was away: messages may have been missed (read the log).
   */
  onResubscribed(handler: () => void): () => void;
  close(): Promise<void>;
}

export function memoryBus(): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    mode: 'memory',
    async publish(channel, message) {
      emitter.emit(channel, message);
    },
    subscribe(channel, handler) {
      emitter.on(channel, handler);
      return () => emitter.off(channel, handler);
    },
    onResubscribed() {
      return () => undefined;
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

export interface RedisBusOptions {
  publisher: Redis;
  subscriber: Redis;
  prefix: string;
  onError: (err: Error) => void;
}

export function redisBus({ publisher, subscriber, prefix, onError }: RedisBusOptions): EventBus {
  const handlers = new Map<string, Set<(message: string) => void>>();
  const resubscribed = new Set<() => void>();
  const channelName = (channel: BusChannel) => `${prefix}bus:${channel}`;
  const volatileChannel = channelName('volatile');
  /** Marks this replica's volatile messages; JSON lines never start with `#`. */
  const origin = Buffer.from(`#${randomBytes(8).toString('hex')}\n`);
  /** A replica whose publishes failed says so here once Redis is back: every replica then catches up. */
  const resyncChannel = `${prefix}bus:resync`;
  let wasReady = false;
  let publishFailed = false;
  const catchUp = () => {
    for (const handler of resubscribed) handler();
  };

  function deliver(channel: string, message: string): void {
    for (const handler of handlers.get(channel) ?? []) {
      try {
        handler(message);
      } catch (err) {
        onError(err as Error);
      }
    }
  }
  // Buffers, not strings: a replica's own volatile messages are recognised by their first bytes
  // and dropped without decoding them (at 100,000 positions/s that decoding was ~10 % of the api's
  // CPU).
  subscriber.on('messageBuffer', (channelBytes: Buffer, message: Buffer) => {
    const channel = channelBytes.toString();
    if (channel === resyncChannel) return catchUp();
    if (message[0] !== 0x23 /* # */) return deliver(channel, message.toString());
    if (message.length >= origin.length && message.compare(origin, 0, origin.length, 0, origin.length) === 0) return;
    const newline = message.indexOf(0x0a);
    if (newline > 0) deliver(channel, message.toString('utf8', newline + 1));
  });
  subscriber.subscribe(resyncChannel).catch(onError);
  // ioredis re-subscribes by itself after a reconnect; listeners are told so they can catch up.
  subscriber.on('ready', () => {
    if (wasReady) catchUp();
    wasReady = true;
  });
  // What this replica published while its command connection was down reached only its own
  // subscribers. Another replica's subscription may have come back before this connection did
  // and so caught up too early: once this one is back, every replica is told to read the log.
  publisher.on('ready', () => {
    if (!publishFailed) return;
    publishFailed = false;
    publisher.publish(resyncChannel, '1').catch((err: Error) => {
      publishFailed = true;
      onError(err);
    });
  });

  return {
    mode: 'redis',
    async publish(channel, message) {
      if (channel === 'volatile') {
        deliver(volatileChannel, message);
        try {
          // Bytes, not `origin + message`: concatenating made a rope that ioredis then flattened
          // to measure and encoded again to write (two extra passes over up to a megabyte).
          await publisher.publish(volatileChannel, Buffer.concat([origin, Buffer.from(message)]));
        } catch (err) {
          publishFailed = true;
          onError(err as Error); // its own subscribers have it; the others miss a position or two
        }
        return;
      }
      try {
        await publisher.publish(channelName(channel), message);
      } catch (err) {
        publishFailed = true;
        onError(err as Error);
        // Redis is unreachable: this replica's own subscribers (its WebSocket clients, its
        // worker) still get the message; other replicas catch up from the event log when Redis
        // is back (the resync above). Should Redis have delivered it after all, the hub drops
        // the duplicate by seq and the other subscribers are idempotent.
        deliver(channelName(channel), message);
      }
    },
    subscribe(channel, handler) {
      const name = channelName(channel);
      let set = handlers.get(name);
      if (!set) {
        set = new Set();
        handlers.set(name, set);
        subscriber.subscribe(name).catch(onError);
      }
      set.add(handler);
      return () => {
        set.delete(handler);
      };
    },
    onResubscribed(handler) {
      resubscribed.add(handler);
      return () => resubscribed.delete(handler);
    },
    async close() {
      handlers.clear();
    },
  };
}
