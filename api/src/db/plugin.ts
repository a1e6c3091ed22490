import fp from 'fastify-plugin';
import { openDatabase, type Database } from './client.js';

declare module 'fastify' {
  interface FastifyInstance {
    database: Database;
  }
}

export interface DbPluginOptions {
  /** An already-open database (tests share one across app instances). */
  database?: Database;
}

/** Opens Postgres (DATABASE_URL) or embedded PGlite, migrates when configured, closes on shutdown. */
export default fp<DbPluginOptions>(
  async (app, opts) => {
    const { config } = app;
    const owned = !opts.database;
    const database =
      opts.database ??
      (await openDatabase({
        url: config.database.url,
        poolSize: config.database.pool_size,
        dataDir: config.database.data_dir,
        statementTimeoutMs: config.database.statement_timeout_ms,
        onError: (err) => app.log.warn({ err: err.message }, 'database connection error (the pool reconnects)'),
      }));
    if (config.database.migrate_on_boot) {
      const started = performance.now();
      await database.migrate();
      app.log.info({ driver: database.driver, ms: Math.round(performance.now() - started) }, 'database migrated');
    }
    app.decorate('database', database);
    if (owned) app.addHook('onClose', async () => database.close());
  },
  { name: 'db', dependencies: ['config'] },
);
