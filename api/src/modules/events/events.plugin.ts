import fp from 'fastify-plugin';
import { eventsRepository, type EventsRepository } from './events.repository.js';
import { closeOutbox, outboxFor } from './outbox.js';
import { createHub, type Hub } from './hub.js';

declare module 'fastify' {
  interface FastifyInstance {
    hub: Hub;
    eventLog: EventsRepository;
  }
}

/**
 * The WebSocket hub of this replica (one bus subscription, fan-out to sockets), its heartbeat,
 * and retention pruning of the event log.
 */
export default fp(
  async (app) => {
    const repo = eventsRepository(app.database);
    const hub = createHub({
      bus: app.bus,
      repo,
      maxBufferedBytes: app.config.ws.max_buffered_bytes,
      replayBatch: app.config.ws.replay_batch,
      onError: (err) => app.log.warn({ err: err.message }, 'event hub: reading the log failed; retrying'),
      onSlowClient: (client) =>
        app.log.info({ connection_id: client.id, buffered: client.socket.bufferedAmount }, 'websocket client too slow: closed with 4008'),
    });
    app.decorate('hub', hub);
    // The sequencer of this replica (Postgres only): created here so its failures are logged.
    outboxFor(app.database, app.bus).sequencer?.onError((err) =>
      app.log.warn({ err: err.message }, 'event sequencer: moving staged events into the log failed; the sweep retries'),
    );
    // onClose runs after every preClose hook (the tasks plugin hands running tasks back there) and
    // before the database plugin's (registered earlier): what is staged is sequenced first.
    app.addHook('onClose', async () => closeOutbox(app.database, app.bus));
    app.decorate('eventLog', repo);
    await hub.start();

    const heartbeat = setInterval(() => {
      hub.heartbeat();
      app.runtimeStats.wsConnections = hub.clients();
    }, app.config.ws.ping_interval_s * 1000);
    heartbeat.unref();

    const { retention_days: days, retention_max_events: maxEvents, prune_interval_s: everyS } = app.config.events;
    const prune = setInterval(() => {
      // Idempotent: replicas pruning at once delete disjoint or already-deleted rows.
      repo
        .prune(days, maxEvents)
        .then((n) => {
          if (n) app.log.info({ pruned: n, retention_days: days, retention_max_events: maxEvents }, 'event log pruned');
        })
        .catch((err: Error) => app.log.warn({ err: err.message }, 'event log pruning failed'));
    }, everyS * 1000);
    prune.unref();

    app.addHook('preClose', async () => {
      clearInterval(heartbeat);
      clearInterval(prune);
      await hub.close(1001, 'server shutting down: reconnect with since');
      app.runtimeStats.wsConnections = 0;
    });
  },
  { name: 'events', dependencies: ['config', 'db', 'redis'] },
);
