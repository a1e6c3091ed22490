import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';

/**
 * `npm run worker`: a task worker without an HTTP listener, for scale-out in server mode
 * (Postgres + Redis). It builds the same app — the same services, runtimes and event bus — but
 * never listens; api replicas then usually run with AGENTVM_WORKER_EMBEDDED=false.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agentvm worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (!config.database.url) {
    process.stderr.write(
      'agentvm worker: a standalone worker needs DATABASE_URL (Postgres): embedded PGlite belongs to one process — use the api’s embedded worker instead\n',
    );
    process.exit(2);
  }
  const app = await buildApp({ ...config, worker: { ...config.worker, embedded: true } });
  closeWithGrace({ delay: config.http.shutdown_grace_s * 1000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'worker shutting down after an error');
    else app.log.info({ signal }, 'worker shutting down: running tasks go back to the queue');
    await app.close();
  });
  await app.ready();
  app.log.info({ database: app.database.driver, bus: app.bus.mode, concurrency: config.worker.concurrency }, 'agentvm worker running');
}

main().catch((err: unknown) => {
  process.stderr.write(`agentvm worker: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
