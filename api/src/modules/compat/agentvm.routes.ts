import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { commonErrors, errorBody, uuid } from '../../contract/common.js';
import { agentRunBody, agentRunResponse, type AgentRunResponse } from '../../contract/compat.js';
import { taskStatus } from '../../contract/tasks.js';
import { isFinal } from '../tasks/assignment.js';
import { agentvmCompatService } from './agentvm.service.js';

const compatErrors = { ...commonErrors, 404: errorBody } as const;

/**
 * The original AgentVM VM's API. Existing clients (its Python client, first Godot plugin,
 * CI scripts, the agent-system adapter) call these unchanged; errors carry the contract's
 * shape plus the `detail` string the original (FastAPI) returned.
 */
export const agentvmCompatRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = agentvmCompatService({
    config: app.config,
    database: app.database,
    bus: app.bus,
    tasks: app.tasks,
    spawnAgent: async (agentType, actor) => {
      const created = await app.agents.create({ agent_type: agentType }, actor);
      return created.id;
    },
  });

  app.post(
    '/agent/run',
    {
      config: { compat: true },
      schema: {
        tags: ['agentvm'],
        summary: 'Run an agent synchronously (the original AgentVM API): answers {success, stdout, stderr, returncode, error}',
        description:
          'Runs as an ordinary task (type run) on an agent of that type — an idle one, or one spawned when system.auto_spawn allows — and waits for the end. Past `timeout` the task is cancelled. The task id is in the X-AgentVM-Task-Id header; a client that disconnects cancels its task.',
        body: agentRunBody,
        response: { 200: agentRunResponse, ...compatErrors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const task = await service.start(body, request.actor);
      // Headers go out now, so a caller can learn the task id (X-AgentVM-Task-Id) and cancel it
      // while it runs; the body follows when the task ends. Past this point every outcome is a
      // 200 with success true/false, exactly as the original answered.
      void reply.hijack();
      const raw = reply.raw;
      const headers: Record<string, string | number | string[]> = {};
      for (const [name, value] of Object.entries(reply.getHeaders()))
        if (value !== undefined) headers[name] = value as string | number | string[];
      raw.writeHead(200, {
        ...headers,
        'content-type': 'application/json; charset=utf-8',
        'x-agentvm-task-id': task.id,
        'x-request-id': String(request.id),
      });
      raw.flushHeaders();
      const abort = new AbortController();
      let disconnected = false;
      const onClose = () => {
        if (!raw.writableFinished) {
          disconnected = true;
          abort.abort();
        }
      };
      raw.on('close', onClose);
      const timer = setTimeout(() => abort.abort(), body.timeout * 1000);
      let answer: AgentRunResponse;
      try {
        const row = await service.waitForFinal(task.id, abort.signal);
        if (row) {
          answer = service.toResponse(row);
        } else {
          // Timed out or the client went away: stop the work.
          const reason = disconnected ? 'client_disconnected' : 'timeout';
          await app.tasks.cancel(task.id, request.actor, reason).catch(() => undefined);
          answer = {
            success: false,
            stdout: null,
            stderr: null,
            returncode: null,
            error: disconnected ? 'Client disconnected: the task was cancelled' : `Agent execution timed out after ${body.timeout} seconds`,
          };
        }
      } finally {
        clearTimeout(timer);
        raw.off('close', onClose);
      }
      request.log.info({ task_id: task.id, success: answer.success, disconnected }, 'agent/run finished');
      if (!disconnected) raw.end(JSON.stringify(answer));
    },
  );

  const params = z.object({ task_id: uuid }).strict();

  app.get(
    '/agent/status/:task_id',
    {
      config: { compat: true },
      schema: {
        tags: ['agentvm'],
        summary: 'Status of a task started with /agent/run (or any task)',
        params,
        response: { 200: taskStatus, ...compatErrors },
      },
    },
    async (request) => app.tasks.status(request.params.task_id, request.actor),
  );

  app.post(
    '/agent/cancel/:task_id',
    {
      config: { compat: true },
      schema: {
        tags: ['agentvm'],
        summary: 'Cancel a task (200 also when it had already finished: cancelling is idempotent here, as callers abort blindly)',
        params,
        response: { 200: taskStatus, ...compatErrors },
      },
    },
    async (request) => {
      const current = await app.tasks.status(request.params.task_id, request.actor);
      if (!isFinal(current.status))
        await app.tasks.cancel(request.params.task_id, request.actor, 'cancelled_by_client').catch(() => undefined);
      return app.tasks.status(request.params.task_id, request.actor);
    },
  );
};
