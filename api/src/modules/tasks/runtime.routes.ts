import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { commonErrors, errorBody, uuid } from '../../contract/common.js';
import { claimBody, claimResponse, completeBody, failBody, heartbeatBody, lease, task } from '../../contract/tasks.js';

const taskParams = z.object({ task_id: uuid }).strict();

/**
 * The runtime protocol: a process next to a real tool (an external runtime) drives its agent.
 * Claim a task (long-poll with wait_s), heart-beat while working (extends the lease, reports
 * progress and activity), then complete or fail. Only the current lease holder may report:
 * a stale holder gets 409 lease_lost and must stop, so a task completes exactly once.
 */
export const runtimeRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.tasks;
  const waiters = app.taskWaiters;

  app.post(
    '/runtime/claim',
    {
      config: { access: 'runtime' },
      schema: {
        tags: ['runtime'],
        summary: 'Claim the next task for an external agent: 200 {task, lease} or 204 when none within wait_s',
        body: claimBody,
        response: { 200: claimResponse, 204: z.null(), 404: errorBody, 409: errorBody, ...commonErrors },
      },
    },
    async (request, reply) => {
      const { agent_id: agentId, wait_s: waitS = 0 } = request.body;
      const deadline = Date.now() + waitS * 1000;
      // A claim runs a dispatch round itself only when it cannot wait (wait_s 0) or no worker
      // runs in this replica. The embedded worker dispatches on every event that can free work
      // (and polls for backoff expiries), and the task.assigned it emits wakes the claim of the
      // agent it chose; a waiting claim pokes it instead. Claims that each ran a round kept the
      // dispatch lock busy, and new tasks queued behind them.
      const dispatch = waitS === 0 || app.worker === null;
      // A waiting claim reads (visibility, type) and touches its agent at most once a second;
      // wake-ups in between only try to start what was assigned.
      let checkedAt = 0;
      // The publish of the agent's return online (a claim that brought it back and then waits):
      // a 204 goes out after it, like every answer after the caller's own events.
      const published: Promise<void>[] = [];
      const options = { dispatch, published: (done: Promise<void>) => void published.push(done) };
      for (let first = true; ; first = false) {
        const recheck = !dispatch && Date.now() - checkedAt < 1000;
        if (!recheck) checkedAt = Date.now();
        const claimed = await service.claim(agentId, request.actor, { ...options, recheck });
        if (claimed) return reply.code(200).send(claimed);
        if (!dispatch && first) app.worker?.poke();
        const remaining = deadline - Date.now();
        // The socket, not request.raw: Node destroys a request stream once its body is read,
        // so raw.destroyed was always true here and every long-poll answered 204 at once
        // (runtimes then polled in a tight loop, each claim running a dispatch round).
        if (remaining <= 0 || request.socket.destroyed) {
          await Promise.all(published);
          return reply.code(204).send(null);
        }
        // Woken by a task.assigned naming this agent (or a short poll) — or handed a task that a
        // dispatch round of this process started for this claim (claim-waiters.ts).
        const handed = await waiters.wait(agentId, Math.min(remaining, 1000), {
          actor: request.actor.keyId,
          alive: () => !request.socket.destroyed,
        });
        if (handed) {
          await handed.ready;
          return reply.code(200).send(service.claimReply(handed.row));
        }
      }
    },
  );

  app.post(
    '/runtime/tasks/:task_id/heartbeat',
    {
      config: { access: 'runtime' },
      schema: {
        tags: ['runtime'],
        summary: 'Extend the lease; report progress (0–1), message and activity',
        params: taskParams,
        body: heartbeatBody,
        response: { 200: z.object({ lease, status: z.string() }), 404: errorBody, 409: errorBody, ...commonErrors },
      },
    },
    async (request) => {
      const { lease_token: token, ...progress } = request.body;
      const result = await service.heartbeat(request.params.task_id, token, progress, request.actor);
      return { lease: result.lease, status: result.task.status };
    },
  );

  app.post(
    '/runtime/tasks/:task_id/complete',
    {
      config: { access: 'runtime' },
      schema: {
        tags: ['runtime'],
        summary: 'Finish the task successfully with a result',
        params: taskParams,
        body: completeBody,
        response: { 200: task, 404: errorBody, 409: errorBody, ...commonErrors },
      },
    },
    async (request) => service.complete(request.params.task_id, request.body.lease_token, request.body.result, request.actor),
  );

  app.post(
    '/runtime/tasks/:task_id/fail',
    {
      config: { access: 'runtime' },
      schema: {
        tags: ['runtime'],
        summary: 'Fail this attempt; retryable (default true) puts it back to the queue while attempts remain',
        params: taskParams,
        body: failBody,
        response: { 200: task, 404: errorBody, 409: errorBody, ...commonErrors },
      },
    },
    async (request) => {
      const { error, retryable = true, lease_token: token } = request.body;
      const taskError = typeof error === 'string' ? { code: 'runtime_error', message: error } : error;
      return service.fail(request.params.task_id, token, taskError, retryable, request.actor);
    },
  );
};
