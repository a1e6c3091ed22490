import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';

/**
 * Fan-out between replicas. Messages are strings serialized once by the publisher. With
 * REDIS_URL it is Redis pub/sub (every replica receives every message, its own included);
 * without, an in-process emitter with the same interface.
 */
export type BusChannel = 'events' | 'control';

export interface EventBus {
  readonly mode: 'redis' | 'memory';
  publish(channel: BusChannel, message: string): Promise<void>;
  subscribe(channel: BusChannel, handler: (message: string) => void): () => void;
  /** Called after the subscription was lost and restored: messages may have been missed. */
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
  let wasReady = false;

  subscriber.on('message', (channel: string, message: string) => {
    for (const handler of handlers.get(channel) ?? []) {
      try {
        handler(message);
      } catch (err) {
        onError(err as Error);
      }
    }
  });
  // ioredis re-subscribes by itself after a reconnect; listeners are told so they can catch up.
  subscriber.on('ready', () => {
    if (wasReady) for (const handler of resubscribed) handler();
    wasReady = true;
  });

  return {
    mode: 'redis',
    async publish(channel, message) {
      try {
        await publisher.publish(channelName(channel), message);
      } catch (err) {
        // Subscribers catch up from the event log when the connection returns.
        onError(err as Error);
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
