import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agents, tasks } from '../../src/db/schema.js';
import { newId } from '../../src/lib/ids.js';
import { planAssignments, type CandidateAgent } from '../../src/modules/tasks/assignment.js';
import { tasksRepository } from '../../src/modules/tasks/tasks.repository.js';
import { buildTestApp, driver, type TestApp } from '../helpers/build-app.js';

/**
 * The dispatch round as one SQL function (migrations 0008, 0009) against the rules it mirrors: random
 * queues and agents, the TypeScript round (the repository's queue and candidate reads, then
 * planAssignments — chooseAgent task by task — as tasks.service.ts dispatchIn does) computed first in a transaction
 * that is rolled back, then the function on the same rows; every task → agent pair must match.
 */

const TYPES = ['aider', 'opencode', 'claude', 'custom', 'remote'];
const GAMES = ['g-1', 'g-2', null];
const CAPS = ['code', 'python', 'review', 'design'];
const CAPACITY: Record<string, number> = { aider: 2, opencode: 1, claude: 3 }; // custom, remote: the default 1
const LOCK = 72_616_003;

/** mulberry32: a failing scenario is reproducible from its number. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.runIf(driver === 'postgres')('dispatch round in one statement (postgres)', () => {
  let t: TestApp;
  beforeAll(async () => {
    // No worker: only this test dispatches.
    t = await buildTestApp({ config: { worker: { embedded: false } } });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function scenario(seed: number, options: { earlierOf?: string; agents?: number; tasks?: number } = {}) {
    const random = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const subset = (xs: readonly string[], max: number) => xs.filter(() => random() < max / xs.length);
    const db = t.app.database.db;
    await db.execute(sql`delete from event_outbox`);
    await db.execute(sql`delete from tasks`);
    await db.execute(sql`delete from agents`);

    // Agents: a few idle-since instants so ties on load and idle time are common.
    const base = Date.parse('2026-12-01T00:00:00.000Z');
    const agentRows = Array.from({ length: options.agents ?? 4 + Math.floor(random() * 14) }, (_, i) => ({
      id: newId(),
      name: `a${i}`,
      agentType: pick(TYPES),
      status: pick(['idle', 'idle', 'busy', 'offline', 'error']),
      personality: 'steady',
      capabilities: subset(CAPS, 2.5),
      gameId: pick(GAMES),
      idleSince: new Date(base + Math.floor(random() * 4) * 1000),
    }));
    await db.insert(agents).values(agentRows);

    // Load: tasks some agents already hold.
    const held = agentRows
      .filter(() => random() < 0.4)
      .map((a, i) => ({
        id: newId(),
        description: `held ${i}`,
        taskType: 'code',
        status: pick(['assigned', 'running']),
        priority: 1,
        agentId: a.id,
        gameId: a.gameId,
        maxAttempts: 3,
        timeoutS: 60,
        createdAt: new Date(base - 10_000 + i),
        assignedAt: new Date(base - 10_000 + i),
      }));
    if (held.length > 0) await db.insert(tasks).values(held);
    // Dependencies: a finished task (runnable after it) and the held ones (not yet).
    const done = { id: newId(), description: 'done', taskType: 'code', status: 'completed', priority: 1, maxAttempts: 3, timeoutS: 60 };
    await db.insert(tasks).values(done);
    const dependable = [done.id, ...held.map((h) => h.id)];

    const queued = Array.from({ length: options.tasks ?? 1 + Math.floor(random() * 30) }, (_, i) => {
      const targeted = random() < 0.2;
      const target = random() < 0.8 ? pick(agentRows).id : newId();
      return {
        id: newId(),
        description: `queued ${i}`,
        taskType: 'code',
        status: 'queued',
        priority: Math.floor(random() * 4),
        agentId: targeted ? target : null,
        targeted,
        agentType: random() < 0.5 ? null : pick(TYPES),
        requiredCapabilities: subset(CAPS, 1),
        gameId: pick(GAMES),
        maxAttempts: 3,
        timeoutS: 60,
        createdAt: new Date(base + i),
        runAfter: random() < 0.1 ? new Date(Date.now() + 3_600_000) : new Date(base + i),
        dependsOn: random() < 0.2 ? [pick(dependable)] : [],
      };
    });
    await db.insert(tasks).values(queued);

    // An earlier assignment, waiting to start, for an available agent of this type.
    const holder = options.earlierOf
      ? agentRows.find((a) => a.agentType === options.earlierOf && (a.status === 'idle' || a.status === 'busy'))
      : undefined;
    const earlier = holder ? newId() : null;
    if (holder) {
      await db.insert(tasks).values({
        id: earlier!,
        description: 'assigned earlier',
        taskType: 'code',
        status: 'assigned',
        priority: 1,
        agentId: holder.id,
        gameId: holder.gameId,
        maxAttempts: 3,
        timeoutS: 60,
        assignedAt: new Date(Date.now() - 1000),
      });
    }

    // The TypeScript round, rolled back.
    const repo = tasksRepository(t.app.database);
    const expected: Array<[string, string]> = [];
    await db
      .transaction(async (tx) => {
        const queue = await repo.runnable(tx, 500);
        const games = [...new Set(queue.map((q) => q.gameId).filter((g): g is string => g !== null))];
        const targets = [...new Set(queue.filter((q) => q.targeted && q.agentId).map((q) => q.agentId!))];
        const candidates: CandidateAgent[] = (
          await repo.candidates(
            tx,
            games,
            queue.some((q) => q.gameId === null),
            targets,
          )
        ).map((a) => ({ ...a, capacity: CAPACITY[a.agentType] ?? 1 }));
        for (const { task, agent } of planAssignments(queue, candidates)) expected.push([task.id, agent.id]);
        tx.rollback();
      })
      .catch((err: unknown) => {
        if (!(err instanceof Error) || !/rollback/i.test(err.message)) throw err;
      });
    return { agentRows, held, expected, earlier };
  }

  /** An empty database with one idle agent. */
  async function onlyAgent(name: string, agentType: string) {
    await t.app.database.db.execute(sql`delete from tasks`);
    await t.app.database.db.execute(sql`delete from agents`);
    const [agent] = await t.app.database.db
      .insert(agents)
      .values({ id: newId(), name, agentType, status: 'idle', personality: 'steady', capabilities: ['code'], gameId: 'g-1' })
      .returning();
    return agent!;
  }

  async function round(startTypes: string[], startLimit: number, claims?: Map<string, string | null>) {
    return tasksRepository(t.app.database).dispatchRound({
      batch: 500,
      lock: LOCK,
      capacity: CAPACITY,
      startTypes,
      startLimit,
      leaseS: 30,
      ...(claims ? { claims } : {}),
    });
  }

  it('assigns exactly as chooseAgent does, over 60 random queues', async () => {
    let pairs = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const { expected } = await scenario(seed);
      const result = await round([], 0);
      const got = result.assigned.map((row) => [row.id, row.agentId!] as [string, string]);
      expect({ seed, pairs: got }).toEqual({ seed, pairs: expected });
      expect(result.started).toEqual([]);
      pairs += got.length;
      // task.assigned for each, attempt 1, in queue order
      const staged = await t.app.database.rows<{ type: string; task_id: string; data: { attempt: number; agent_id: string } }>(
        sql`select type, task_id, data from event_outbox order by id`,
      );
      expect(staged.map((e) => [e.type, e.task_id, e.data.agent_id, e.data.attempt])).toEqual(
        expected.map(([task, agent]) => ['task.assigned', task, agent, 1]),
      );
    }
    // The scenarios exercise the rules: many pairs, not an empty comparison.
    expect(pairs).toBeGreaterThan(100);
  });

  it('assigns as chooseAgent does with hundreds of agents (the scan that stops early), over 4 large queues', async () => {
    let pairs = 0;
    for (let seed = 201; seed <= 204; seed++) {
      const { expected } = await scenario(seed, { agents: 300, tasks: 250 });
      const result = await round([], 0);
      expect({ seed, pairs: result.assigned.map((row) => [row.id, row.agentId!]) }).toEqual({ seed, pairs: expected });
      pairs += expected.length;
    }
    expect(pairs).toBeGreaterThan(200);
  });

  it("starts what it gives the worker's agent types, up to the free slots; earlier assignments first", async () => {
    let startedTotal = 0;
    for (let seed = 101; seed <= 130; seed++) {
      const { expected, agentRows, held, earlier } = await scenario(seed, { earlierOf: 'aider' });
      const typeOf = new Map(agentRows.map((a) => [a.id, a.agentType]));
      const limit = 1 + (seed % 3);
      const result = await round(['aider', 'claude'], limit);
      // Assignments waiting to start (the held ones are older than `earlier`), then the round's.
      const waiting = held.filter((h) => h.status === 'assigned' && ['aider', 'claude'].includes(typeOf.get(h.agentId)!)).map((h) => h.id);
      const wantStarted = [
        ...waiting,
        ...(earlier ? [earlier] : []),
        ...expected.filter(([, agent]) => ['aider', 'claude'].includes(typeOf.get(agent)!)).map(([task]) => task),
      ].slice(0, limit);
      expect({ seed, started: result.started.map((s) => s.id) }).toEqual({ seed, started: wantStarted });
      for (const s of result.started) {
        expect(s.status).toBe('running');
        expect(s.attempts).toBe(1);
        expect(s.leaseToken).toBeTruthy();
        expect(s.runner.agentType).toBe(typeOf.get(s.agentId!));
        if (s.startedNow) expect(s.startedAt!.getTime()).toBe(s.assignedAt!.getTime());
      }
      // Every started task's agent is busy with the last one it started.
      for (const agentId of new Set(result.started.map((s) => s.agentId!))) {
        const [row] = await t.app.database.rows<{ status: string; current_task_id: string; activity: string }>(
          sql`select status, current_task_id, activity from agents where id = ${agentId}`,
        );
        const last = result.started.filter((s) => s.agentId === agentId).at(-1)!;
        const before = agentRows.find((a) => a.id === agentId)!;
        // An offline or errored agent keeps its state (its runtime is not there to run it).
        if (before.status === 'offline' || before.status === 'error')
          expect(row).toEqual({ status: before.status, current_task_id: null, activity: null });
        else expect(row).toEqual({ status: 'busy', current_task_id: last.id, activity: 'thinking' });
      }
      const started = await t.app.database.rows<{ task_id: string; attempt: number }>(
        sql`select task_id, (data->>'attempt')::int as attempt from event_outbox where type = 'task.started' order by id`,
      );
      expect(started.map((e) => e.task_id)).toEqual(wantStarted);
      startedTotal += wantStarted.length;
    }
    expect(startedTotal).toBeGreaterThan(20);
  });

  it('starts the first task it gives each agent whose claim waits (migration 0009), choosing as before', async () => {
    let claimedTotal = 0;
    for (let seed = 301; seed <= 330; seed++) {
      const random = prng(seed * 7);
      const { expected, agentRows } = await scenario(seed);
      // Claims wait for some agents (of any status: a claim reads its agent before it waits).
      const claims = new Map(agentRows.filter(() => random() < 0.5).map((a) => [a.id, random() < 0.8 ? newId() : null] as const));
      const result = await round([], 0, claims);
      // The same pairs (claimed tasks come back after the others, as started ones do).
      const byTask = (a: string[], b: string[]) => a[0]!.localeCompare(b[0]!);
      expect({ seed, pairs: result.assigned.map((row) => [row.id, row.agentId!]).sort(byTask) }).toEqual({
        seed,
        pairs: expected.map((pair) => [...pair]).sort(byTask),
      });
      const want: string[] = [];
      const served = new Set<string>();
      for (const [task, agent] of expected) {
        if (!claims.has(agent) || served.has(agent)) continue;
        served.add(agent);
        want.push(task);
      }
      expect({ seed, claimed: result.claimed.map((row) => row.id) }).toEqual({ seed, claimed: want });
      expect(result.started).toEqual([]);
      for (const row of result.claimed) {
        expect(row.status).toBe('running');
        expect(row.attempts).toBe(1);
        expect(row.leaseToken).toBeTruthy();
        expect(row.startedAt!.getTime()).toBe(row.assignedAt!.getTime());
      }
      // The others are assigned (their claims start them), untouched.
      const pairTasks = new Set(expected.map(([task]) => task));
      const statuses = (await t.app.database.rows<{ id: string; status: string }>(sql`select id, status from tasks`)).filter((row) =>
        pairTasks.has(row.id),
      );
      expect(statuses).toHaveLength(expected.length);
      for (const row of statuses)
        expect({ seed, id: row.id, status: row.status }).toEqual({
          seed,
          id: row.id,
          status: want.includes(row.id) ? 'running' : 'assigned',
        });
      // task.assigned of every pair (attempt 1), then task.started of each claimed one with the claim's key as actor.
      const staged = await t.app.database.rows<{ type: string; task_id: string; actor: string | null; attempt: number }>(
        sql`select type, task_id, actor, (data->>'attempt')::int as attempt from event_outbox where type in ('task.assigned', 'task.started') order by id`,
      );
      expect(staged.map((e) => [e.type, e.task_id, e.attempt])).toEqual([
        ...expected.map(([task]) => ['task.assigned', task, 1]),
        ...want.map((task) => ['task.started', task, 1]),
      ]);
      for (const e of staged.filter((x) => x.type === 'task.started')) {
        const agent = expected.find(([task]) => task === e.task_id)![1];
        expect(e.actor).toBe(claims.get(agent));
      }
      // Their agents are busy with them, unless offline or in error.
      for (const row of result.claimed) {
        const before = agentRows.find((a) => a.id === row.agentId)!;
        const [agent] = await t.app.database.rows<{ status: string; current_task_id: string | null }>(
          sql`select status, current_task_id from agents where id = ${row.agentId}`,
        );
        if (before.status === 'offline' || before.status === 'error') expect(agent!.status).toBe(before.status);
        else expect(agent).toEqual({ status: 'busy', current_task_id: row.id });
      }
      claimedTotal += want.length;
    }
    expect(claimedTotal).toBeGreaterThan(20);
  });

  it('leaves a subtask assigned (its start updates the parent) and says one waits', async () => {
    const agent = await onlyAgent('team-1', 'aider');
    const parent = newId();
    await t.app.database.db.insert(tasks).values([
      {
        id: parent,
        description: 'team',
        taskType: 'code',
        status: 'running',
        priority: 1,
        teamSize: 1,
        gameId: 'g-1',
        maxAttempts: 1,
        timeoutS: 60,
      },
      {
        id: newId(),
        description: 'part',
        taskType: 'code',
        status: 'queued',
        priority: 1,
        parentId: parent,
        gameId: 'g-1',
        maxAttempts: 1,
        timeoutS: 60,
      },
    ]);
    // Not even for a claim that waits for this agent.
    const first = await round(['aider'], 2, new Map([[agent.id, null]]));
    expect(first.started).toEqual([]);
    expect(first.claimed).toEqual([]);
    expect(first.assigned.map((r) => [r.parentId, r.agentId, r.status])).toEqual([[parent, agent.id, 'assigned']]);
    expect(first.teamWaiting).toBe(true);
    // Without free slots it does not look.
    expect((await round(['aider'], 0)).teamWaiting).toBe(false);
  });

  it('a round waits for the dispatch lock another transaction holds, then sees what was committed meanwhile', async () => {
    const agent = await onlyAgent('w', 'custom');
    const taskId = newId();
    let pending: ReturnType<typeof round> | null = null;
    await t.app.database.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${LOCK}::bigint)`);
      pending = round([], 0);
      await new Promise((r) => setTimeout(r, 50));
      await tx.insert(tasks).values({
        id: taskId,
        description: 'created while the round waited',
        taskType: 'code',
        status: 'queued',
        priority: 1,
        gameId: 'g-1',
        maxAttempts: 1,
        timeoutS: 60,
      });
    });
    const result = await pending!;
    expect(result.assigned.map((r) => [r.id, r.agentId])).toEqual([[taskId, agent.id]]);
  });
});
