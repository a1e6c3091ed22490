import { ConfigError, loadConfig } from '../config/load.js';
import { openDatabase } from '../db/client.js';

/** `npm run migrate`: applies the committed SQL migrations and exits (production runs this first). */
async function main(): Promise<void> {
  const config = loadConfig();
  const database = await openDatabase({
    url: config.database.url,
    poolSize: 2,
    dataDir: config.database.data_dir,
    statementTimeoutMs: 600_000,
  });
  const started = performance.now();
  try {
    await database.migrate();
    process.stdout.write(`agentvm: migrations applied on ${database.driver} in ${Math.round(performance.now() - started)} ms\n`);
  } finally {
    await database.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`agentvm: migrate failed: ${err instanceof ConfigError ? err.message : ((err as Error).message ?? String(err))}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
