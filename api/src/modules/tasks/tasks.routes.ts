import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { commonErrors, errorBody, page, uuid } from '../../contract/common.js';
import { assignTaskBody, collaborativeTask, collaborativeTaskBody, listTasksQuery, task, taskStatus } from '../../contract/tasks.js';

const taskParams = z.object({ task_id: uuid }).strict();

export const tasksRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.tasks;

  app.post(
    '/tasks/assign',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Queue a task: targeted (agent_id) or automatic (an eligible agent of the game is picked)',
        description:
          'Also accepts the original agent system’s forms: `prompt` (alias of description), `preferred_type`, and a numeric `priority` 0–1 (< 0.25 low, < 0.5 normal, < 0.75 high, else critical).',
        body: assignTaskBody,
        response: { 201: task, ...commonErrors },
      },
    },
    async (request, reply) => reply.code(201).send(await service.create(request.body, request.actor)),
  );

  app.post(
    '/tasks/collaborative',
    {
      schema: {
        tags: ['tasks'],
        summary: 'A parent task plus one subtask per team member, each on a distinct agent',
        description:
          'The parent is running while any subtask runs, completed when all complete, failed when one fails for good (the rest are cancelled). 409 insufficient_agents when fewer than team_size agents are eligible.',
        body: collaborativeTaskBody,
        response: { 201: collaborativeTask, 409: errorBody, ...commonErrors },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createCollaborative(request.body, request.actor)),
  );

  app.get(
    '/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: 'List tasks, newest first (filters: status, agent_id, game_id, parent_id, task_type)',
        querystring: listTasksQuery,
        response: { 200: page(task), ...commonErrors },
      },
    },
    async (request) => service.list(request.query, request.actor),
  );

  app.get(
    '/tasks/:task_id',
    { schema: { tags: ['tasks'], summary: 'A task', params: taskParams, response: { 200: task, 404: errorBody, ...commonErrors } } },
    async (request) => service.get(request.params.task_id, request.actor),
  );

  app.get(
    '/tasks/:task_id/status',
    {
      schema: {
        tags: ['tasks'],
        summary: 'A task’s status: {id, status, progress, message, agent_id, attempts, result, error, updated_at}',
        params: taskParams,
        response: { 200: taskStatus, 404: errorBody, ...commonErrors },
      },
    },
    async (request) => service.status(request.params.task_id, request.actor),
  );

  app.post(
    '/tasks/:task_id/cancel',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Cancel a queued, assigned or running task (its runtime is told to stop); 409 when already finished',
        params: taskParams,
        body: z
          .object({ reason: z.string().min(1).max(200).optional() })
          .strict()
          .optional(),
        response: { 200: task, 404: errorBody, 409: errorBody, ...commonErrors },
      },
    },
    async (request) => service.cancel(request.params.task_id, request.actor, request.body?.reason ?? 'cancelled_by_user'),
  );
};
