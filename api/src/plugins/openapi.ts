import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { VERSION } from '../lib/version.js';

/**
 * The OpenAPI document is generated from the routes' zod schemas (the contract), served at
 * /openapi.json, with Swagger UI at /docs (assets bundled, no CDN).
 */
export default fp(
  async (app) => {
    const access = app.config.http.public_docs ? 'public' : 'read';
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'AgentVM API',
          version: VERSION,
          description:
            'REST API of AgentVM: agents as NPCs in games, tasks, game sessions. Live events stream over the WebSocket at /ws (see the event catalogue at /events/catalog). Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`.',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          },
        },
        security: [{ bearer: [] }, { apiKey: [] }],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    // Swagger UI registers its own routes: give them the docs' access (and ?api_key= for browsers).
    app.addHook('onRoute', (route) => {
      if (route.url === '/docs' || route.url.startsWith('/docs/')) {
        route.config = { ...(route.config ?? {}), access, queryKey: true };
      }
    });
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      uiConfig: { docExpansion: 'list', deepLinking: true },
      uiHooks: {},
      staticCSP: true,
      transformSpecificationClone: true,
    });
    app.get('/openapi.json', { schema: { hide: true }, config: { access, queryKey: true } }, async () => app.swagger());
  },
  { name: 'openapi', dependencies: ['config'] },
);
