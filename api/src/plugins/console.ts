import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import fp from 'fastify-plugin';

/** web-client/dist, found from src/plugins and from dist/src/plugins. */
export function consoleDir(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = resolve(dir, 'web-client', 'dist');
    if (existsSync(resolve(candidate, 'index.html'))) return candidate;
    dir = dirname(dir);
  }
  return null;
}

/**
 * Serves the browser console's built assets at /console/ (public: the page holds no data and
 * asks for a key), and redirects / there.
 */
export default fp(
  async (app) => {
    const root = consoleDir();
    app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      root ? reply.redirect('/console/') : reply.redirect('/docs'),
    );
    if (!root) {
      app.log.info('web-client/dist not built: /console/ is not served (run npm run build)');
      return;
    }
    app.addHook('onRoute', (route) => {
      if (route.url === '/console' || route.url.startsWith('/console/')) route.config = { ...(route.config ?? {}), access: 'public' };
    });
    await app.register(fastifyStatic, { root, prefix: '/console/', index: false, wildcard: true, maxAge: '1h' });
    // With ignoreTrailingSlash, /console/ is routed as /console: serve the page there (no cache,
    // so a new release's asset names are picked up at once; the hashed assets cache for 1 h).
    app.get('/console', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      reply.header('cache-control', 'no-cache').sendFile('index.html'),
    );
  },
  { name: 'console', dependencies: ['config'] },
);
