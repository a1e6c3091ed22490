import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';
import { eventsOf, insertAgent } from '../helpers/fixtures.js';
import { asc, eq, sql } from 'drizzle-orm';
import { agents, events } from '../../src/db/schema.js';
import { EVENT_CATALOG } from '../../src/contract/events.js';
import { tasksRepository } from '../../src/modules/tasks/tasks.repository.js';
import { outboxFor } from '../../src/modules/events/outbox.js';

type Json = Record<string, any>;

async function waitForStatus(t: TestApp, id: string, status: string | string[], timeout = 15_000): Promise<Json> {
  const wanted = Array.isArray(status) ? status : [status];
  let last: Json = {};
  await expect
    .poll(
      async () => {
        last = (await t.request({ method: 'GET', url: `/tasks/${id}` })).json();
        return wanted.includes(last.status);
      },
      { timeout, interval: 25 },
    )
    .toBe(true);
  return last;
}

describe(`tasks (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      listen: true,
      config: {
        tasks: { lease_s: 1, reaper_interval_ms: 50, backoff_base_ms: 20, backoff_max_ms: 100 },
        agent_types: {
          duo: { runtime: 'external', capabilities: ['code'], heartbeat_timeout_s: 5, max_concurrency: 2 },
          pair: { runtime: 'simulated', capabilities: ['code'], max_concurrency: 2, speed: 0.005, seed: 7, personality_failures: false },
        },
      },
    });
  });
  afterAll(async () => t?.close());

  const assign = (body: Json, key?: string) => t.request({ method: 'POST', url: '/tasks/assign', body, ...(key ? { key } : {}) });

  it('runs a targeted task through queued → assigned → running → completed, with events in order', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-flow' });
    const res = await assign({ description: 'Fix the player movement bug', task_type: 'debugging', agent_id: agent.id });
    expect(res.statusCode).toBe(201);
    const task = res.json();
    expect(task).toMatchObject({
      status: 'queued',
      priority: 'normal',
      agent_id: agent.id,
      game_id: 'g-flow',
      task_type: 'debugging',
      progress: 0,
    });
    const done = await waitForStatus(t, task.id, 'completed');
    expect(done.progress).toBe(1);
    expect(done.attempts).toBe(1);
    expect(done.result).toBeTruthy();
    const types = (await eventsOf(t.app, { taskId: task.id })).map((e) => e.type);
    expect(types.filter((x) => x.startsWith('task.'))).toEqual(['task.created', 'task.assigned', 'task.started', 'task.completed']);
    const agentStates = (await eventsOf(t.app, { agentId: agent.id, type: 'agent.state_changed' })).map((e) => e.data.status);
    expect(agentStates[0]).toBe('busy');
    expect(agentStates[agentStates.length - 1]).toBe('idle');
    // The runtime's activity changes in between (a single staged statement on Postgres, a
    // transaction on PGlite) have the catalogue's shape and name the task.
    const states = await eventsOf(t.app, { agentId: agent.id, type: 'agent.state_changed' });
    for (const e of states) expect(EVENT_CATALOG['agent.state_changed'].data.safeParse(e.data).error).toBeUndefined();
    const activityChanges = states.slice(1, -1);
    expect(activityChanges.length).toBeGreaterThan(0);
    // The start already made the agent busy thinking about the task (its description as the
    // detail); the runtime's own first 'thinking' report is not written again.
    expect(states[0]!.data).toMatchObject({ activity: 'thinking', activity_detail: 'Fix the player movement bug' });
    expect(activityChanges[0]!.data.activity).not.toBe('thinking');
    for (const e of activityChanges) {
      expect(e.data).toMatchObject({ agent_id: agent.id, status: 'busy', previous_status: 'busy', task_id: task.id });
    }
    // Counted once, in the same UPDATE as the agent going idle.
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toMatchObject({ tasks_completed: 1, tasks_failed: 0 });
    const key = (e: Json) => JSON.stringify([e.data.status, e.data.activity, e.data.activity_detail]);
    for (let i = 1; i < states.length; i++) expect(key(states[i]!)).not.toBe(key(states[i - 1]!)); // each one a change
    const status = (await t.request({ method: 'GET', url: `/tasks/${task.id}/status` })).json();
    expect(Object.keys(status).sort()).toEqual([
      'agent_id',
      'attempts',
      'error',
      'id',
      'message',
      'progress',
      'result',
      'status',
      'updated_at',
    ]);
    const after = (await t.request({ method: 'GET', url: `/tasks?agent_id=${agent.id}` })).json();
    expect(after.items.map((x: Json) => x.id)).toContain(task.id);
  });

  it('gives an untargeted task to an eligible agent of its game; capability mismatch stays queued', async () => {
    const coder = await insertAgent(t.app, { gameId: 'g-auto', capabilities: ['code'] });
    const res = await assign({ description: 'automatic', game_id: 'g-auto' });
    const done = await waitForStatus(t, res.json().id, 'completed');
    expect(done.agent_id).toBe(coder.id);

    const stuck = await assign({ description: 'needs rust', game_id: 'g-auto', required_capabilities: ['rust'] });
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.request({ method: 'GET', url: `/tasks/${stuck.json().id}` })).json()).toMatchObject({
      status: 'queued',
      agent_id: null,
    });
    const rust = await insertAgent(t.app, { gameId: 'g-auto', capabilities: ['code', 'rust'] });
    t.app.worker?.poke();
    expect((await waitForStatus(t, stuck.json().id, 'completed')).agent_id).toBe(rust.id);
  });

  it("starts what the worker's round gives its own agents in the update that assigns it: task.assigned, then task.started, attempt 1 in both", async () => {
    const queued = (await assign({ description: 'waits for an agent', game_id: 'g-direct' })).json();
    await new Promise((r) => setTimeout(r, 100));
    expect((await t.request({ method: 'GET', url: `/tasks/${queued.id}` })).json().status).toBe('queued');
    const agent = await insertAgent(t.app, { gameId: 'g-direct', agentType: 'pair', capabilities: ['code'] });
    t.app.worker?.poke();
    const done = await waitForStatus(t, queued.id, 'completed');
    expect(done).toMatchObject({ agent_id: agent.id, attempts: 1 });
    expect(done.started_at).toBe(done.assigned_at); // one statement: queued → running
    const steps = (await eventsOf(t.app, { taskId: queued.id })).filter((e) => e.type === 'task.assigned' || e.type === 'task.started');
    expect(steps.map((e) => [e.type, (e.data as Json).attempt])).toEqual([
      ['task.assigned', 1],
      ['task.started', 1],
    ]);
    expect((steps[0]!.data as Json).lease_expires_at).toEqual(expect.any(String));
  });

  it('accepts the original agent system’s forms: prompt, preferred_type, numeric priority', async () => {
    await insertAgent(t.app, { gameId: 'g-seed', agentType: 'claude' });
    const cases: Array<[number, string]> = [
      [0, 'low'],
      [0.3, 'normal'],
      [0.6, 'high'],
      [0.9, 'critical'],
    ];
    for (const [p, name] of cases) {
      const res = await assign({
        prompt: 'Implement inventory',
        task_type: 'feature',
        priority: p,
        preferred_type: 'claude',
        game_id: 'g-seed',
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ description: 'Implement inventory', priority: name, agent_type: 'claude' });
    }
    const bad = await assign({ prompt: 'x', priority: 1.5 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details[0].field).toBe('priority');
    const unknownType = await assign({ prompt: 'x', preferred_type: 'gpt' });
    expect(unknownType.json().error.message).toMatch(/^preferred_type: unknown agent type "gpt"; configured types: aider/);
  });

  it('rejects bad input naming the field, and leaves nothing behind', async () => {
    const before = (await t.request({ method: 'GET', url: '/tasks?limit=500' })).json().items.length;
    const cases: Array<[Json, string]> = [
      [{}, 'description'],
      [{ description: '   ' }, 'description'],
      [{ description: 'x', agent_id: 'nope' }, 'agent_id'],
      [{ description: 'x', agent_id: '01900000-0000-7000-8000-000000000000' }, 'agent_id'],
      [{ description: 'x', depends_on: ['01900000-0000-7000-8000-000000000000'] }, 'depends_on'],
      [{ description: 'x', priority: 'urgent' }, 'priority'],
      [{ description: 'x', timeout_s: 0 }, 'timeout_s'],
      [{ description: 'x', max_attempts: 1000 }, 'max_attempts'],
      [{ description: 'x', colour: 'red' }, 'colour'],
      [{ description: 5 }, 'description'],
    ];
    for (const [body, field] of cases) {
      const res = await assign(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
      expect(res.json().error.message.startsWith(`${field}:`), res.json().error.message).toBe(true);
    }
    expect((await t.request({ method: 'GET', url: '/tasks?limit=500' })).json().items.length).toBe(before);
    expect((await t.request({ method: 'GET', url: '/tasks/not-a-uuid' })).statusCode).toBe(400);
    expect((await t.request({ method: 'GET', url: '/tasks/01900000-0000-7000-8000-000000000000' })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: '/tasks?cursor=garbage' })).json().error.message).toMatch(/^cursor:/);
  });

  it('hands out by priority, then age', async () => {
    const low = await assign({ description: 'low', game_id: 'g-prio', priority: 'low' });
    const normal = await assign({ description: 'normal', game_id: 'g-prio' });
    const critical = await assign({ description: 'critical', game_id: 'g-prio', priority: 'critical' });
    const high = await assign({ description: 'high', game_id: 'g-prio', priority: 'high' });
    await insertAgent(t.app, { gameId: 'g-prio' });
    t.app.worker?.poke();
    const ids = [critical, high, normal, low].map((r) => r.json().id);
    for (const id of ids) await waitForStatus(t, id, 'completed');
    const started = (await eventsOf(t.app, { type: 'task.started' })).filter((e) => ids.includes(e.taskId!)).map((e) => e.taskId);
    expect(started).toEqual(ids);
  });

  it.runIf(driver === 'postgres')(
    'a dispatch round whose transaction began before a task was created (it waited for the dispatch lock) still sees that task',
    async () => {
      // A round begins its transaction, then waits for the dispatch lock while other requests
      // create tasks. It used to compare run_after with now() — the start of its transaction —
      // and so missed every task created while it waited, handing out an older, lower-priority
      // one first (seen as a flaky "hands out by priority" under load).
      const repo = tasksRepository(t.app.database);
      let seen: string[] = [];
      let created = '';
      await t.app.database.db.transaction(async (tx) => {
        await tx.execute(sql`select 1`); // the transaction has begun: now() is fixed from here
        await new Promise((r) => setTimeout(r, 20));
        created = (await assign({ description: 'created while a round waited', game_id: 'g-no-agents', priority: 'critical' })).json().id;
        seen = (await repo.runnable(tx, 10_000)).map((row) => row.id);
      });
      expect(seen).toContain(created);
    },
  );

  it('runs dependents only after their dependencies, and fails them when one fails', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-deps', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const runtimeKey = await createKey(t, ['runtime']);
    const first = (await assign({ description: 'first', agent_id: agent.id })).json();
    const second = (await assign({ description: 'second', agent_id: agent.id, depends_on: [first.id] })).json();
    const third = (await assign({ description: 'third', agent_id: agent.id, depends_on: [second.id] })).json();
    const claim = await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } });
    expect(claim.statusCode).toBe(200);
    expect(claim.json().task.id).toBe(first.id);
    // the dependent is not handed out while its dependency runs
    expect((await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).statusCode).toBe(
      204,
    );
    const failed = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${first.id}/fail`,
      key: runtimeKey,
      body: { lease_token: claim.json().lease.token, error: { code: 'compile_error', message: 'does not build' }, retryable: false },
    });
    expect(failed.json()).toMatchObject({ status: 'failed', error: { code: 'compile_error' } });
    for (const id of [second.id, third.id]) {
      const row = (await t.request({ method: 'GET', url: `/tasks/${id}` })).json();
      expect(row.status).toBe('failed');
      expect(row.error.code).toBe('dependency_failed');
    }
    const late = (await assign({ description: 'after a failure', agent_id: agent.id, depends_on: [first.id] })).json();
    expect(late).toMatchObject({ status: 'failed', error: { code: 'dependency_failed' } });
  });

  it('a claim starts the task under a lease, makes the agent busy and logs exactly these events', async () => {
    const agent = await insertAgent(t.app, {
      gameId: 'g-claim-events',
      agentType: 'remote',
      capabilities: ['code'],
      lastSeenAt: new Date(),
    });
    const runtimeKey = await createKey(t, ['runtime']);
    // 250 characters, each two UTF-16 units: the activity detail is its first 200 characters.
    const description = '🛠'.repeat(250);
    const created = (await assign({ description, agent_id: agent.id })).json();
    const claim = await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } });
    expect(claim.statusCode).toBe(200);
    const { task, lease } = claim.json();
    expect(task).toMatchObject({ id: created.id, status: 'running', attempts: 1, progress: 0, agent_id: agent.id });
    expect(lease.expires_at).toBe(task.lease_expires_at);
    const detail = '🛠'.repeat(200);
    const events = await eventsOf(t.app, { taskId: created.id });
    expect(events.map((e) => e.type)).toEqual(['task.created', 'task.assigned', 'task.started', 'agent.state_changed']);
    expect(events[2]!.data).toEqual({ task_id: created.id, agent_id: agent.id, attempt: 1, activity: 'thinking' });
    expect(events[2]!.actor).toBe(events[3]!.actor);
    expect(events[3]!.data).toEqual({
      agent_id: agent.id,
      status: 'busy',
      previous_status: 'idle',
      activity: 'thinking',
      activity_detail: detail,
      task_id: created.id,
    });
    const seen = (await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json();
    expect(seen).toMatchObject({ status: 'busy', activity: 'thinking', activity_detail: detail, current_task_id: created.id });
    // Nothing more to claim; the lease completes it once.
    expect((await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).statusCode).toBe(
      204,
    );
    const done = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${created.id}/complete`,
      key: runtimeKey,
      body: { lease_token: lease.token, result: { ok: 1 } },
    });
    expect(done.json()).toMatchObject({ status: 'completed', result: { ok: 1 } });
  });

  it('completes a collaborative task with a team of 3 distinct agents', async () => {
    const team = await Promise.all([1, 2, 3, 4].map(() => insertAgent(t.app, { gameId: 'g-team' })));
    const res = await t.request({
      method: 'POST',
      url: '/tasks/collaborative',
      body: { description: 'Implement multiplayer networking', team_size: 3, game_id: 'g-team' },
    });
    expect(res.statusCode).toBe(201);
    const parent = res.json();
    expect(parent.team_size).toBe(3);
    expect(parent.subtasks).toHaveLength(3);
    const members = new Set(parent.subtasks.map((s: Json) => s.agent_id));
    expect(members.size).toBe(3);
    for (const m of members) expect(team.map((a) => a.id)).toContain(m);
    const done = await waitForStatus(t, parent.id, 'completed');
    expect(done.result.subtasks).toHaveLength(3);
    const children = (await t.request({ method: 'GET', url: `/tasks?parent_id=${parent.id}` })).json().items;
    expect(children.every((c: Json) => c.status === 'completed')).toBe(true);
    // The subtasks share their created_at to the microsecond (one transaction): paging one at a
    // time must still return each exactly once (a millisecond cursor used to skip them).
    const paged: string[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const page = (
        await t.request({ method: 'GET', url: `/tasks?parent_id=${parent.id}&limit=1${cursor ? `&cursor=${cursor}` : ''}` })
      ).json();
      paged.push(...page.items.map((c: Json) => c.id as string));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(paged.sort()).toEqual(parent.subtasks.map((s: Json) => s.id as string).sort());
    const tampered = await t.request({
      method: 'GET',
      url: `/tasks?limit=1&cursor=${Buffer.from(JSON.stringify(['2026-01-01T00:00:00Z', 'x'])).toString('base64url')}`,
    });
    expect(tampered.statusCode).toBe(400);
    expect(tampered.json().error.details[0].field).toBe('cursor');
    const tooBig = await t.request({
      method: 'POST',
      url: '/tasks/collaborative',
      body: { description: 'x', team_size: 9, game_id: 'g-team' },
    });
    expect(tooBig.statusCode).toBe(409);
    expect(tooBig.json().error.code).toBe('insufficient_agents');
  });

  it('fails the parent when a team member fails for good, cancelling the rest', async () => {
    const members = await Promise.all(
      [1, 2].map(() => insertAgent(t.app, { gameId: 'g-team-fail', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() })),
    );
    const runtimeKey = await createKey(t, ['runtime']);
    const parent = (
      await t.request({
        method: 'POST',
        url: '/tasks/collaborative',
        body: { description: 'x', team_size: 2, game_id: 'g-team-fail', max_attempts: 1 },
      })
    ).json();
    const claim = (await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: members[0]!.id } })).json();
    expect((await t.request({ method: 'GET', url: `/tasks/${parent.id}` })).json().status).toBe('running');
    await t.request({
      method: 'POST',
      url: `/runtime/tasks/${claim.task.id}/fail`,
      key: runtimeKey,
      body: { lease_token: claim.lease.token, error: 'boom' },
    });
    const failed = (await t.request({ method: 'GET', url: `/tasks/${parent.id}` })).json();
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'subtask_failed' } });
    const other = parent.subtasks.find((s: Json) => s.id !== claim.task.id);
    expect((await t.request({ method: 'GET', url: `/tasks/${other.id}` })).json().status).toBe('cancelled');
  });

  it('cancel works in every open state, stops running work, and is 409 once finished', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-cancel', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const runtimeKey = await createKey(t, ['runtime']);
    const queued = (await assign({ description: 'q', game_id: 'g-cancel', required_capabilities: ['nobody-has-this'] })).json();
    const running = (await assign({ description: 'r', agent_id: agent.id })).json();
    const claim = (await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).json();
    expect(claim.task.id).toBe(running.id);
    for (const id of [queued.id, running.id]) {
      const res = await t.request({ method: 'POST', url: `/tasks/${id}/cancel` });
      expect(res.statusCode).toBe(200);
      expect(res.json().status).toBe('cancelled');
    }
    // the runtime learns at its next heartbeat, and cannot complete it any more
    const hb = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${running.id}/heartbeat`,
      key: runtimeKey,
      body: { lease_token: claim.lease.token, progress: 0.5 },
    });
    expect(hb.statusCode).toBe(409);
    expect(hb.json().error.code).toBe('lease_lost');
    const again = await t.request({ method: 'POST', url: `/tasks/${running.id}/cancel` });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.message).toMatch(/already cancelled/);
  });

  it('a claim over HTTP long-polls: it waits for a task assigned meanwhile instead of answering 204 at once', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-poll', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const runtimeKey = await createKey(t, ['runtime']);
    // A real socket: the route must tell a closed connection from a request whose body was read.
    const claim = fetch(`${t.url}/runtime/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': runtimeKey },
      body: JSON.stringify({ agent_id: agent.id, wait_s: 10 }),
    });
    const early = await Promise.race([claim.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
    expect(early).toBe('waiting');
    const task = (await assign({ description: 'arrives while the runtime waits', agent_id: agent.id })).json();
    const res = await claim;
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).task).toMatchObject({ id: task.id, status: 'running', attempts: 1 });
  });

  it.runIf(driver === 'postgres')(
    'a dispatch round starts the task it gives an agent whose claim waits in this process, and hands it over (0009)',
    async () => {
      const agent = await insertAgent(t.app, { gameId: 'g-handoff', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
      const runtimeKey = await createKey(t, ['runtime']);
      const keyId = '01a2426d-a831-7cbe-8c23-e1bb136e6f89'; // the actor recorded for task.started
      const waiting = t.app.taskWaiters.wait(agent.id, 10_000, { actor: keyId, alive: () => true });
      // Queued without the create's own inline dispatch (as when a round of this process holds the lock).
      const taskId = '01a2426e-02f5-70fe-a59e-99fd198b016e';
      await t.app.database.db.execute(sql`
        insert into tasks (id, description, task_type, status, priority, game_id, max_attempts, timeout_s)
        values (${taskId}, 'handed over', 'code', 'queued', 1, 'g-handoff', 3, 60)`);
      await t.app.tasks.dispatchAndStart([], 0);
      const handed = await waiting;
      expect(handed?.row).toMatchObject({ id: taskId, agentId: agent.id, status: 'running', attempts: 1 });
      expect(handed!.row.startedAt!.getTime()).toBe(handed!.row.assignedAt!.getTime());
      await handed!.ready;
      const events = await eventsOf(t.app, { taskId });
      expect(events.map((e) => [e.type, e.actor])).toEqual([
        ['task.assigned', null],
        ['task.started', keyId],
        ['agent.state_changed', keyId],
      ]);
      // The lease it carries is the task's: the runtime completes with it.
      const done = await t.request({
        method: 'POST',
        url: `/runtime/tasks/${taskId}/complete`,
        key: runtimeKey,
        body: { lease_token: handed!.row.leaseToken, result: 'ok' },
      });
      expect(done.statusCode).toBe(200);
      expect(done.json()).toMatchObject({ status: 'completed', attempts: 1 });
    },
  );

  it.runIf(driver === 'postgres')(
    "a claim's one statement (0011, 0016) touches and starts only for a key that sees an external agent, bringing it back if offline; otherwise the long way decides",
    async () => {
      const repo = tasksRepository(t.app.database);
      const fresh = { remote: 1250 };
      const unbound = { keyId: null, gameId: null };
      const assignedTo = async (agentId: string, gameId: string) => {
        const [row] = await t.app.database.rows<{ id: string }>(sql`
          insert into tasks (id, description, task_type, status, priority, agent_id, game_id, max_attempts, timeout_s, assigned_at)
          values (gen_random_uuid(), 'waiting for its claim', 'code', 'assigned', 1, ${agentId}, ${gameId}, 3, 60, now())
          returning id`);
        return row!.id;
      };
      const statusOf = async (id: string) =>
        (await t.app.database.rows<{ status: string }>(sql`select status from tasks where id = ${id}`))[0]!.status;

      const agent = await insertAgent(t.app, { gameId: 'g-quick', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
      const task = await assignedTo(agent.id, 'g-quick');
      // Another game's key, an unknown agent, a built-in type: 'check', and nothing changed.
      for (const [why, agentId, actor, freshMs] of [
        ['other game', agent.id, { keyId: null, gameId: 'g-other' }, fresh],
        ['unknown agent', '01a2426e-02f5-70fe-a59e-99fd198b0000', unbound, fresh],
        ['type without an external runtime', agent.id, unbound, { aider: 1250 }],
      ] as const) {
        expect({ why, outcome: (await repo.claimChecked(agentId, 30, actor, freshMs)).outcome }).toEqual({ why, outcome: 'check' });
      }
      expect(await statusOf(task)).toBe('assigned');
      // A stale, future or missing last_seen_at: touched in the statement (seen now), then the
      // claim as for a fresh one — nothing assigned here, so 'none'. Offline: back idle, its
      // agent.state_changed staged ('touched', for the caller to sequence).
      for (const [why, set, outcome] of [
        ['stale', sql`last_seen_at = now() - interval '2 seconds'`, 'none'],
        ['seen in the future', sql`last_seen_at = now() + interval '1 minute'`, 'none'],
        ['never seen', sql`last_seen_at = null`, 'none'],
        ['offline', sql`status = 'offline', last_seen_at = now()`, 'touched'],
      ] as const) {
        const idle = await insertAgent(t.app, { gameId: 'g-quick', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
        await t.app.database.db.execute(sql`update agents set ${set} where id = ${idle.id}`);
        expect({ why, outcome: (await repo.claimChecked(idle.id, 30, unbound, fresh)).outcome }).toEqual({ why, outcome });
        const [row] = await t.app.database.rows<{ status: string; recent: boolean; staged: number }>(
          sql`select status, last_seen_at between now() - interval '5 seconds' and now() as recent,
                (select count(*)::int from event_outbox where agent_id = ${idle.id} and type = 'agent.state_changed')
                  + (select count(*)::int from events where agent_id = ${idle.id} and type = 'agent.state_changed') as staged
              from agents where id = ${idle.id}`,
        );
        expect({ why, ...row }).toEqual({ why, status: 'idle', recent: true, staged: outcome === 'touched' ? 1 : 0 });
      }
      // Its own game's key (or an unbound one) starts it.
      const started = await repo.claimChecked(agent.id, 30, { keyId: null, gameId: 'g-quick' }, fresh);
      expect(started.outcome).toBe('started');
      expect(started.task).toMatchObject({ id: task, status: 'running', attempts: 1 });
      expect((await repo.claimChecked(agent.id, 30, unbound, fresh)).outcome).toBe('none');

      // Over HTTP: a key bound to another game gets 404 and starts nothing; a stale agent is
      // touched and claims.
      const other = await insertAgent(t.app, { gameId: 'g-quick', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
      const waiting = await assignedTo(other.id, 'g-quick');
      const wrongGame = await createKey(t, ['runtime'], 'g-elsewhere');
      const probe = await t.request({ method: 'POST', url: '/runtime/claim', key: wrongGame, body: { agent_id: other.id } });
      expect(probe.statusCode).toBe(404);
      expect(await statusOf(waiting)).toBe('assigned');
      await t.app.database.db.execute(sql`update agents set last_seen_at = now() - interval '1 minute' where id = ${other.id}`);
      const ok = await t.request({
        method: 'POST',
        url: '/runtime/claim',
        key: await createKey(t, ['runtime'], 'g-quick'),
        body: { agent_id: other.id },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().task).toMatchObject({ id: waiting, status: 'running', attempts: 1 });
      const [seen] = await t.app.database.rows<{ recent: boolean }>(
        sql`select last_seen_at > now() - interval '5 seconds' as recent from agents where id = ${other.id}`,
      );
      expect(seen!.recent).toBe(true);
    },
  );

  it('a runtime that dies mid-task loses its lease: the task is retried and completes exactly once', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-lease', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const runtimeKey = await createKey(t, ['runtime']);
    const task = (await assign({ description: 'survive a crash', agent_id: agent.id, max_attempts: 3 })).json();
    const first = (await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).json();
    // no heartbeat: the lease (1 s in this test) expires and the reaper puts the task back
    await waitForStatus(t, task.id, 'queued', 10_000);
    const second = await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id, wait_s: 5 } });
    expect(second.statusCode).toBe(200);
    expect(second.json().task.attempts).toBe(2);
    expect(second.json().lease.token).not.toBe(first.lease.token);
    const stale = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${task.id}/complete`,
      key: runtimeKey,
      body: { lease_token: first.lease.token, result: 'stale' },
    });
    expect(stale.statusCode).toBe(409);
    const ok = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${task.id}/complete`,
      key: runtimeKey,
      body: { lease_token: second.json().lease.token, result: { fixed: true } },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'completed', result: { fixed: true } });
    const dup = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${task.id}/complete`,
      key: runtimeKey,
      body: { lease_token: second.json().lease.token },
    });
    expect(dup.statusCode).toBe(409);
    const events = (await eventsOf(t.app, { taskId: task.id })).map((e) => e.type);
    expect(events.filter((e) => e === 'task.completed')).toHaveLength(1);
    expect(events).toContain('task.failed');
    const failedEvent = (await eventsOf(t.app, { taskId: task.id, type: 'task.failed' }))[0]!;
    expect(failedEvent.data).toMatchObject({ will_retry: true, attempt: 1, error: { code: 'lease_expired' } });
  });

  it('retries a retryable failure with backoff until max_attempts, then fails for good', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-retry', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const runtimeKey = await createKey(t, ['runtime']);
    const task = (await assign({ description: 'flaky', agent_id: agent.id, max_attempts: 2 })).json();
    for (let attempt = 1; attempt <= 2; attempt++) {
      const claim = await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id, wait_s: 5 } });
      expect(claim.statusCode).toBe(200);
      const res = await t.request({
        method: 'POST',
        url: `/runtime/tasks/${task.id}/fail`,
        key: runtimeKey,
        body: { lease_token: claim.json().lease.token, error: 'network blip' },
      });
      expect(res.json().status).toBe(attempt < 2 ? 'queued' : 'failed');
    }
    const failures = await eventsOf(t.app, { taskId: task.id, type: 'task.failed' });
    expect(failures.map((e) => e.data.will_retry)).toEqual([true, false]);
    expect(failures[0]!.data.run_after).toBeTruthy();
    // Each failed attempt is counted on the agent, and it is idle again.
    expect((await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json()).toMatchObject({
      tasks_failed: 2,
      tasks_completed: 0,
      status: 'idle',
    });
  });

  it('the worker starts two tasks of one agent in one round: busy with each in turn, both completed', async () => {
    // Queued before the agent exists, with the worker stopped until both tasks and the agent are
    // committed, so its first round assigns and starts both (max_concurrency 2) in one statement:
    // the agent appears twice in that round's start. (Left running, a round under CI load could
    // now and then start them one at a time.)
    await t.app.worker!.stop();
    const first = (await assign({ description: 'pair one', game_id: 'g-pair', required_capabilities: ['code'] })).json();
    const second = (await assign({ description: 'pair two', game_id: 'g-pair', required_capabilities: ['code'] })).json();
    const agent = await insertAgent(t.app, { gameId: 'g-pair', agentType: 'pair' });
    t.app.worker!.start();
    const done = [await waitForStatus(t, first.id, 'completed'), await waitForStatus(t, second.id, 'completed')];
    expect(done.map((d) => [d.agent_id, d.attempts])).toEqual([
      [agent.id, 1],
      [agent.id, 1],
    ]);
    expect(done[0]!.started_at).toBe(done[1]!.started_at); // one statement
    const log = await eventsOf(t.app, { agentId: agent.id });
    const started = log.filter((e) => e.type === 'task.started').map((e) => (e.data as Json).task_id);
    expect(started.sort()).toEqual([first.id, second.id].sort());
    const busyWith = log
      .filter((e) => e.type === 'agent.state_changed' && (e.data as Json).status === 'busy')
      .map((e) => (e.data as Json).task_id as string);
    expect(new Set(busyWith)).toEqual(new Set([first.id, second.id]));
    const last = log.filter((e) => e.type === 'agent.state_changed').at(-1)!;
    expect(last.data).toMatchObject({ status: 'idle', task_id: null });
    const now = (await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json();
    expect(now).toMatchObject({ status: 'idle', current_task_id: null, tasks_completed: 2 });
  });

  it('completing releases the agent: busy while it runs another task, idle after its last, counted once each', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-duo', agentType: 'duo', capabilities: ['code'], lastSeenAt: new Date() });
    const runtimeKey = await createKey(t, ['runtime']);
    const first = (await assign({ description: 'one', agent_id: agent.id })).json();
    const second = (await assign({ description: 'two', agent_id: agent.id })).json();
    const claim = async () =>
      (await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).json();
    const claims = [await claim(), await claim()];
    expect(claims.map((c) => c.task.id).sort()).toEqual([first.id, second.id].sort());
    const complete = (c: Json, token = c.lease.token) =>
      t.request({
        method: 'POST',
        url: `/runtime/tasks/${c.task.id}/complete`,
        key: runtimeKey,
        body: { lease_token: token, result: { n: 1 } },
      });
    const getAgent = async () => (await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json();
    expect((await getAgent()).status).toBe('busy');

    // Not the holder: 409, and nothing changes.
    const wrong = await complete(claims[0], '00000000-0000-4000-8000-000000000000');
    expect(wrong.statusCode).toBe(409);
    expect(wrong.json().error.code).toBe('lease_lost');

    const done = await complete(claims[0]);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ id: claims[0].task.id, status: 'completed', progress: 1, result: { n: 1 }, error: null });
    expect(done.json().finished_at).toEqual(expect.any(String));
    let now = await getAgent();
    expect(now).toMatchObject({ status: 'busy', current_task_id: claims[1].task.id, tasks_completed: 1 });

    expect((await complete(claims[0])).statusCode).toBe(409); // exactly once
    expect((await complete(claims[1])).statusCode).toBe(200);
    now = await getAgent();
    expect(now).toMatchObject({ status: 'idle', activity: null, current_task_id: null, tasks_completed: 2 });

    const log = (await eventsOf(t.app, { agentId: agent.id })).filter(
      (e) => e.type === 'task.completed' || e.type === 'agent.state_changed',
    );
    const completedSeqs = log.filter((e) => e.type === 'task.completed').map((e) => e.seq);
    const toIdle = log.filter((e) => e.type === 'agent.state_changed' && (e.data as Json).status === 'idle');
    expect(completedSeqs).toHaveLength(2);
    expect(toIdle).toHaveLength(1);
    expect(toIdle[0]!.seq).toBeGreaterThan(Math.max(...completedSeqs));
    expect(toIdle[0]!.data).toMatchObject({ agent_id: agent.id, status: 'idle', previous_status: 'busy', activity: null, task_id: null });
    const completedEvent = log.find((e) => e.type === 'task.completed' && e.taskId === claims[1].task.id)!;
    expect(completedEvent.data).toMatchObject({ task_id: claims[1].task.id, agent_id: agent.id, result: { n: 1 } });
    expect((completedEvent.data as Json).duration_ms).toEqual(expect.any(Number));
  });

  it("a claim of a task already waiting for its agent makes every check first: the key's game, freshness, offline", async () => {
    const runtimeKey = await createKey(t, ['runtime']);
    const otherGame = await createKey(t, ['runtime'], 'g-elsewhere');
    const claim = (agentId: string, key = runtimeKey) =>
      t.request({ method: 'POST', url: '/runtime/claim', key, body: { agent_id: agentId } });
    const getAgent = async (id: string) => (await t.request({ method: 'GET', url: `/agents/${id}` })).json();
    const waiting = async (agentId: string, description: string) => {
      const task = (await assign({ description, agent_id: agentId })).json();
      await waitForStatus(t, task.id, 'assigned');
      return task.id as string;
    };

    const fresh = await insertAgent(t.app, { gameId: 'g-chk', agentType: 'duo', capabilities: ['code'], lastSeenAt: new Date() });
    const first = await waiting(fresh.id, 'fresh');
    const refused = await claim(fresh.id, otherGame);
    expect(refused.statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/tasks/${first}` })).json().status).toBe('assigned');
    expect((await claim(fresh.id)).json().task.id).toBe(first);

    // Seen 3 s ago: past the window in which a claim leaves it untouched (a quarter of duo's
    // heartbeat_timeout_s of 5), not yet offline for the reaper. Claimed, and now seen.
    const seenAWhileAgo = new Date(Date.now() - 3_000);
    const stale = await insertAgent(t.app, { gameId: 'g-chk', agentType: 'duo', capabilities: ['code'], lastSeenAt: seenAWhileAgo });
    const second = await waiting(stale.id, 'stale');
    expect((await claim(stale.id)).json().task.id).toBe(second);
    expect(new Date((await getAgent(stale.id)).last_seen_at).getTime()).toBeGreaterThan(seenAWhileAgo.getTime() + 2_000);

    // Marked offline (just after it was seen) with a task assigned before: back online, busy.
    const gone = await insertAgent(t.app, { gameId: 'g-chk', agentType: 'duo', capabilities: ['code'], lastSeenAt: new Date() });
    const third = await waiting(gone.id, 'offline');
    await t.app.database.db.execute(sql`update agents set status = 'offline', last_seen_at = now() where id = ${gone.id}::uuid`);
    expect((await claim(gone.id)).json().task.id).toBe(third);
    expect(await getAgent(gone.id)).toMatchObject({ status: 'busy', current_task_id: third });
    const back = (await eventsOf(t.app, { agentId: gone.id, type: 'agent.state_changed' })).map((e) => (e.data as Json).previous_status);
    expect(back).toContain('offline');
  });

  it('a claim brings an offline agent back: idle, or busy while it runs a task; its agent.state_changed is in the log before the answer', async () => {
    const runtimeKey = await createKey(t, ['runtime']);
    const long = new Date(Date.now() - 3_600_000);
    const offline = (over: Parameters<typeof insertAgent>[1] = {}) =>
      insertAgent(t.app, {
        gameId: 'g-back',
        agentType: 'remote',
        capabilities: ['code'],
        status: 'offline',
        activity: 'thinking',
        activityDetail: 'where was I',
        lastSeenAt: long,
        idleSince: long,
        ...over,
      });
    const logged = async (agentId: string) =>
      // the log itself, not eventsOf (which first waits for the outbox): the answer came after it
      (await t.app.database.db.select().from(events).where(eq(events.agentId, agentId)).orderBy(asc(events.seq))).map((e) => ({
        type: e.type,
        taskId: e.taskId,
        data: e.data,
      }));

    // Nothing to do, wait_s 0 (the claim dispatches itself) and wait_s 1 (it waits): back idle.
    for (const waitS of [0, 1]) {
      const agent = await offline();
      const before = Date.now();
      const res = await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id, wait_s: waitS } });
      expect(res.statusCode).toBe(204);
      expect(await logged(agent.id)).toEqual([
        {
          type: 'agent.state_changed',
          taskId: null,
          data: {
            agent_id: agent.id,
            status: 'idle',
            previous_status: 'offline',
            activity: 'thinking',
            activity_detail: 'where was I',
            task_id: null,
          },
        },
      ]);
      const now = (await t.request({ method: 'GET', url: `/agents/${agent.id}` })).json();
      expect(now).toMatchObject({ status: 'idle', activity: 'thinking', activity_detail: 'where was I', version: agent.version + 1 });
      expect(new Date(now.last_seen_at).getTime()).toBeGreaterThanOrEqual(before - 1000);
      const [row] = await t.app.database.db.select().from(agents).where(eq(agents.id, agent.id));
      expect(row!.idleSince!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    }

    // Offline while a task of its runs (the runtime lost its connection): back busy, still on it.
    const runner = await offline({ gameId: 'g-back-run' });
    const task = (await assign({ description: 'long one', game_id: 'g-back-run' })).json();
    await t.app.database.db.execute(
      sql`update tasks set status = 'running', agent_id = ${runner.id}::uuid, game_id = 'g-back-run', started_at = now(),
            lease_token = gen_random_uuid(), lease_expires_at = now() + interval '1 hour', attempts = 1 where id = ${task.id}::uuid`,
    );
    await t.app.database.db.execute(sql`update agents set current_task_id = ${task.id}::uuid where id = ${runner.id}::uuid`);
    const res = await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: runner.id, wait_s: 0 } });
    expect(res.statusCode).toBe(204);
    expect(await logged(runner.id)).toEqual([
      {
        type: 'agent.state_changed',
        taskId: task.id,
        data: {
          agent_id: runner.id,
          status: 'busy',
          previous_status: 'offline',
          activity: 'thinking',
          activity_detail: 'where was I',
          task_id: task.id,
        },
      },
    ]);
    const [row] = await t.app.database.db.select().from(agents).where(eq(agents.id, runner.id));
    expect(row).toMatchObject({ status: 'busy', currentTaskId: task.id, idleSince: long });
  });

  it('runtime protocol: scopes, 204 when idle, heartbeat extends the lease and reports progress', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-rt', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const runtimeKey = await createKey(t, ['runtime']);
    const readKey = await createKey(t, ['read']);
    expect((await t.request({ method: 'POST', url: '/runtime/claim', key: readKey, body: { agent_id: agent.id } })).statusCode).toBe(403);
    expect((await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).statusCode).toBe(
      204,
    );
    const simulated = await insertAgent(t.app, { gameId: 'g-rt' });
    expect((await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: simulated.id } })).statusCode).toBe(
      409,
    );
    const task = (await assign({ description: 'work', agent_id: agent.id })).json();
    const claim = (await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).json();
    const hb = await t.request({
      method: 'POST',
      url: `/runtime/tasks/${task.id}/heartbeat`,
      key: runtimeKey,
      body: { lease_token: claim.lease.token, progress: 0.4, message: 'running tests', activity: 'testing' },
    });
    expect(hb.statusCode).toBe(200);
    expect(new Date(hb.json().lease.expires_at).getTime()).toBeGreaterThanOrEqual(new Date(claim.lease.expires_at).getTime());
    expect((await t.request({ method: 'GET', url: `/tasks/${task.id}/status` })).json()).toMatchObject({
      progress: expect.closeTo(0.4, 5),
      message: 'running tests',
    });
    const state = (await eventsOf(t.app, { agentId: agent.id, type: 'agent.state_changed' })).pop()!;
    expect(state.data).toMatchObject({ status: 'busy', activity: 'testing' });
    await t.request({
      method: 'POST',
      url: `/runtime/tasks/${task.id}/complete`,
      key: runtimeKey,
      body: { lease_token: claim.lease.token },
    });
  });

  it('isolates games: a game key sees and assigns only within its game', async () => {
    const mine = await insertAgent(t.app, { gameId: 'iso-a' });
    const theirs = await insertAgent(t.app, { gameId: 'iso-b' });
    const key = await createKey(t, ['game'], 'iso-a');
    const other = (await assign({ description: 'b task', game_id: 'iso-b', required_capabilities: ['none-such'] })).json();
    expect((await t.request({ method: 'GET', url: `/tasks/${other.id}`, key })).statusCode).toBe(404);
    expect((await t.request({ method: 'POST', url: `/tasks/${other.id}/cancel`, key })).statusCode).toBe(404);
    expect((await assign({ description: 'x', agent_id: theirs.id }, key)).json().error.message).toMatch(/^agent_id: agent .* not found/);
    expect((await assign({ description: 'x', game_id: 'iso-b' }, key)).statusCode).toBe(403);
    const own = await assign({ description: 'mine', agent_id: mine.id }, key);
    expect(own.statusCode).toBe(201);
    expect(own.json().game_id).toBe('iso-a');
    const listed = (await t.request({ method: 'GET', url: '/tasks?limit=500', key })).json().items;
    expect(listed.every((x: Json) => x.game_id === 'iso-a')).toBe(true);
    expect((await t.request({ method: 'GET', url: '/tasks?game_id=iso-b', key })).json().items).toEqual([]);
  });
});

describe.runIf(driver === 'postgres')('two workers on one queue', () => {
  it('never run a task twice across 1,000 tasks', async () => {
    const config = { tasks: { lease_s: 30 }, worker: { concurrency: 64, poll_interval_ms: 20 } };
    const a = await buildTestApp({ config });
    const b = await buildTestApp({ config, databaseUrl: a.databaseUrl!, redisPrefix: a.redisPrefix! });
    try {
      for (let i = 0; i < 8; i++) await insertAgent(a.app, { gameId: 'race', capabilities: ['code'] });
      // Agents take one task at a time (max_concurrency 1), so 8 agents bound throughput; fine.
      const ids: string[] = [];
      const batch = Array.from({ length: 1000 }, (_, i) => i);
      for (let i = 0; i < batch.length; i += 50) {
        const created = await Promise.all(
          batch
            .slice(i, i + 50)
            .map((n) =>
              (n % 2 ? a : b).request({ method: 'POST', url: '/tasks/assign', body: { description: `task ${n}`, game_id: 'race' } }),
            ),
        );
        ids.push(...created.map((r) => r.json().id));
      }
      await expect
        .poll(
          async () => {
            const { rows } = (await a.app.database.db.execute(
              (await import('drizzle-orm')).sql`select count(*)::int as n from tasks where game_id = 'race' and status = 'completed'`,
            )) as unknown as { rows: Array<{ n: number }> };
            return rows[0]!.n;
          },
          { timeout: 120_000, interval: 250 },
        )
        .toBe(1000);
      const started = await eventsOf(a.app, { type: 'task.started' });
      const perTask = new Map<string, number>();
      for (const e of started) if (ids.includes(e.taskId!)) perTask.set(e.taskId!, (perTask.get(e.taskId!) ?? 0) + 1);
      expect(perTask.size).toBe(1000);
      expect([...perTask.values()].every((n) => n === 1)).toBe(true);
      const completed = (await eventsOf(a.app, { type: 'task.completed' })).filter((e) => ids.includes(e.taskId!));
      expect(completed).toHaveLength(1000);
    } finally {
      await b.app.close();
      await a.close();
    }
  }, 180_000);
});

describe(`assignment at creation (${driver})`, () => {
  // No embedded worker: nothing but the creating request can hand the task out.
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ config: { worker: { embedded: false } } });
  });
  afterAll(async () => t?.close());

  it('a task created while an eligible agent is free is assigned by the create (one statement on Postgres, a transaction on PGlite)', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-at-create', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const res = await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'now', game_id: 'g-at-create' } });
    expect(res.statusCode).toBe(201);
    expect(res.json().status).toBe('queued'); // the task as created, as task.created shows it
    const task = (await t.request({ method: 'GET', url: `/tasks/${res.json().id}` })).json();
    expect(task).toMatchObject({ status: 'assigned', agent_id: agent.id });
    const types = (await eventsOf(t.app, { taskId: task.id })).map((e) => e.type);
    expect(types).toEqual(['task.created', 'task.assigned']);
  });

  it('answers a create once its task.created and task.assigned are in the log (on Postgres moved there by its own statement when no round runs)', async () => {
    const agent = await insertAgent(t.app, { gameId: 'g-own-move', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const sequencer = outboxFor(t.app.database, t.app.bus).sequencer;
    const rounds = sequencer?.stats().rounds;
    const res = await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'logged', game_id: 'g-own-move' } });
    expect(res.statusCode).toBe(201);
    // The log itself, at once (eventsOf would first wait for the outbox).
    const logged = await t.app.database.db.select().from(events).where(eq(events.taskId, res.json().id)).orderBy(asc(events.seq));
    expect(logged.map((e) => [e.type, e.agentId])).toEqual([
      ['task.created', null],
      ['task.assigned', agent.id],
    ]);
    expect(logged[0]!.data).toEqual({ task: res.json() });
    // Nothing else runs in this app (no worker): no sequencing round was needed.
    if (sequencer) expect(sequencer.stats().rounds).toBe(rounds);
  });

  it.runIf(driver === 'postgres')(
    'a round that waits for the dispatch lock reads the queue after the wait, in the same statement',
    async () => {
      await insertAgent(t.app, { gameId: 'g-wait-round', lastSeenAt: new Date() }); // some agent is available
      const repo = tasksRepository(t.app.database);
      const pg = (await import('pg')).default;
      const holder = new pg.Client({ connectionString: t.databaseUrl! });
      await holder.connect();
      let seen: string[] | null = null;
      try {
        await holder.query('begin');
        await holder.query('select pg_advisory_xact_lock(72616003)'); // tasks.service DISPATCH_LOCK
        const round = t.app.database.db.transaction(async (tx) => {
          seen = (await repo.runnable(tx, 10_000, { waitLock: 72616003 })).map((row) => row.id);
        });
        await new Promise((r) => setTimeout(r, 50));
        expect(seen).toBeNull(); // still waiting for the lock
        // Created (and committed) while the round waits: runnable by the clock after the wait.
        const body = { description: 'created while the round waited', game_id: 'g-no-agents', priority: 'critical' };
        const created = (await t.request({ method: 'POST', url: '/tasks/assign', body })).json().id;
        await holder.query('commit');
        await round;
        expect(seen).toContain(created);
      } finally {
        await holder.end();
      }
    },
  );

  it.runIf(driver === 'postgres')(
    'does not wait when another dispatch round holds the lock: the task stays queued for that round',
    async () => {
      await insertAgent(t.app, { gameId: 'g-at-create-busy', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
      const pg = (await import('pg')).default;
      const holder = new pg.Client({ connectionString: t.databaseUrl! });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query('select pg_advisory_xact_lock(72616003)'); // tasks.service DISPATCH_LOCK
        const res = await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'later', game_id: 'g-at-create-busy' } });
        expect(res.statusCode).toBe(201);
        expect((await t.request({ method: 'GET', url: `/tasks/${res.json().id}` })).json().status).toBe('queued');
        await holder.query('commit');
      } finally {
        await holder.end();
      }
    },
  );
});

describe(`worker pre-check: hasWork (${driver})`, () => {
  // No embedded worker: the queue changes only through these requests.
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ config: { worker: { embedded: false } } });
  });
  afterAll(async () => t?.close());

  it('says whether a round could dispatch or start anything, for the worker’s agent types', async () => {
    const repo = tasksRepository(t.app.database);
    expect(await repo.hasWork(['remote'])).toBe(false);

    // Assigned at creation to a free agent: work for a worker of its type only.
    const agent = await insertAgent(t.app, { gameId: 'g-has-work', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() });
    const assigned = await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'a', agent_id: agent.id } });
    expect((await t.request({ method: 'GET', url: `/tasks/${assigned.json().id}` })).json().status).toBe('assigned');
    expect(await repo.hasWork(['remote'])).toBe(true);
    expect(await repo.hasWork(['claude'])).toBe(false);
    expect(await repo.hasWork([])).toBe(false);

    // A runnable queued task is work for every worker (any round dispatches every type)…
    const queued = await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'q', game_id: 'g-has-work-nobody' } });
    expect(queued.statusCode).toBe(201);
    expect(await repo.hasWork(['claude'])).toBe(true);
    // …but not before its run_after (a retry's backoff).
    await t.app.database.db.execute(sql`update tasks set run_after = now() + interval '1 hour' where id = ${queued.json().id}::uuid`);
    expect(await repo.hasWork(['claude'])).toBe(false);
  });
});

describe.runIf(driver === 'postgres')('a create that leaves dispatch to the round under way (postgres)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      config: {
        agent_types: { quick: { runtime: 'simulated', capabilities: ['code'], speed: 0.005, seed: 3, personality_failures: false } },
      },
    });
  });
  afterAll(async () => t?.close());

  it('is one statement with the same task, the same task.created and the same outcome as the create that dispatches (migration 0017)', async () => {
    const keyId = '00000000-0000-0000-0000-0000000000aa';
    const actor = { keyId, name: 'test', scopes: ['admin' as const], gameId: null };
    const body = {
      description: 'Build the "north" bridge',
      task_type: 'building',
      priority: 'high' as const,
      game_id: 'g-quick',
      required_capabilities: ['code', 'code', 'say "hi"'],
      metadata: { a: [1, { b: null }], ü: 'x' },
      timeout_s: 42,
      max_attempts: 2,
    };
    // Nobody can run them yet: both stay queued, so what was written can be compared.
    const quick = await t.app.tasks.create(body, actor, { inlineDispatch: false });
    const dispatching = await t.app.tasks.create(body, actor, { inlineDispatch: true });
    for (const task of [quick, dispatching]) {
      expect(task).toMatchObject({ status: 'queued', priority: 'high', game_id: 'g-quick', required_capabilities: ['code', 'say "hi"'] });
      const [created] = await eventsOf(t.app, { taskId: task.id, type: 'task.created' });
      // The event's task is the response's task, field by field (built by SQL for the quick one).
      expect(created!.data).toEqual({ task });
      expect(created!.actor).toBe(keyId);
      expect(created!.gameId).toBe('g-quick');
      expect((await t.request({ method: 'GET', url: `/tasks/${task.id}` })).json()).toEqual(task);
    }
    const { id: _a, created_at: _b, run_after: _c, updated_at: _d, ...rest } = quick;
    const { id: _e, created_at: _f, run_after: _g, updated_at: _h, ...restDispatching } = dispatching;
    expect(rest).toEqual(restDispatching);

    // A targeted one to an agent of the game is handed out by the worker's next round and runs.
    const agent = await insertAgent(t.app, { gameId: 'g-quick', agentType: 'quick', capabilities: ['code'] });
    const targeted = await t.app.tasks.create({ description: 'walk', agent_id: agent.id }, actor, { inlineDispatch: false });
    expect(targeted).toMatchObject({ status: 'queued', agent_id: agent.id, game_id: 'g-quick' });
    const done = await waitForStatus(t, targeted.id, 'completed');
    expect(done.attempts).toBe(1);
    const types = (await eventsOf(t.app, { taskId: targeted.id })).map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['task.created', 'task.assigned', 'task.started']);
    expect(types.at(-1)).toBe('task.completed');
  });
});
