import { defineConfig } from 'vitest/config';

// Integration tests run twice: against embedded PGlite and against real Postgres + Redis
// (TEST_DATABASE_URL / TEST_REDIS_URL, defaulting to the local services; see test/global-setup.ts).
export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'pglite', include: ['test/integration/**/*.test.ts'], env: { TEST_DB_DRIVER: 'pglite' } },
      },
      {
        extends: true,
        test: { name: 'postgres', include: ['test/integration/**/*.test.ts'], env: { TEST_DB_DRIVER: 'postgres' } },
      },
    ],
  },
});
