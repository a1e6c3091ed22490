import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { agent } from '../../contract/agents.js';
import { commonErrors, errorBody, page } from '../../contract/common.js';
import {
  connectBody,
  connectResponse,
  disconnectBody,
  gameSession,
  gameSummary,
  listSessionsQuery,
  scene,
  sceneBody,
  sceneIdParam,
} from '../../contract/games.js';
import { wsUrl } from './games.service.js';

/** Bodies past http.body_limit_bytes are refused before validation. */
const bodyErrors = { 413: errorBody, ...commonErrors };

export const gamesRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.games;

  app.post(
    '/game/connect',
    {
      schema: {
        tags: ['games'],
        summary: 'Open a game session; returns its id and the WebSocket URL for the game’s events',
        body: connectBody,
        response: { 201: connectResponse, ...bodyErrors },
      },
    },
    async (request, reply) => {
      const session = await service.connect(request.body, request.actor);
      return reply
        .code(201)
        .send({ ...session, ws_url: wsUrl(request, session.game_id), session_timeout_s: app.config.game.session_timeout_s });
    },
  );

  app.post(
    '/game/disconnect',
    {
      schema: {
        tags: ['games'],
        summary: 'Close a game session (game.disconnected, reason client unless given)',
        body: disconnectBody,
        response: { 200: gameSession, 404: errorBody, 409: errorBody, ...bodyErrors },
      },
    },
    async (request) => service.disconnect(request.body.session_id, request.body.reason ?? 'client', request.actor),
  );

  app.put(
    '/game/scene/:scene_id',
    {
      schema: {
        tags: ['games'],
        summary: 'Create or update a scene of a game: bounds, spawn points, metadata',
        params: z.object({ scene_id: sceneIdParam }).strict(),
        body: sceneBody,
        response: { 200: scene, ...bodyErrors },
      },
    },
    async (request) => service.putScene(request.params.scene_id, request.body, request.actor),
  );

  app.get(
    '/game/scene/:scene_id',
    {
      schema: {
        tags: ['games'],
        summary: 'A scene (pass game_id when several games use the same scene id)',
        params: z.object({ scene_id: sceneIdParam }).strict(),
        querystring: z.object({ game_id: z.string().min(1).max(128).optional() }).strict(),
        response: { 200: scene, 404: errorBody, ...commonErrors },
      },
    },
    async (request) => service.getScene(request.params.scene_id, request.query.game_id, request.actor),
  );

  app.get(
    '/game/scenes',
    {
      schema: {
        tags: ['games'],
        summary: 'Scenes of a game (or of every game this key sees)',
        querystring: z.object({ game_id: z.string().min(1).max(128).optional() }).strict(),
        response: { 200: page(scene), ...commonErrors },
      },
    },
    async (request) => service.listScenes(request.query.game_id, request.actor),
  );

  app.get(
    '/game/agents/:game_id',
    {
      schema: {
        tags: ['games'],
        summary: 'Every agent of a game',
        params: z.object({ game_id: z.string().min(1).max(128) }).strict(),
        response: { 200: page(agent), 404: errorBody, ...commonErrors },
      },
    },
    async (request) => {
      service.assertGameVisible(request.actor, request.params.game_id);
      return { items: await app.agents.ofGame(request.params.game_id), next_cursor: null };
    },
  );

  app.get(
    '/game/sessions',
    {
      schema: {
        tags: ['games'],
        summary: 'Game sessions, newest first (filters: game_id, status)',
        querystring: listSessionsQuery,
        response: { 200: page(gameSession), ...commonErrors },
      },
    },
    async (request) => service.listSessions(request.query, request.actor),
  );

  app.get(
    '/games',
    {
      schema: {
        tags: ['games'],
        summary: 'Games with connected sessions, agent counts by status and scene counts',
        querystring: z
          .object({ limit: z.coerce.number().int().min(1).max(500).default(100), cursor: z.string().max(512).optional() })
          .strict(),
        response: { 200: page(gameSummary), ...commonErrors },
      },
    },
    async (request) => service.listGames(request.actor, request.query.limit, request.query.cursor),
  );
};
