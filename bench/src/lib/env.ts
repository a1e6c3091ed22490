/**
 * Where the bench finds Postgres and Redis: BENCH_DATABASE_URL / BENCH_REDIS_URL, falling back
 * to TEST_* and then to the services on this machine. Every run creates its own database(s) and
 * Redis key prefix and removes them at the end.
 */
export const ADMIN_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Seconds each throughput measurement runs (BENCH_DURATION_S, default 10). */
export const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
/** The api key the bench's api processes accept (admin scope). */
export const BENCH_KEY = 'bench-key-not-for-production-0123456789';
