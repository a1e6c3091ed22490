/**
 * Baseline: bare Fastify hello-world (no plugins, no logger, no auth, no validation). The ceiling
 * of a Fastify route on this machine; run as a child process (PORT from the environment).
 *
 *   GET /health   readiness for the bench
 *   GET /hello    {"hello":"world"}
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
app.get('/hello', async () => ({ hello: 'world' }));

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
