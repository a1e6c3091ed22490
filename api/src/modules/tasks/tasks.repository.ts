import { and, desc, eq, getTableColumns, inArray, sql, type SQL } from 'drizzle-orm';
import type { Database, DbOrTx, Tx } from '../../db/client.js';
import { agents, tasks, type AgentRow, type TaskRow } from '../../db/schema.js';
import { afterTime, microsOf, type TimeKey } from '../../lib/pagination-sql.js';

/**
 * A Postgres array literal for uuid / numeric values, passed as ONE parameter: batch
 * statements stay a fixed size whatever the batch. Only for values that need no quoting.
 */
export function pgArray(values: readonly (string | number)[]): string {
  return `{${values.join(',')}}`;
}

/** A Postgres text[] literal with every element quoted (any text is safe), null as NULL. */
export function pgTextArray(values: readonly (string | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`;
}

/** Raw rows from `returning *` / `select *` use column names; map them to the drizzle row shape. */
export function rawToTask(r: Record<string, unknown>): TaskRow {
  const date = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
  return {
    id: r.id as string,
    description: r.description as string,
    taskType: r.task_type as string,
    status: r.status as string,
    priority: Number(r.priority),
    agentId: (r.agent_id as string | null) ?? null,
    targeted: Boolean(r.targeted),
    agentType: (r.agent_type as string | null) ?? null,
    parentId: (r.parent_id as string | null) ?? null,
    teamSize: r.team_size === null || r.team_size === undefined ? null : Number(r.team_size),
    dependsOn: parseArray(r.depends_on),
    requiredCapabilities: parseArray(r.required_capabilities),
    gameId: (r.game_id as string | null) ?? null,
    progress: Number(r.progress),
    message: (r.message as string | null) ?? null,
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    timeoutS: Number(r.timeout_s),
    runAfter: date(r.run_after)!,
    leaseToken: (r.lease_token as string | null) ?? null,
    leaseExpiresAt: date(r.lease_expires_at),
    metadata: (parseJson(r.metadata) as Record<string, unknown>) ?? {},
    result: parseJson(r.result) ?? null,
    error: parseJson(r.error) ?? null,
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: date(r.created_at)!,
    assignedAt: date(r.assigned_at),
    startedAt: date(r.started_at),
    finishedAt: date(r.finished_at),
    updatedAt: date(r.updated_at)!,
  };
}

function parseArray(v: unknown): string[] {
  if (Array.isArray(v)) return v as string[];
  if (typeof v === 'string' && v.startsWith('{')) {
    const inner = v.slice(1, -1);
    return inner === '' ? [] : inner.split(',').map((s) => s.replace(/^"|"$/g, ''));
  }
  return [];
}

function parseJson(v: unknown): unknown {
  if (typeof v === 'string') {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

/**
 * Some agent might take a task now: one idle or busy (whether a busy one has room under its
 * type's concurrency is the candidates' count).
 */
const AGENT_AVAILABLE = sql`exists(select 1 from agents where status in ('idle', 'busy'))`;

/**
 * What a dispatch round's read of the queue is conditional on, in the same statement: nothing;
 * or the dispatch lock and some agent being available (without one a backlog was read, mapped and
 * matched against no candidate on every poll: ~4.5 % of a core for 20,000 queued tasks). The
 * lock is either waited for before the read (`waitLock`, migration 0006) or taken only if it is
 * free (`tryLock`). A tried lock is taken after the statement's snapshot — harmless for a round
 * that never waits: a task committed in between pokes the worker, whose next round hands it out.
 */
export type DispatchGate = 'none' | { tryLock: number } | { waitLock: number };

/** A claim function's (outcome, task) row: the task only when it was started; `none` when no row. */
function claimOutcome<O extends string>(row: Record<string, unknown> | undefined, none: O): { outcome: O; task: TaskRow | null } {
  const outcome = (row?.outcome ?? none) as O;
  return { outcome, task: outcome === 'started' ? rawToTask(row!.task as Record<string, unknown>) : null };
}

async function rows(db: DbOrTx, query: SQL): Promise<Record<string, unknown>[]> {
  const result = (await db.execute(query)) as unknown as { rows: Record<string, unknown>[] };
  return result.rows;
}

/** What a queued task without dependencies is created with (the rest are column defaults). */
export interface QueuedTaskValues {
  id: string;
  description: string;
  taskType: string;
  status: 'queued';
  priority: number;
  agentId: string | null;
  targeted: boolean;
  agentType: string | null;
  gameId: string | null;
  requiredCapabilities: string[];
  timeoutS: number;
  maxAttempts: number;
  metadata: Record<string, unknown>;
  createdBy: string | null;
}

/** A task that just started, with what its runtime needs to know about the agent running it. */
export type StartedTask = TaskRow & { runner: { name: string; personality: string; agentType: string } };

export interface BusyChange {
  before: Pick<AgentRow, 'id' | 'gameId' | 'status' | 'activity' | 'activityDetail' | 'currentTaskId'>;
  updated: boolean;
}

export interface AgentLoadRow {
  id: string;
  agentType: string;
  gameId: string | null;
  status: string;
  capabilities: string[];
  idleSince: Date;
  load: number;
}

export function tasksRepository(database: Database) {
  const db = database.db;
  return {
    async findById(id: string, tx: DbOrTx = db): Promise<TaskRow | undefined> {
      const [row] = await tx.select().from(tasks).where(eq(tasks.id, id)).limit(1);
      return row;
    },
    async lockById(tx: Tx, id: string): Promise<TaskRow | undefined> {
      const [row] = await tx.select().from(tasks).where(eq(tasks.id, id)).for('update').limit(1);
      return row;
    },
    async findMany(ids: string[], tx: DbOrTx = db): Promise<TaskRow[]> {
      if (ids.length === 0) return [];
      return tx.select().from(tasks).where(inArray(tasks.id, ids));
    },
    async insert(tx: Tx, values: (typeof tasks.$inferInsert)[]): Promise<TaskRow[]> {
      return tx.insert(tasks).values(values).returning();
    },
    /**
     * A queued task with no dependencies and its task.created staged in the outbox, as ONE
     * statement outside any transaction (Postgres with a sequencer only): the event's task is
     * built by agentvm_task_json (migration 0004), the same shape toTaskDto gives the response.
     * Statement-level atomicity: both rows or neither. For a create that leaves dispatch to the
     * round under way (see tasks.service.ts `create`): it was BEGIN, INSERT, the dispatch
     * try-lock that fails, the outbox INSERT, COMMIT.
     */
    /**
     * A queued task and its staged task.created, then — with `round.dispatch` and the dispatch
     * lock free — a dispatch round that assigns but starts nothing, then — with `inline.limit` and
     * the outbox lock free — the move of the staged events into the log, in one statement
     * (migration 0017): the task as created, the tasks the round assigned (this one among them,
     * when an agent could take it) and the events moved (rows of the log, to publish).
     */
    async insertQueued(
      v: QueuedTaskValues,
      actor: string | null,
      round: { dispatch: boolean; batch: number; lock: number; capacity: Record<string, number>; leaseS: number },
      inline: { lock: number; limit: number },
    ): Promise<{ row: TaskRow; assigned: TaskRow[]; moved: Record<string, unknown>[] }> {
      const task = {
        id: v.id,
        description: v.description,
        task_type: v.taskType,
        status: v.status,
        priority: v.priority,
        agent_id: v.agentId,
        targeted: v.targeted,
        agent_type: v.agentType,
        game_id: v.gameId,
        required_capabilities: v.requiredCapabilities,
        timeout_s: v.timeoutS,
        max_attempts: v.maxAttempts,
        metadata: v.metadata,
        created_by: v.createdBy,
      };
      const result = await rows(
        db,
        sql`select kind, task from agentvm_create_task_dispatch(${JSON.stringify(task)}::jsonb, ${actor}::uuid,
              ${round.dispatch}::boolean, ${round.lock}::bigint, ${round.batch}::int, ${JSON.stringify(round.capacity)}::jsonb, ${round.leaseS}::int,
              ${inline.lock}::bigint, ${inline.limit}::int)`,
      );
      const tasksOut = result.filter((r) => r.kind !== 'event').map((r) => rawToTask(r.task as Record<string, unknown>));
      const moved = result.filter((r) => r.kind === 'event').map((r) => r.task as Record<string, unknown>);
      const [created, ...assigned] = tasksOut;
      return { row: created!, assigned, moved };
    },
    async list(filter: {
      status?: string | undefined;
      agentId?: string | undefined;
      gameId?: string | undefined;
      parentId?: string | undefined;
      taskType?: string | undefined;
      limit: number;
      after: TimeKey | null;
    }): Promise<Array<TaskRow & { micros: string }>> {
      const conditions: SQL[] = [];
      if (filter.status) conditions.push(eq(tasks.status, filter.status));
      if (filter.agentId) conditions.push(eq(tasks.agentId, filter.agentId));
      if (filter.gameId) conditions.push(eq(tasks.gameId, filter.gameId));
      if (filter.parentId) conditions.push(eq(tasks.parentId, filter.parentId));
      if (filter.taskType) conditions.push(eq(tasks.taskType, filter.taskType));
      // A row comparison at full precision: exact, and it can walk the (created_at, id) order.
      if (filter.after) conditions.push(sql`(${tasks.createdAt}, ${tasks.id}) < (${afterTime(filter.after)}, ${filter.after.id}::uuid)`);
      return db
        .select({ ...getTableColumns(tasks), micros: microsOf(tasks.createdAt) })
        .from(tasks)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(tasks.createdAt), desc(tasks.id))
        .limit(filter.limit + 1);
    },
    async subtasks(tx: DbOrTx, parentId: string): Promise<TaskRow[]> {
      return tx.select().from(tasks).where(eq(tasks.parentId, parentId)).orderBy(tasks.createdAt, tasks.id);
    },
    async findAgent(tx: DbOrTx, id: string): Promise<AgentRow | undefined> {
      const [row] = await tx.select().from(agents).where(eq(agents.id, id)).limit(1);
      return row;
    },
    async lockAgent(tx: Tx, id: string): Promise<AgentRow | undefined> {
      const [row] = await tx.select().from(agents).where(eq(agents.id, id)).for('update').limit(1);
      return row;
    },

    /**
     * Queued, runnable tasks in queue order, for the dispatcher. Not locked: the dispatch lock
     * makes the round the only dispatcher, and markAssigned re-checks `status = 'queued'` row by
     * row, so a task cancelled or failed meanwhile is left out. Locking them (FOR UPDATE SKIP
     * LOCKED) wrote a lock into up to DISPATCH_BATCH rows per round, most of them for nobody:
     * with a backlog of 1,000 and 64 agents, a round locked 500 tasks to assign a handful.
     */
    async runnable(tx: Tx, limit: number, gate: DispatchGate = 'none'): Promise<TaskRow[]> {
      // statement_timestamp(), not now(), here and in every statement of this file: now() is the
      // start of the transaction, and a dispatch round's transaction may have waited for the
      // dispatch lock. With now() such a round missed every task created while it waited (their
      // run_after is later than its start) and handed out an older, lower-priority one first.
      // The gate is an uncorrelated subquery: evaluated once, before any row is read (a one-time
      // filter), so a closed gate costs no scan and returns nothing.
      // The functions (migrations 0003, 0006) read the queue with a plain index scan, which marks
      // the queue index's entries of tasks that left it as dead, so they are not read again.
      if (typeof gate === 'object' && 'waitLock' in gate) {
        // Takes the lock, waiting for it, then reads the queue by the clock after the wait.
        const waited = await rows(
          tx,
          sql`select * from agentvm_dispatch_queue(${limit}::int, ${gate.waitLock}::bigint) as t order by t.priority desc, t.created_at, t.id`,
        );
        return waited.map(rawToTask);
      }
      const open = gate === 'none' ? sql`true` : sql`(select pg_try_advisory_xact_lock(${gate.tryLock}) and ${AGENT_AVAILABLE})`;
      const result = await rows(
        tx,
        sql`select * from agentvm_runnable_tasks(${limit}::int) as t where ${open} order by t.priority desc, t.created_at, t.id`,
      );
      return result.map(rawToTask);
    },

    /** Agents that could take tasks of these games (or these targeted agents), with their current load. */
    async candidates(tx: Tx, gameIds: string[], includeNullGame: boolean, agentIds: string[]): Promise<AgentLoadRow[]> {
      const result = await rows(
        tx,
        sql`select a.id, a.agent_type, a.game_id, a.status, a.capabilities, a.idle_since,
                   (select count(*) from tasks x where x.agent_id = a.id and x.status in ('assigned', 'running'))::int as load
            from agents a
            where a.status in ('idle', 'busy')
              and (a.game_id = any(${pgArray(gameIds)}::text[])
                   or (${includeNullGame} and a.game_id is null)
                   or a.id = any(${pgArray(agentIds)}::uuid[]))`,
      );
      return result.map((r) => ({
        id: r.id as string,
        agentType: r.agent_type as string,
        gameId: (r.game_id as string | null) ?? null,
        status: r.status as string,
        capabilities: parseArray(r.capabilities),
        idleSince: r.idle_since instanceof Date ? r.idle_since : new Date(String(r.idle_since)),
        load: Number(r.load),
      }));
    },

    /**
     * queued → assigned for each pair, or straight to running for the pairs marked `start` (the
     * built-in worker's own agents, for which it has free slots): one UPDATE either way, so a
     * task the worker runs gets one new row version for both steps (tasks has eight indexes and
     * a status change is never a HOT update). A started row gets what startAssigned gives it — an
     * attempt, a fresh lease, progress reset. Every row comes with its agent as `runner` (a
     * started one is a StartedTask as it is); an assigned one's lease is its claim deadline.
     */
    async markAssigned(
      tx: Tx,
      pairs: ReadonlyArray<{ taskId: string; agentId: string; start?: boolean }>,
      leaseS: number,
    ): Promise<Array<StartedTask & { startedNow: boolean }>> {
      if (pairs.length === 0) return [];
      const result = await rows(
        tx,
        sql`update tasks t set status = case when u.start then 'running' else 'assigned' end, agent_id = u.agent_id,
                   assigned_at = statement_timestamp(), updated_at = statement_timestamp(),
                   attempts = t.attempts + case when u.start then 1 else 0 end,
                   started_at = case when u.start then statement_timestamp() else t.started_at end,
                   progress = case when u.start then 0 else t.progress end,
                   message = case when u.start then null else t.message end,
                   lease_token = case when u.start then gen_random_uuid() end,
                   lease_expires_at = statement_timestamp() + make_interval(secs => ${leaseS})
            from unnest(${pgArray(pairs.map((p) => p.taskId))}::uuid[], ${pgArray(pairs.map((p) => p.agentId))}::uuid[],
                        ${pgArray(pairs.map((p) => (p.start ? 'true' : 'false')))}::boolean[]) as u(task_id, agent_id, start)
                 join agents a on a.id = u.agent_id
            where t.id = u.task_id and t.status = 'queued'
            returning t.*, u.start as started_now, a.name as runner_name, a.personality as runner_personality, a.agent_type as runner_type`,
      );
      return result.map((r) => ({
        ...rawToTask(r),
        runner: { name: r.runner_name as string, personality: r.runner_personality as string, agentType: r.runner_type as string },
        startedNow: r.started_now === true,
      }));
    },

    /**
     * Whether a worker round could have anything to do: a runnable queued task (for any agent;
     * the dispatcher's own read, so the same rules and the same index scan) or an assigned task
     * waiting to be started by an agent of these types. One statement, no transaction, no lock —
     * a worker that found nothing last time asks this before a round.
     */
    async hasWork(agentTypes: string[]): Promise<boolean> {
      const [r] = await rows(
        db,
        sql`select exists(select 1 from agentvm_runnable_tasks(1))
                or exists(select 1 from tasks t join agents a on a.id = t.agent_id
                          where t.status = 'assigned' and a.agent_type = any(${pgArray(agentTypes)}::text[])) as ok`,
      );
      return r?.ok === true;
    },

    /** The agent, and whether a task waits for it to start (status assigned): one read for a claim. */
    async findAgentForClaim(agentId: string): Promise<(AgentRow & { hasAssigned: boolean }) | undefined> {
      const [row] = await db
        .select({
          ...getTableColumns(agents),
          hasAssigned: sql<boolean>`exists(select 1 from tasks where tasks.agent_id = agents.id and tasks.status = 'assigned')`,
        })
        .from(agents)
        .where(eq(agents.id, agentId))
        .limit(1);
      return row;
    },

    /**
     * A claim's start in one statement (Postgres; migration 0005, redefined in 0008 on top of
     * agentvm_task_started, which the dispatch round shares): the agent's first assigned task
     * goes running under a fresh lease, the agent busy, task.started (and agent.state_changed)
     * staged. 'team': a subtask, left unchanged for the transaction.
     */
    async claimAssigned(
      agentId: string,
      leaseS: number,
      actor: string | null,
    ): Promise<{ outcome: 'started' | 'none' | 'team'; task: TaskRow | null }> {
      const [row] = await rows(db, sql`select outcome, task from agentvm_claim_assigned(${agentId}::uuid, ${leaseS}::int, ${actor}::uuid)`);
      return claimOutcome<'started' | 'none' | 'team'>(row, 'none');
    },

    /**
     * A claim's first statement (Postgres; migrations 0011, 0016): when the key sees the agent
     * and its type is one of `freshMs`'s (external), the agent is touched if not seen within
     * freshMs[type] ms and brought back if offline (staging its agent.state_changed: then a
     * 'none' is 'touched'), and the claim of agentvm_claim_assigned follows; otherwise 'check'
     * with nothing changed (the caller's 404 or 409, the long way).
     */
    async claimChecked(
      agentId: string,
      leaseS: number,
      actor: { keyId: string | null; gameId: string | null },
      freshMs: Record<string, number>,
    ): Promise<{ outcome: 'started' | 'none' | 'touched' | 'team' | 'check'; task: TaskRow | null }> {
      const [row] = await rows(
        db,
        sql`select outcome, task from agentvm_claim_checked(${agentId}::uuid, ${leaseS}::int, ${actor.keyId}::uuid,
              ${actor.gameId}::text, ${actor.gameId === null}::boolean, ${JSON.stringify(freshMs)}::jsonb)`,
      );
      return claimOutcome<'started' | 'none' | 'touched' | 'team' | 'check'>(row, 'check');
    },

    /**
     * A whole dispatch round in one statement (Postgres; migration 0008): waits for the
     * dispatch lock, starts tasks already assigned to agents of `startTypes`, assigns the queue
     * by chooseAgent's rules, starts what it gives those agents (up to `startLimit` in all),
     * makes their agents busy and stages the events. `teamWaiting`: an assigned subtask waits
     * for one of those agents (start it in a transaction, which also updates its parent).
     * `claims` (migration 0009): agents with a claim waiting in this process → the claim's key
     * id; the first task the round gives one of them starts at once and comes back in `claimed`
     * (also in `assigned`).
     */
    async dispatchRound(round: {
      batch: number;
      lock: number;
      capacity: Record<string, number>;
      startTypes: string[];
      startLimit: number;
      leaseS: number;
      claims?: ReadonlyMap<string, string | null>;
    }): Promise<{
      assigned: TaskRow[];
      started: Array<StartedTask & { startedNow: boolean }>;
      claimed: TaskRow[];
      teamWaiting: boolean;
    }> {
      const claims = JSON.stringify(Object.fromEntries(round.claims ?? []));
      const result = await rows(
        db,
        sql`select kind, task, runner_name, runner_personality, runner_type
            from agentvm_dispatch_round(${round.batch}::int, ${round.lock}::bigint, ${JSON.stringify(round.capacity)}::jsonb,
                                        ${pgTextArray(round.startTypes)}::text[], ${round.startLimit}::int, ${round.leaseS}::int,
                                        ${claims}::jsonb)`,
      );
      const out = {
        assigned: [] as TaskRow[],
        started: [] as Array<StartedTask & { startedNow: boolean }>,
        claimed: [] as TaskRow[],
        teamWaiting: false,
      };
      for (const r of result) {
        if (r.kind === 'team') {
          out.teamWaiting = true;
          continue;
        }
        const row = rawToTask(r.task as Record<string, unknown>);
        if (r.kind === 'assigned' || r.kind === 'claimed') {
          out.assigned.push(row);
          if (r.kind === 'claimed') out.claimed.push(row);
          continue;
        }
        const started = {
          ...row,
          runner: { name: r.runner_name as string, personality: r.runner_personality as string, agentType: r.runner_type as string },
          startedNow: r.kind === 'assigned_started',
        };
        if (started.startedNow) out.assigned.push(row);
        out.started.push(started);
      }
      return out;
    },

    /**
     * assigned → running for tasks of these agent types (built-in worker) or of one agent
     * (external runtime's claim); a fresh lease token each. SKIP LOCKED: two workers never
     * start the same task.
     */
    async startAssigned(tx: Tx, by: { agentTypes: string[] } | { agentId: string }, limit: number, leaseS: number): Promise<StartedTask[]> {
      const filter = 'agentId' in by ? sql`t2.agent_id = ${by.agentId}` : sql`a.agent_type = any(${pgArray(by.agentTypes)}::text[])`;
      const result = await rows(
        tx,
        sql`update tasks t set status = 'running', attempts = t.attempts + 1, started_at = statement_timestamp(), updated_at = statement_timestamp(),
                   progress = 0, message = null, lease_token = gen_random_uuid(),
                   lease_expires_at = statement_timestamp() + make_interval(secs => ${leaseS})
            from (select t2.id, a.name as runner_name, a.personality as runner_personality, a.agent_type as runner_type
                  from tasks t2 join agents a on a.id = t2.agent_id
                  where t2.status = 'assigned' and ${filter}
                  order by t2.priority desc nulls last, t2.assigned_at, t2.id
                  limit ${limit}
                  for update of t2 skip locked) s
            where t.id = s.id
            returning t.*, s.runner_name, s.runner_personality, s.runner_type`,
      );
      return result.map((r) => ({
        ...rawToTask(r),
        runner: { name: r.runner_name as string, personality: r.runner_personality as string, agentType: r.runner_type as string },
      }));
    },

    /**
     * The agents of tasks that just started become busy with them, in one statement for the
     * batch: each agent's row is locked (in id order, like every multi-row lock here) and updated
     * unless it is offline/error or already in exactly this state. Returns, per agent, the state
     * before and whether the row was updated; an agent that is gone has no entry. One entry per
     * agent: the caller passes each agent once.
     */
    async markBusy(
      tx: Tx,
      items: ReadonlyArray<{ agentId: string; activity: string; activityDetail: string; taskId: string }>,
    ): Promise<Map<string, BusyChange>> {
      const out = new Map<string, BusyChange>();
      if (items.length === 0) return out;
      const result = await rows(
        tx,
        sql`with input as (
              select * from unnest(${pgArray(items.map((i) => i.agentId))}::uuid[], ${pgArray(items.map((i) => i.taskId))}::uuid[],
                                   ${pgTextArray(items.map((i) => i.activity))}::text[], ${pgTextArray(items.map((i) => i.activityDetail))}::text[])
                       as i(agent_id, task_id, activity, detail)
            ), prev as (
              select a.id, a.game_id, a.status, a.activity, a.activity_detail, a.current_task_id,
                     i.task_id as next_task, i.activity as next_activity, i.detail as next_detail
              from agents a join input i on i.agent_id = a.id
              order by a.id
              for update of a
            ), upd as (
              update agents a set status = 'busy', activity = prev.next_activity, activity_detail = prev.next_detail,
                     current_task_id = prev.next_task, updated_at = statement_timestamp(), version = a.version + 1
              from prev
              where a.id = prev.id and prev.status not in ('offline', 'error')
                and (prev.status, prev.activity, prev.activity_detail, prev.current_task_id)
                    is distinct from ('busy'::text, prev.next_activity, prev.next_detail, prev.next_task)
              returning a.id
            )
            select prev.id, prev.game_id, prev.status, prev.activity, prev.activity_detail, prev.current_task_id,
                   exists(select 1 from upd where upd.id = prev.id) as updated
            from prev`,
      );
      for (const r of result) {
        out.set(r.id as string, {
          before: {
            id: r.id as string,
            gameId: (r.game_id as string | null) ?? null,
            status: r.status as string,
            activity: (r.activity as string | null) ?? null,
            activityDetail: (r.activity_detail as string | null) ?? null,
            currentTaskId: (r.current_task_id as string | null) ?? null,
          },
          updated: r.updated === true,
        });
      }
      return out;
    },

    async heartbeat(
      tx: DbOrTx,
      id: string,
      token: string,
      leaseS: number,
      progress: number | undefined,
      message: string | null | undefined,
    ): Promise<TaskRow | undefined> {
      const result = await rows(
        tx,
        sql`update tasks set lease_expires_at = statement_timestamp() + make_interval(secs => ${leaseS}), updated_at = statement_timestamp(),
                   progress = coalesce(${progress ?? null}::real, progress),
                   message = case when ${message === undefined} then message else ${message ?? null} end
            where id = ${id} and status = 'running' and lease_token = ${token}
            returning *`,
      );
      return result[0] ? rawToTask(result[0]) : undefined;
    },

    async update(tx: Tx, id: string, set: Partial<typeof tasks.$inferInsert>): Promise<TaskRow> {
      const [row] = await tx
        .update(tasks)
        .set({ ...set, updatedAt: sql`statement_timestamp()` as unknown as Date })
        .where(eq(tasks.id, id))
        .returning();
      return row!;
    },

    /** Tasks whose lease (claim deadline or running lease) ran out, locked for this reaper. */
    async lockExpired(tx: Tx, limit: number): Promise<TaskRow[]> {
      const result = await rows(
        tx,
        sql`select * from tasks where status in ('assigned', 'running') and lease_expires_at < statement_timestamp()
            order by lease_expires_at limit ${limit} for update skip locked`,
      );
      return result.map(rawToTask);
    },

    async lockTimedOut(tx: Tx, limit: number): Promise<TaskRow[]> {
      const result = await rows(
        tx,
        sql`select * from tasks where status = 'running' and started_at + make_interval(secs => timeout_s) < statement_timestamp()
            order by started_at limit ${limit} for update skip locked`,
      );
      return result.map(rawToTask);
    },

    /** Open tasks that depend on any of these (to fail with dependency_failed). */
    async lockDependents(tx: Tx, ids: string[]): Promise<TaskRow[]> {
      if (ids.length === 0) return [];
      const result = await rows(
        tx,
        sql`select * from tasks where status in ('queued', 'assigned') and depends_on && ${pgArray(ids)}::uuid[] for update`,
      );
      return result.map(rawToTask);
    },

    async heldCount(tx: DbOrTx, agentId: string, exceptTaskId: string | null): Promise<{ running: string[]; assigned: number }> {
      const result = await rows(
        tx,
        sql`select id, status from tasks where agent_id = ${agentId} and status in ('assigned', 'running')
              and (${exceptTaskId}::uuid is null or id <> ${exceptTaskId}::uuid)
            order by started_at nulls last`,
      );
      return {
        running: result.filter((r) => r.status === 'running').map((r) => r.id as string),
        assigned: result.filter((r) => r.status === 'assigned').length,
      };
    },

    /** External agents not seen for their type's heartbeat timeout go offline; returns them with their previous status. */
    async markStaleOffline(tx: Tx, agentType: string, timeoutS: number): Promise<Array<{ agent: AgentRow; previousStatus: string }>> {
      const result = await rows(
        tx,
        sql`update agents a set status = 'offline', activity = null, activity_detail = null, updated_at = statement_timestamp(), version = a.version + 1
            from (select id, status as previous_status from agents
                  where agent_type = ${agentType} and status in ('idle', 'busy')
                    and coalesce(last_seen_at, created_at) < statement_timestamp() - make_interval(secs => ${timeoutS})
                  for update skip locked) o
            where a.id = o.id
            returning a.id, a.game_id, a.current_task_id, o.previous_status`,
      );
      return result.map((r) => ({
        agent: {
          id: r.id as string,
          gameId: (r.game_id as string | null) ?? null,
          currentTaskId: (r.current_task_id as string | null) ?? null,
        } as AgentRow,
        previousStatus: r.previous_status as string,
      }));
    },
  };
}

export type TasksRepository = ReturnType<typeof tasksRepository>;
