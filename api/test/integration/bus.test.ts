import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { redisBus, type EventBus } from '../../src/infra/bus.js';
import { driver } from '../helpers/build-app.js';

/**
 * The Redis bus between replicas: every replica gets every message once. Volatile messages reach
 * the publisher's own subscribers in process and are dropped when Redis echoes them back; durable
 * ones come back through Redis to everyone (the hub orders them by seq).
 */
// Needs Redis, not a database: run once, with the postgres project.
describe.runIf(driver === 'postgres')('redis event bus', () => {
  const opened: Array<{ bus: EventBus; publisher: Redis; subscriber: Redis }> = [];
  const prefix = `agentvm-test:${randomBytes(6).toString('hex')}:`;

  function replica(): EventBus {
    const publisher = new Redis(inject('redisUrl'), { lazyConnect: false });
    const subscriber = new Redis(inject('redisUrl'), { lazyConnect: false });
    const errors: Error[] = [];
    const bus = redisBus({ publisher, subscriber, prefix, onError: (err) => errors.push(err) });
    opened.push({ bus, publisher, subscriber });
    return bus;
  }

  afterEach(async () => {
    for (const { bus, publisher, subscriber } of opened.splice(0)) {
      await bus.close();
      publisher.disconnect();
      subscriber.disconnect();
    }
  });

  /** Subscribes and waits until Redis confirms the subscription (a probe published on `control` arrives). */
  async function listen(bus: EventBus, channel: 'events' | 'volatile') {
    const got: string[] = [];
    bus.subscribe(channel, (m) => got.push(m));
    const probe = `probe-${randomBytes(4).toString('hex')}`;
    const seen: string[] = [];
    const off = bus.subscribe('control', (m) => seen.push(m));
    await expect.poll(async () => (await bus.publish('control', probe), seen.includes(probe)), { interval: 20 }).toBe(true);
    off();
    return got;
  }

  it('delivers a volatile message once to every replica: its own at once, in process, the others through Redis', async () => {
    const a = replica();
    const b = replica();
    const onA = await listen(a, 'volatile');
    const onB = await listen(b, 'volatile');
    const message = '{"seq":null,"type":"agent.moved"}\n{"seq":null,"type":"task.progress"}';
    const published = a.publish('volatile', message);
    expect(onA).toEqual([message]); // before Redis answered
    await published;
    await expect.poll(() => onB).toEqual([message]);
    // A's echo from Redis has had time to arrive (B, on the same Redis, got it) and was dropped.
    await a.publish('control', 'fence');
    await new Promise((r) => setTimeout(r, 50));
    expect(onA).toEqual([message]);
    expect(onB).toEqual([message]);
  });

  it('still reads volatile messages without an origin (a replica of an earlier version) and durable ones through Redis', async () => {
    const a = replica();
    const volatile = await listen(a, 'volatile');
    const durable = await listen(a, 'events');
    const raw = new Redis(inject('redisUrl'));
    try {
      await raw.publish(`${prefix}bus:volatile`, '{"seq":null,"type":"agent.moved"}');
      await a.publish('events', '{"seq":1,"type":"agent.created"}');
      await expect.poll(() => volatile).toEqual(['{"seq":null,"type":"agent.moved"}']);
      await expect.poll(() => durable).toEqual(['{"seq":1,"type":"agent.created"}']);
    } finally {
      raw.disconnect();
    }
  });
});
