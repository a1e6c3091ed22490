import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { memoryBus, redisBus, type EventBus } from './bus.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** null when REDIS_URL is not set (in-process bus and rate-limit store). */
    redis: Redis | null;
    bus: EventBus;
  }
}

/**
 * Redis when configured: one connection for commands (rate limits, publish) and one for
 * subscriptions (a subscribed connection can run no other command). Reconnects are automatic
 * and logged; an outage never crashes the api: publishes reach this replica's own subscribers
 * only (other replicas' WebSocket clients catch up from the event log) and rate limiting fails open.
 */
export default fp(
  async (app) => {
    const { url, key_prefix: prefix } = app.config.redis;
    if (!url) {
      app.decorate('redis', null);
      app.decorate('bus', memoryBus());
      return;
    }
    const connect = (role: string) => {
      const client = new Redis(url, {
        lazyConnect: true,
        // Commands fail at once while disconnected instead of queueing behind a dead socket.
        enableOfflineQueue: role === 'subscriber',
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(times * 200, 5000),
        connectionName: `agentvm-${role}`,
      });
      let down = false;
      client.on('error', (err: Error) => {
        if (!down) app.log.warn({ role, err: err.message }, 'redis connection error; reconnecting');
        down = true;
      });
      client.on('ready', () => {
        if (down) app.log.info({ role }, 'redis connection restored');
        down = false;
      });
      return client;
    };
    const publisher = connect('commands');
    const subscriber = connect('subscriber');
    await Promise.all(
      [publisher, subscriber].map((c) =>
        c.connect().catch((err: Error) => {
          app.log.warn({ err: err.message }, 'redis not reachable at boot; continuing and retrying in the background');
        }),
      ),
    );
    const bus = redisBus({ publisher, subscriber, prefix, onError: (err) => app.log.warn({ err: err.message }, 'event bus error') });
    app.decorate('redis', publisher);
    app.decorate('bus', bus);
    app.addHook('onClose', async () => {
      await bus.close();
      publisher.disconnect();
      subscriber.disconnect();
    });
  },
  { name: 'redis', dependencies: ['config'] },
);
