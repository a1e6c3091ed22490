import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';

/** Process entry: read config, listen, and shut down gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agentvm: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const app = await buildApp(config);
  closeWithGrace({ delay: config.http.shutdown_grace_s * 1000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down: draining requests, flushing positions, closing pools');
    await app.close();
  });
  const address = await app.listen({ port: config.http.port, host: config.http.host });
  app.log.info(
    { address, env: config.env, database: app.database.driver, bus: app.bus.mode, docs: `${address}/docs`, console: `${address}/console/` },
    'agentvm api listening',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`agentvm: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
