import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { commonErrors, cursorQuery, errorBody, limitQuery, page, uuid } from '../../contract/common.js';
import { apiKey, apiKeyCreateBody, apiKeyCreated, whoamiResponse } from '../../contract/system.js';

export const apiKeysRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/auth/whoami',
    {
      schema: {
        tags: ['admin'],
        summary: 'The calling key: name, scopes and game binding (front ends use it to show or hide actions)',
        response: {
          200: whoamiResponse,
          ...commonErrors,
        },
      },
    },
    async (request) => ({
      key_id: request.actor.keyId,
      name: request.actor.name,
      scopes: request.actor.scopes,
      game_id: request.actor.gameId,
    }),
  );

  app.post(
    '/admin/api-keys',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['admin'],
        summary: 'Create an API key (shown once). Scopes: admin, game (bound to game_id), runtime, read',
        body: apiKeyCreateBody,
        response: { 201: apiKeyCreated, ...commonErrors },
      },
    },
    async (request, reply) => reply.code(201).send(await app.apiKeys.create(request.body, request.actor)),
  );
  app.get(
    '/admin/api-keys',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['admin'],
        summary: 'List API keys, newest first (hashes and keys are never returned)',
        querystring: z.object({ limit: limitQuery(500, 100), cursor: cursorQuery }).strict(),
        response: { 200: page(apiKey), ...commonErrors },
      },
    },
    async (request) => app.apiKeys.list(request.query.limit, request.query.cursor),
  );
  app.delete(
    '/admin/api-keys/:key_id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['admin'],
        summary: 'Revoke an API key (effective at once on this replica, within seconds on others)',
        params: z.object({ key_id: uuid }).strict(),
        response: { 204: z.null(), 404: errorBody, ...commonErrors },
      },
    },
    async (request, reply) => {
      await app.apiKeys.revoke(request.params.key_id);
      return reply.code(204).send(null);
    },
  );
};
