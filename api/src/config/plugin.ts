import fp from 'fastify-plugin';
import type { Config } from './schema.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
  }
}

/** Makes the parsed configuration reachable as `app.config` (read once at boot, never re-read). */
export default fp<{ config: Config }>(
  async (app, opts) => {
    app.decorate('config', opts.config);
  },
  { name: 'config' },
);
