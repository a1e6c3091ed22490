import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  agent,
  batchPositionsBody,
  batchPositionsResponse,
  createAgentBody,
  listAgentsQuery,
  patchAgentBody,
  positionBody,
  positionJson,
  positionResponse,
} from '../../contract/agents.js';
import { commonErrors, errorBody, page, uuid } from '../../contract/common.js';

const agentParams = z.object({ agent_id: uuid }).strict();
/** Bodies past http.body_limit_bytes are refused before validation. */
const bodyErrors = { 413: errorBody, ...commonErrors };

export const agentsRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.agents;
  const positions = app.positions;
  /** A call on a game's agent is that game's traffic: it keeps the game's sessions open. */
  const traffic = <T extends { game_id: string | null }>(agent: T): T => {
    if (agent.game_id) app.games.touch(agent.game_id);
    return agent;
  };
  // Position routes are hot (a game sends ~10/s per agent): their own, larger rate budget.
  const positionsLimit = { rateLimit: { max: app.config.rate_limit.positions_per_minute, timeWindow: 60_000 } };

  app.post(
    '/agents/create',
    {
      schema: {
        tags: ['agents'],
        summary: 'Create an agent (an NPC in a game)',
        description: 'agent_type must be a configured type. 409 limit_reached past system.max_agents.',
        body: createAgentBody,
        response: { 201: agent, 409: errorBody, ...bodyErrors },
      },
    },
    async (request, reply) => reply.code(201).send(traffic(await service.create(request.body, request.actor))),
  );

  app.get(
    '/agents',
    {
      schema: {
        tags: ['agents'],
        summary: 'List agents in creation order (filters: game_id, status, agent_type, scene_id; keyset pagination)',
        querystring: listAgentsQuery,
        response: { 200: page(agent), ...commonErrors },
      },
    },
    async (request) => service.list(request.query, request.actor),
  );

  app.get(
    '/agents/:agent_id',
    { schema: { tags: ['agents'], summary: 'An agent', params: agentParams, response: { 200: agent, 404: errorBody, ...commonErrors } } },
    async (request) => traffic(await service.get(request.params.agent_id, request.actor)),
  );

  app.patch(
    '/agents/:agent_id',
    {
      schema: {
        tags: ['agents'],
        summary: 'Change an agent’s name, capabilities, personality, scene or metadata',
        params: agentParams,
        body: patchAgentBody,
        response: { 200: agent, 404: errorBody, ...bodyErrors },
      },
    },
    async (request) => traffic(await service.patch(request.params.agent_id, request.body, request.actor)),
  );

  app.delete(
    '/agents/:agent_id',
    {
      schema: {
        tags: ['agents'],
        summary: 'Delete an agent; its open tasks are cancelled (reason agent_deleted)',
        params: agentParams,
        response: { 204: z.null(), 404: errorBody, ...commonErrors },
      },
    },
    async (request, reply) => {
      traffic(await service.remove(request.params.agent_id, request.actor));
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/agents/:agent_id/position',
    {
      config: positionsLimit,
      schema: {
        tags: ['agents'],
        summary: 'Move an agent: agent.moved goes out at once; the position is durable within one flush interval',
        params: agentParams,
        body: positionBody,
        response: { 200: positionResponse, 404: errorBody, ...bodyErrors },
      },
    },
    async (request, reply) => {
      const moved = await positions.update(request.params.agent_id, request.body, request.actor);
      // The hot route's 200 is written by positionJson, not re-validated (errors are thrown
      // before this and keep the route's schema serializer).
      reply.serializer(positionJson);
      return moved;
    },
  );

  app.put(
    '/agents/positions',
    {
      config: positionsLimit,
      schema: {
        tags: ['agents'],
        summary: 'Move up to 1,000 agents in one call',
        body: batchPositionsBody,
        response: { 200: batchPositionsResponse, ...bodyErrors },
      },
    },
    async (request) => positions.updateMany(request.body.positions, request.actor),
  );
};
