import { randomUUID } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../../config/schema.js';
import type { Activity, AgentStatus } from '../../contract/agents.js';
import type { AssignTaskBody, CollaborativeTaskBody, Priority, Task, TaskError, TaskStatus } from '../../contract/tasks.js';
import type { Database, DbOrTx, Tx } from '../../db/client.js';
import { agents, tasks, type AgentRow, type TaskRow } from '../../db/schema.js';
import type { EventBus } from '../../infra/bus.js';
import { assertVisible, resolveReadGame, resolveWriteGame, type Actor } from '../../lib/access.js';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { firstCharacters } from '../../lib/text.js';
import { decodeTimeKey, timeKeyCursor, toPage, type Page } from '../../lib/pagination.js';
import { OUTBOX_LOCK, publishVolatile, outboxFor, withEvents, type Emit, type Sequencer } from '../events/outbox.js';
import {
  aggregateParentStatus,
  backoffMs,
  chooseAgent,
  isEligible,
  isFinal,
  planAssignments,
  startActivity,
  type CandidateAgent,
  type QueuedTask,
} from './assignment.js';
import type { RoundClaims } from './claim-waiters.js';
import { priorityToInt, toTaskDto, toTaskStatusDto } from './tasks.mapper.js';
import { rawToTask, tasksRepository, type QueuedTaskValues, type StartedTask } from './tasks.repository.js';

/** Serializes dispatch across replicas and workers: assignment is one short transaction at a time. */
const DISPATCH_LOCK = 72_616_003;
/** Tasks considered per dispatch round. */
const DISPATCH_BATCH = 500;

export interface Lease {
  token: string;
  expires_at: string;
}

/** `background`: return at commit, events sequenced without waiting (see withEvents). */
export interface Sequencing {
  background?: boolean;
}

export interface ProgressInput {
  progress?: number | undefined;
  message?: string | null | undefined;
  activity?: Activity | null | undefined;
  activity_detail?: string | null | undefined;
}

export interface TasksServiceDeps {
  database: Database;
  bus: EventBus;
  config: Config;
  /** Claims waiting in this process (claim-waiters.ts): a dispatch round starts their tasks. */
  claims?: { reserve(): RoundClaims | null };
}

export type TasksService = ReturnType<typeof tasksService>;

export function tasksService(deps: TasksServiceDeps) {
  const { database, bus, config, claims } = deps;
  const repo = tasksRepository(database);
  const outbox = outboxFor(database, bus);
  const leaseS = config.tasks.lease_s;

  const typeCapacity = (agentType: string): number => config.agent_types[agentType]?.max_concurrency ?? 1;
  const knownTypes = () => Object.keys(config.agent_types);

  // ---------------------------------------------------------------- agent state

  /** Sets an agent's status/activity and emits agent.state_changed when either changes. */
  async function setAgentState(
    tx: Tx,
    emit: Emit,
    agent: AgentRow,
    next: { status?: AgentStatus; activity?: Activity | null; activityDetail?: string | null; currentTaskId?: string | null },
    /** A task of this agent ended: count it in the same UPDATE. */
    bump?: 'completed' | 'failed' | null,
  ): Promise<AgentRow> {
    const counter =
      bump === 'completed'
        ? { tasksCompleted: sql`${agents.tasksCompleted} + 1` as unknown as number }
        : bump === 'failed'
          ? { tasksFailed: sql`${agents.tasksFailed} + 1` as unknown as number }
          : {};
    const status = next.status ?? (agent.status as AgentStatus);
    const activity = next.activity !== undefined ? next.activity : (agent.activity as Activity | null);
    const activityDetail = next.activityDetail !== undefined ? next.activityDetail : agent.activityDetail;
    const currentTaskId = next.currentTaskId !== undefined ? next.currentTaskId : agent.currentTaskId;
    if (
      status === agent.status &&
      activity === agent.activity &&
      activityDetail === agent.activityDetail &&
      currentTaskId === agent.currentTaskId
    ) {
      if (!bump) return agent;
      const [counted] = await tx.update(agents).set(counter).where(eq(agents.id, agent.id)).returning();
      return counted ?? agent;
    }
    const becameIdle = status === 'idle' && agent.status !== 'idle';
    const [updated] = await tx
      .update(agents)
      .set({
        status,
        activity,
        activityDetail,
        currentTaskId,
        updatedAt: sql`statement_timestamp()` as unknown as Date,
        version: sql`${agents.version} + 1` as unknown as number,
        ...(becameIdle ? { idleSince: sql`statement_timestamp()` as unknown as Date } : {}),
        ...counter,
      })
      .where(eq(agents.id, agent.id))
      .returning();
    emitStateChanged(emit, agent, { status, activity, activityDetail, currentTaskId });
    return updated!;
  }

  /** agent.state_changed when status, activity or its detail differ from `before`. */
  function emitStateChanged(
    emit: Emit,
    before: Pick<AgentRow, 'id' | 'gameId' | 'status' | 'activity' | 'activityDetail'>,
    next: { status: AgentStatus; activity: Activity | null; activityDetail: string | null; currentTaskId: string | null },
  ): void {
    if (next.status === before.status && next.activity === before.activity && next.activityDetail === before.activityDetail) return;
    emit({
      type: 'agent.state_changed',
      gameId: before.gameId,
      agentId: before.id,
      taskId: next.currentTaskId,
      data: {
        agent_id: before.id,
        status: next.status,
        previous_status: before.status as AgentStatus,
        activity: next.activity,
        activity_detail: next.activityDetail,
        task_id: next.currentTaskId,
      },
    });
  }

  /**
   * After a task stops holding an agent: back to idle when it holds nothing else running,
   * counters updated. Offline/error agents stay so.
   */
  async function releaseAgent(
    tx: Tx,
    emit: Emit,
    agentId: string | null,
    taskId: string,
    outcome: 'completed' | 'failed' | null,
  ): Promise<void> {
    if (!agentId) return;
    const agent = await repo.lockAgent(tx, agentId);
    if (!agent) return;
    const held = await repo.heldCount(tx, agentId, taskId);
    // One UPDATE for the new state and the counter (they were two).
    if (agent.status === 'offline' || agent.status === 'error') {
      await setAgentState(tx, emit, agent, agent.currentTaskId === taskId ? { currentTaskId: held.running[0] ?? null } : {}, outcome);
    } else if (held.running.length === 0) {
      await setAgentState(tx, emit, agent, { status: 'idle', activity: null, activityDetail: null, currentTaskId: null }, outcome);
    } else {
      await setAgentState(tx, emit, agent, agent.currentTaskId === taskId ? { currentTaskId: held.running[0]! } : {}, outcome);
    }
  }

  // ---------------------------------------------------------------- finishing

  /** Fails queued dependents of failed/cancelled tasks, transitively. */
  async function cascadeDependencyFailure(tx: Tx, emit: Emit, failedIds: string[]): Promise<void> {
    let frontier = failedIds;
    while (frontier.length > 0) {
      const dependents = await repo.lockDependents(tx, frontier);
      const next: string[] = [];
      for (const dep of dependents) {
        const cause = dep.dependsOn.find((d) => frontier.includes(d)) ?? frontier[0]!;
        const error: TaskError = { code: 'dependency_failed', message: `dependency ${cause} did not complete`, dependency_id: cause };
        await finishTask(tx, emit, dep, 'failed', { error });
        next.push(dep.id);
      }
      frontier = next;
    }
  }

  /** Marks a task final, emits its event, releases its agent and updates its parent/dependents. */
  async function finishTask(
    tx: Tx,
    emit: Emit,
    row: TaskRow,
    status: 'completed' | 'failed' | 'cancelled',
    outcome: { result?: unknown; error?: TaskError; reason?: string },
  ): Promise<TaskRow> {
    const updated = await repo.update(tx, row.id, {
      status,
      finishedAt: sql`statement_timestamp()` as unknown as Date,
      leaseToken: null,
      leaseExpiresAt: null,
      ...(status === 'completed' ? { progress: 1, result: outcome.result ?? null, error: null } : {}),
      ...(status === 'failed' ? { error: outcome.error ?? null } : {}),
      ...(status === 'cancelled'
        ? { error: { code: 'cancelled', message: `cancelled: ${outcome.reason ?? 'cancelled'}`, reason: outcome.reason ?? 'cancelled' } }
        : {}),
    });
    const durationMs = row.startedAt ? Date.now() - row.startedAt.getTime() : null;
    const agentId = row.status === 'queued' && !row.targeted ? null : row.agentId;
    if (status === 'completed') {
      emit({
        type: 'task.completed',
        gameId: row.gameId,
        agentId,
        taskId: row.id,
        data: { task_id: row.id, agent_id: agentId, result: outcome.result ?? null, duration_ms: durationMs },
      });
    } else if (status === 'failed') {
      emit({
        type: 'task.failed',
        gameId: row.gameId,
        agentId,
        taskId: row.id,
        data: { task_id: row.id, agent_id: agentId, error: outcome.error!, attempt: row.attempts, will_retry: false, run_after: null },
      });
    } else {
      emit({
        type: 'task.cancelled',
        gameId: row.gameId,
        agentId,
        taskId: row.id,
        data: { task_id: row.id, agent_id: agentId, reason: outcome.reason ?? 'cancelled' },
      });
    }
    const held = row.status === 'assigned' || row.status === 'running';
    if (held && row.teamSize === null) await releaseAgent(tx, emit, row.agentId, row.id, status === 'cancelled' ? null : status);
    if (status !== 'completed') await cascadeDependencyFailure(tx, emit, [row.id]);
    if (row.teamSize !== null && status !== 'completed') await cancelOpenSubtasks(tx, emit, row.id, `parent_${status}`);
    if (row.parentId) await updateParent(tx, emit, row.parentId, row.id);
    return updated;
  }

  async function cancelOpenSubtasks(tx: Tx, emit: Emit, parentId: string, reason: string): Promise<void> {
    const subtasks = await repo.subtasks(tx, parentId);
    for (const sub of subtasks) {
      if (isFinal(sub.status)) continue;
      const locked = await repo.lockById(tx, sub.id);
      if (locked && !isFinal(locked.status)) await finishTask(tx, emit, { ...locked, parentId: null }, 'cancelled', { reason });
    }
  }

  /** The parent of a collaborative task follows its subtasks (DESIGN.md: running / completed / failed). */
  async function updateParent(tx: Tx, emit: Emit, parentId: string, changedSubtaskId: string): Promise<void> {
    const parent = await repo.lockById(tx, parentId);
    if (!parent || isFinal(parent.status)) return;
    const subtasks = await repo.subtasks(tx, parentId);
    const next = aggregateParentStatus(subtasks.map((s) => s.status as TaskStatus));
    const progress = subtasks.length
      ? subtasks.reduce((sum, s) => sum + (s.status === 'completed' ? 1 : s.progress), 0) / subtasks.length
      : 0;
    if (next === 'completed') {
      const result = { subtasks: subtasks.map((s) => ({ task_id: s.id, agent_id: s.agentId, result: s.result })) };
      await finishTask(tx, emit, parent, 'completed', { result });
    } else if (next === 'failed') {
      const culprit =
        subtasks.find((s) => s.status === 'failed' || s.status === 'cancelled') ?? subtasks.find((s) => s.id === changedSubtaskId);
      const error: TaskError = {
        code: culprit?.status === 'cancelled' ? 'subtask_cancelled' : 'subtask_failed',
        message: `subtask ${culprit?.id ?? changedSubtaskId} ${culprit?.status ?? 'failed'}; the rest of the team was cancelled`,
        subtask_id: culprit?.id ?? changedSubtaskId,
      };
      await finishTask(tx, emit, parent, 'failed', { error });
    } else if (next === 'running' && parent.status !== 'running') {
      const starter = subtasks.find((s) => s.status === 'running');
      await repo.update(tx, parent.id, { status: 'running', startedAt: sql`statement_timestamp()` as unknown as Date, progress });
      emit({
        type: 'task.started',
        gameId: parent.gameId,
        agentId: starter?.agentId ?? null,
        taskId: parent.id,
        data: { task_id: parent.id, agent_id: starter?.agentId ?? subtasks[0]!.agentId!, attempt: 1, activity: 'collaborating' },
      });
    } else if (progress !== parent.progress) {
      await repo.update(tx, parent.id, { progress });
    }
  }

  // ---------------------------------------------------------------- creation

  function resolveDescription(body: { description?: string | undefined; prompt?: string | undefined }): string {
    const text = body.description ?? body.prompt;
    if (!text) throw new ValidationError('description', 'Required (or send prompt)');
    return text;
  }

  function checkType(field: string, type: string | undefined): string | null {
    if (type === undefined) return null;
    if (!(type in config.agent_types))
      throw new ValidationError(field, `unknown agent type "${type}"; configured types: ${knownTypes().join(', ')}`);
    return type;
  }

  async function loadDependencies(tx: Tx, actor: Actor, ids: string[]): Promise<TaskRow[]> {
    const unique = [...new Set(ids)];
    const found = await repo.findMany(unique, tx);
    for (const id of unique) {
      const row = found.find((r) => r.id === id);
      if (!row || (actor.gameId !== null && row.gameId !== actor.gameId)) throw new ValidationError('depends_on', `task ${id} not found`);
    }
    return found;
  }

  async function resolveTarget(tx: DbOrTx, actor: Actor, agentId: string | undefined, requestedGame: string | undefined) {
    let gameId = resolveWriteGame(actor, requestedGame);
    if (!agentId) return { gameId, agent: null };
    const agent = await repo.findAgent(tx, agentId);
    if (!agent || (actor.gameId !== null && agent.gameId !== actor.gameId))
      throw new ValidationError('agent_id', `agent ${agentId} not found`);
    if (requestedGame !== undefined && agent.gameId !== requestedGame) {
      throw new ValidationError('game_id', `agent ${agentId} is in game ${agent.gameId ?? '(none)'}, not ${requestedGame}`);
    }
    gameId = agent.gameId;
    return { gameId, agent };
  }

  function baseValues(body: AssignTaskBody | CollaborativeTaskBody, actor: Actor, description: string) {
    return {
      description,
      taskType: body.task_type ?? 'general',
      status: 'queued' as const,
      priority: priorityToInt((body.priority as Priority | undefined) ?? 'normal'),
      requiredCapabilities: [...new Set(body.required_capabilities ?? [])],
      timeoutS: body.timeout_s ?? Math.round(config.tasks.default_timeout_s),
      maxAttempts: body.max_attempts ?? config.tasks.default_max_attempts,
      metadata: body.metadata ?? {},
      createdBy: actor.keyId === '00000000-0000-0000-0000-000000000000' ? null : actor.keyId,
    };
  }

  /**
   * In-process listeners told as soon as a task is committed to the queue, before its
   * task.created is sequenced and comes back over the bus: the embedded worker starts its
   * dispatch round a sequencing round and a Redis round trip earlier.
   */
  const queuedListeners = new Set<() => void>();
  function notifyQueued(): void {
    for (const listener of queuedListeners) listener();
  }

  /**
   * In-process listeners told which agents a dispatch round of this process gave a task, at
   * its commit: a long-polling claim of such an agent can start the task at once instead of
   * waiting for task.assigned to be sequenced and come back over the bus (a sequencing round
   * takes 20–40 ms when the machine is busy).
   */
  const assignedListeners = new Set<(agentIds: string[]) => void>();
  function notifyAssigned(agentIds: string[]): void {
    if (agentIds.length === 0) return;
    for (const listener of assignedListeners) listener(agentIds);
  }

  /**
   * Transactions of this process that hold or try the dispatch lock, from before BEGIN to after
   * COMMIT: dispatch rounds (worker, shared claim rounds) and creates that try to assign inline.
   */
  let dispatchLockUsers = 0;
  async function holdingDispatch<T>(fn: () => Promise<T>): Promise<T> {
    dispatchLockUsers += 1;
    try {
      return await fn();
    } finally {
      dispatchLockUsers -= 1;
    }
  }

  /**
   * `inlineDispatch`: try to assign the new task as it is created (the default when no
   * transaction of this process holds or tries the dispatch lock; one that does would make the
   * try fail anyway). On Postgres a task without dependencies is one statement either way
   * (migration 0017: the INSERT, its task.created, the try when inline, the events moved into the
   * log when nothing else is sequencing); without the try, the round under way or the next one
   * (poked at once) hands it out. With dependencies, and on PGlite, a transaction. The lock stays
   * the rule: another replica's round is not seen here, and the try then fails as before.
   */
  async function create(body: AssignTaskBody, actor: Actor, options: { inlineDispatch?: boolean } = {}): Promise<Task> {
    const description = resolveDescription(body);
    const agentType = checkType('preferred_type', body.preferred_type);
    const values = ({ gameId, agent }: Awaited<ReturnType<typeof resolveTarget>>): QueuedTaskValues => ({
      id: newId(),
      ...baseValues(body, actor, description),
      agentId: agent?.id ?? null,
      targeted: agent !== null,
      agentType: agent ? agent.agentType : agentType,
      gameId,
    });
    const inline = options.inlineDispatch ?? dispatchLockUsers === 0;
    if (outbox.sequencer && (body.depends_on ?? []).length === 0) {
      // One statement (migration 0017): the INSERT and its task.created, a dispatch round when
      // `inline` and the lock is free (the transaction below was seven round trips for the same),
      // and the move of its events into the log when no sequencing round runs here and the outbox
      // lock is free — the answer then waits for their publish, not for a round.
      const sequencer = outbox.sequencer;
      const target = await resolveTarget(database.db, actor, body.agent_id, body.game_id);
      const insert = () =>
        repo.insertQueued(
          values(target),
          actor.keyId,
          { dispatch: inline, batch: DISPATCH_BATCH, lock: DISPATCH_LOCK, capacity: capacities, leaseS },
          { lock: OUTBOX_LOCK, limit: sequencer.inlineLimit() },
        );
      const { row, assigned, moved } = inline ? await holdingDispatch(insert) : await insert();
      notifyAssigned(assigned.map((r) => r.agentId!));
      notifyQueued();
      const own = moved.length > 0 ? sequencer.publishMoved(moved) : null;
      // Like any request's events: answered once they are in the log (the caller may read them).
      if (own && !own.full) await own.published;
      else await sequencer.sequence();
      return toTaskDto(row);
    }
    let assignedTo: string[] = [];
    const { result } = await holdingDispatch(() =>
      withEvents(
        outbox,
        actor.keyId,
        async (tx, emit) => {
          const target = await resolveTarget(tx, actor, body.agent_id, body.game_id);
          const deps = await loadDependencies(tx, actor, body.depends_on ?? []);
          const [row] = await repo.insert(tx, [{ ...values(target), dependsOn: deps.map((d) => d.id) }]);
          emit({ type: 'task.created', gameId: row!.gameId, agentId: row!.agentId, taskId: row!.id, data: { task: toTaskDto(row!) } });
          const broken = deps.find((d) => d.status === 'failed' || d.status === 'cancelled');
          if (broken) {
            return finishTask(tx, emit, row!, 'failed', {
              error: { code: 'dependency_failed', message: `dependency ${broken.id} is ${broken.status}`, dependency_id: broken.id },
            });
          }
          // Assign it (and whatever else is runnable) in this transaction when no other round
          // is running: task.assigned then commits and is sequenced with task.created, instead of
          // a worker round starting after this commit (create → task.assigned p50 16 ms at 20
          // tasks/s before). When a round holds the lock, that round or the next one — poked at
          // this commit — hands it out. The 201 still shows the task as created (queued).
          if (deps.every((d) => d.status === 'completed')) assignedTo = await dispatchIn(tx, emit, { wait: false });
          return row!;
        },
        {
          afterCommit: () => {
            notifyAssigned(assignedTo);
            notifyQueued();
          },
        },
      ),
    );
    return toTaskDto(result);
  }

  async function createCollaborative(body: CollaborativeTaskBody, actor: Actor): Promise<Task & { subtasks: Task[] }> {
    const description = resolveDescription(body);
    const agentType = checkType('preferred_type', body.preferred_type);
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      const gameId = resolveWriteGame(actor, body.game_id);
      const deps = await loadDependencies(tx, actor, body.depends_on ?? []);
      const required = [...new Set(body.required_capabilities ?? [])];
      // The team: distinct eligible agents, least loaded then longest idle (the assignment rule).
      const candidates = (await repo.candidates(tx, gameId === null ? [] : [gameId], gameId === null, [])).map((a) => ({
        ...a,
        capacity: typeCapacity(a.agentType),
      }));
      const probe: QueuedTask = { id: 'team', agentId: null, targeted: false, agentType, gameId, requiredCapabilities: required };
      const team: CandidateAgent[] = [];
      for (let i = 0; i < body.team_size; i++) {
        const chosen = chooseAgent({ ...probe, excludeAgents: new Set(team.map((a) => a.id)) }, candidates);
        if (!chosen) break;
        team.push(chosen);
      }
      if (team.length < body.team_size) {
        const eligible = candidates.filter((a) => isEligible({ ...a, load: 0 }, probe)).length;
        throw new ConflictError(
          `team_size: ${body.team_size} agents needed but ${team.length} are available now (${eligible} eligible in game ${gameId ?? '(none)'}${
            required.length ? ` with ${required.join(', ')}` : ''
          }${agentType ? ` of type ${agentType}` : ''}); create more agents or lower team_size`,
          'insufficient_agents',
          [{ field: 'team_size', message: 'not enough eligible agents', available: team.length, eligible }],
        );
      }
      const base = baseValues(body, actor, description);
      const parentId = newId();
      const [parent] = await repo.insert(tx, [
        { id: parentId, ...base, agentType, gameId, teamSize: body.team_size, dependsOn: deps.map((d) => d.id) },
      ]);
      const subtasks = await repo.insert(
        tx,
        team.map((member, i) => ({
          id: newId(),
          ...base,
          metadata: { ...base.metadata, part: i + 1, team_size: body.team_size },
          agentId: member.id,
          targeted: true,
          agentType: member.agentType,
          gameId,
          parentId,
          dependsOn: deps.map((d) => d.id),
        })),
      );
      emit({ type: 'task.created', gameId, agentId: null, taskId: parentId, data: { task: toTaskDto(parent!) } });
      for (const sub of subtasks)
        emit({ type: 'task.created', gameId, agentId: sub.agentId, taskId: sub.id, data: { task: toTaskDto(sub) } });
      const broken = deps.find((d) => d.status === 'failed' || d.status === 'cancelled');
      if (broken) {
        const failed = await finishTask(tx, emit, parent!, 'failed', {
          error: { code: 'dependency_failed', message: `dependency ${broken.id} is ${broken.status}`, dependency_id: broken.id },
        });
        return { parent: failed, subtasks: await repo.subtasks(tx, parentId) };
      }
      return { parent: parent!, subtasks };
    });
    return { ...toTaskDto(result.parent), subtasks: result.subtasks.map(toTaskDto) };
  }

  // ---------------------------------------------------------------- reads

  async function getRow(id: string, actor: Actor): Promise<TaskRow> {
    return assertVisible(actor, await repo.findById(id), 'task', id);
  }

  async function list(
    query: {
      status?: string | undefined;
      agent_id?: string | undefined;
      game_id?: string | undefined;
      parent_id?: string | undefined;
      task_type?: string | undefined;
      limit: number;
      cursor?: string | undefined;
    },
    actor: Actor,
  ): Promise<Page<Task>> {
    const game = resolveReadGame(actor, query.game_id);
    if (game.empty) return { items: [], next_cursor: null };
    const after = decodeTimeKey(query.cursor);
    const rows = await repo.list({
      status: query.status,
      agentId: query.agent_id,
      gameId: game.gameId,
      parentId: query.parent_id,
      taskType: query.task_type,
      limit: query.limit,
      after,
    });
    return toPage(rows, query.limit, toTaskDto, timeKeyCursor);
  }

  // ---------------------------------------------------------------- cancel

  async function cancel(id: string, actor: Actor, reason = 'cancelled_by_user'): Promise<Task> {
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      const row = assertVisible(actor, await repo.lockById(tx, id), 'task', id);
      if (isFinal(row.status))
        throw new ConflictError(`task ${id} is already ${row.status}; only queued, assigned or running tasks can be cancelled`);
      return finishTask(tx, emit, row, 'cancelled', { reason });
    });
    return toTaskDto(result);
  }

  // ---------------------------------------------------------------- engine

  /**
   * One dispatch round: hands runnable queued tasks to agents. Rounds run one at a time across
   * all replicas and workers (an advisory lock), which keeps per-agent concurrency exact without
   * locking agent rows. A round waits its turn rather than skipping when another holds the
   * lock: that one may have read the queue before a new task was committed, and a skipped round
   * left the task waiting for the next event or poll (runtime-protocol assignment p99 ~60 ms
   * by the database's clocks at 20 tasks/s). On Postgres one statement (dispatchRound). Returns how
   * many were assigned.
   */
  async function dispatch(): Promise<number> {
    if (outbox.sequencer) return (await dispatchRound(outbox.sequencer, [], 0)).assigned.length;
    const { result } = await holdingDispatch(() =>
      withEvents(outbox, null, (tx, emit) => dispatchIn(tx, emit), {
        background: true,
        afterCommit: notifyAssigned,
      }),
    );
    return result.length;
  }

  /**
   * The dispatch round inside an open transaction (see dispatch); call it before any row lock
   * that a round could wait for. Returns the agents that got a task. With `wait: false` it
   * runs only if no other round holds the lock (and returns [] otherwise). `start` (the built-in
   * worker's round): up to `limit` tasks given to agents of `agentTypes` start at once, in queue
   * order, and are added to `started` (their task.started and busy agents are the caller's).
   */
  async function dispatchIn(
    tx: Tx,
    emit: Emit,
    { wait = true, start }: { wait?: boolean; start?: { agentTypes: ReadonlySet<string>; limit: number; started: StartedTask[] } } = {},
  ): Promise<string[]> {
    // A waiting round takes the lock before it reads the queue (its read then sees every task
    // committed while it waited); a round that never waits tries the lock in its read. Either
    // way one statement (migration 0006 for the waiting one).
    const queued = await repo.runnable(tx, DISPATCH_BATCH, wait ? { waitLock: DISPATCH_LOCK } : { tryLock: DISPATCH_LOCK });
    if (queued.length === 0) return [];
    const games = [...new Set(queued.map((t) => t.gameId).filter((g): g is string => g !== null))];
    const targets = [...new Set(queued.filter((t) => t.targeted && t.agentId).map((t) => t.agentId!))];
    const candidates: CandidateAgent[] = (
      await repo.candidates(
        tx,
        games,
        queued.some((t) => t.gameId === null),
        targets,
      )
    ).map((a) => ({
      ...a,
      capacity: typeCapacity(a.agentType),
    }));
    let startable = start?.limit ?? 0;
    const pairs = planAssignments(queued, candidates).map(({ task, agent }) => {
      const startNow = startable > 0 && start!.agentTypes.has(agent.agentType);
      if (startNow) startable--;
      return { taskId: task.id, agentId: agent.id, start: startNow };
    });
    const assigned = await repo.markAssigned(tx, pairs, leaseS);
    for (const row of assigned) {
      // A task started in the same update already counts its attempt.
      const attempt = row.startedNow ? row.attempts : row.attempts + 1;
      emit({
        type: 'task.assigned',
        gameId: row.gameId,
        agentId: row.agentId,
        taskId: row.id,
        data: { task_id: row.id, agent_id: row.agentId!, attempt, lease_expires_at: row.leaseExpiresAt!.toISOString() },
      });
      if (row.startedNow) start!.started.push(row);
    }
    return assigned.map((row) => row.agentId!);
  }

  /**
   * Emits task.started and makes the agents busy for tasks that just went assigned → running:
   * one statement for the whole batch (it was one per task, inside the dispatch lock). An agent
   * that runs several tasks at once may start two in one round; its later ones go in a further
   * statement, in order, so it ends busy with the last one as before.
   */
  async function afterStart(tx: Tx, emit: Emit, started: TaskRow[]): Promise<void> {
    let rest = started;
    while (rest.length > 0) {
      const batch: TaskRow[] = [];
      const later: TaskRow[] = [];
      const seen = new Set<string>();
      for (const row of rest) {
        if (seen.has(row.agentId!)) later.push(row);
        else {
          seen.add(row.agentId!);
          batch.push(row);
        }
      }
      const next = batch.map((row) => ({
        agentId: row.agentId!,
        taskId: row.id,
        activity: startActivity(row),
        // By characters, like left() in agentvm_task_started (migration 0008).
        activityDetail: firstCharacters(row.description, 200),
      }));
      const changes = await repo.markBusy(tx, next);
      for (const [i, row] of batch.entries()) {
        const { activity, activityDetail } = next[i]!;
        emit({
          type: 'task.started',
          gameId: row.gameId,
          agentId: row.agentId,
          taskId: row.id,
          data: { task_id: row.id, agent_id: row.agentId!, attempt: row.attempts, activity },
        });
        const busy = changes.get(row.agentId!);
        if (busy?.updated) emitStateChanged(emit, busy.before, { status: 'busy', activity, activityDetail, currentTaskId: row.id });
        if (row.parentId) await updateParent(tx, emit, row.parentId, row.id);
      }
      rest = later;
    }
  }

  /**
   * The built-in worker's round: the start of tasks already assigned to its agent types, then a
   * dispatch round whose tasks for those types start in the update that assigns them, each under
   * a lease, up to `limit` in all. Events: task.assigned of the new ones, then task.started (and
   * agent.state_changed) of each started one, in one commit. On Postgres the whole round is one
   * statement (dispatchRound); a subtask waiting for one of these agents then still starts in
   * the transaction, which also updates its parent.
   */
  async function dispatchAndStart(agentTypes: string[], limit: number): Promise<{ assigned: number; started: StartedTask[] }> {
    if (outbox.sequencer) {
      const round = await dispatchRound(outbox.sequencer, agentTypes, limit);
      const started: StartedTask[] = round.started;
      let assigned = round.assigned.length;
      // A subtask waits for one of this worker's agents: its start also updates the parent.
      if (round.teamWaiting && limit > started.length) {
        const more = await dispatchAndStartIn(agentTypes, limit - started.length);
        assigned += more.assigned;
        started.push(...more.started);
      }
      return { assigned, started };
    }
    return dispatchAndStartIn(agentTypes, limit);
  }

  /** Capacity per agent type for the round's function (a type not named there gets 1, as typeCapacity). */
  const capacities: Record<string, number> = Object.fromEntries(Object.keys(config.agent_types).map((type) => [type, typeCapacity(type)]));

  /**
   * A round of dispatch or dispatchAndStart as one statement on Postgres (migration 0008: the
   * rules of dispatchIn, chooseAgent and afterStart for tasks outside a team; a test compares its
   * choices with chooseAgent's). It was a transaction of eight round trips. Its events are staged
   * and sequenced after it commits, in the background like the transaction's. The claims waiting
   * in this process go with it (0009): the first task it gives one of their agents starts in it,
   * and the claim answers with it once the events are in the log.
   */
  async function dispatchRound(sequencer: Sequencer, agentTypes: string[], limit: number) {
    const waiting = claims?.reserve() ?? null;
    let round: Awaited<ReturnType<typeof repo.dispatchRound>>;
    try {
      round = await holdingDispatch(() =>
        repo.dispatchRound({
          batch: DISPATCH_BATCH,
          lock: DISPATCH_LOCK,
          capacity: capacities,
          startTypes: agentTypes,
          startLimit: limit,
          leaseS,
          ...(waiting ? { claims: waiting.agents } : {}),
        }),
      );
    } catch (err) {
      waiting?.settle([], Promise.resolve());
      throw err;
    }
    // A claim handed its task below needs no wake-up (it would try to start it again).
    const claimed = new Set(round.claimed.map((row) => row.id));
    notifyAssigned(round.assigned.filter((row) => !claimed.has(row.id)).map((row) => row.agentId!));
    const ready = round.assigned.length > 0 || round.started.length > 0 ? sequencer.sequence() : Promise.resolve();
    waiting?.settle(round.claimed, ready);
    return round;
  }

  /**
   * dispatchAndStart as one transaction (PGlite; on Postgres for a subtask, whose start also
   * updates its parent). Its first statement runs before the round waits for the dispatch lock:
   * the rows it locks are assigned tasks, and a round holding the lock only updates queued ones
   * and starts with SKIP LOCKED, so none waits for them while this one waits for the lock.
   */
  async function dispatchAndStartIn(agentTypes: string[], limit: number): Promise<{ assigned: number; started: StartedTask[] }> {
    const { result } = await holdingDispatch(() =>
      withEvents(
        outbox,
        null,
        async (tx, emit) => {
          // Tasks already assigned to this worker's agents (by a create, a claim's round or
          // another replica) start first, oldest assignment first; then the round assigns, and
          // what it gives this worker's agents starts in the same update, up to the free slots.
          const started = agentTypes.length > 0 && limit > 0 ? await repo.startAssigned(tx, { agentTypes }, limit, leaseS) : [];
          const fresh: StartedTask[] = [];
          const assignedTo = await dispatchIn(tx, emit, {
            start: { agentTypes: new Set(agentTypes), limit: limit - started.length, started: fresh },
          });
          started.push(...fresh);
          await afterStart(tx, emit, started);
          return { assignedTo, started };
        },
        { background: true, afterCommit: ({ assignedTo }) => notifyAssigned(assignedTo) },
      ),
    );
    return { assigned: result.assignedTo.length, started: result.started };
  }

  /**
   * Per agent type with an external runtime: how recently its agent must have been seen for a
   * claim to skip touching last_seen_at — a quarter of heartbeat_timeout_s, at most 10 s (the
   * reaper only looks once a whole timeout has passed). Also agentvm_claim_checked's p_fresh_ms.
   */
  const freshMs: Record<string, number> = Object.fromEntries(
    Object.entries(config.agent_types).flatMap(([name, type]) =>
      type.runtime === 'external' ? [[name, Math.min((type.heartbeat_timeout_s * 1000) / 4, 10_000)]] : [],
    ),
  );

  /**
   * Marks an agent's runtime as alive; an offline agent comes back idle. A runtime long-polls
   * /runtime/claim and is woken often, so the write is skipped while the agent is not offline
   * and was seen within a quarter of its type's heartbeat_timeout_s (at most 10 s): the reaper
   * only looks at last_seen_at once a whole timeout has passed.
   */
  async function touchAgent(agentId: string, actor: Actor): Promise<AgentRow & { hasAssigned: boolean }> {
    const row = await repo.findAgentForClaim(agentId);
    const seen = assertVisible(actor, row, 'agent', agentId);
    const fresh = freshMs[seen.agentType];
    if (seen.status !== 'offline' && seen.lastSeenAt && fresh !== undefined) {
      const age = Date.now() - seen.lastSeenAt.getTime();
      if (age >= 0 && age < fresh) return seen;
    }
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      const agent = assertVisible(actor, await repo.lockAgent(tx, agentId), 'agent', agentId);
      const [touched] = await tx
        .update(agents)
        .set({ lastSeenAt: sql`statement_timestamp()` as unknown as Date })
        .where(eq(agents.id, agentId))
        .returning();
      if (agent.status === 'offline') {
        const held = await repo.heldCount(tx, agentId, null);
        return setAgentState(tx, emit, touched!, { status: held.running.length ? 'busy' : 'idle' });
      }
      return touched!;
    });
    return { ...result, hasAssigned: seen.hasAssigned };
  }

  /**
   * A dispatch round that begins after the call, shared by every caller in this process that
   * arrives while one is under way. Each claim used to run its own round, waiting for the
   * dispatch lock: with 64 runtimes long-polling, claims queued behind each other's rounds and
   * assignment over the runtime protocol took ~100 ms at p50 at 20 tasks/s. Now at most one
   * round per replica waits for the lock, and it serves all claims that came in meanwhile.
   */
  let dispatching: Promise<number> | null = null;
  let nextDispatch: Promise<number> | null = null;
  function dispatchShared(): Promise<number> {
    if (!dispatching) {
      dispatching = dispatch().finally(() => {
        dispatching = null;
      });
      return dispatching;
    }
    nextDispatch ??= dispatching
      .catch(() => 0)
      .then(() => {
        nextDispatch = null;
        return dispatchShared();
      });
    return nextDispatch;
  }

  /**
   * External runtime: the next task for this agent, with a lease. A task already assigned to it
   * starts at once; otherwise a dispatch round runs first, unless `dispatch: false` (a waiting
   * claim in a replica whose embedded worker dispatches on every event that can free work).
   */
  async function claim(
    agentId: string,
    actor: Actor,
    options: { dispatch?: boolean; recheck?: boolean; published?: (done: Promise<void>) => void } = {},
  ): Promise<{ task: Task; lease: Lease } | null> {
    // `recheck` (only for a long-poll that leaves dispatch to the worker): the same request
    // checked and touched the agent a moment ago and was woken to try again, so only the start
    // is tried — one statement on Postgres — instead of reading the agent again first (about one
    // claim per task in the bench).
    let checked = options.recheck === true;
    let team = false;
    if (!checked && outbox.sequencer) {
      // Most claims: the agent read (and touched, or brought back online: migration 0016) and
      // the start of its assigned task in one statement.
      const quick = await repo.claimChecked(agentId, leaseS, actor, freshMs);
      if (quick.outcome === 'started') return sequencedReply(outbox.sequencer, quick.task!);
      if (quick.outcome !== 'check') {
        checked = true;
        team = quick.outcome === 'team';
        if (quick.outcome === 'none' || quick.outcome === 'touched') {
          // An agent back online: its agent.state_changed is staged. A claim that waits now
          // hands the publish to its caller, who answers after it (read-your-writes); one that
          // goes on reaches a sequencing wait below, or waits for this one before its null.
          const back = quick.outcome === 'touched' ? outbox.sequencer.sequence() : null;
          if (options.dispatch === false) {
            if (back) options.published?.(back);
            return null;
          }
          await dispatchShared();
          const claimed = await claimOwn(agentId, actor);
          if (!claimed) await back;
          return claimed;
        }
      }
    }
    if (!checked) {
      const agent = await touchAgent(agentId, actor);
      const typeConfig = config.agent_types[agent.agentType];
      if (typeConfig && typeConfig.runtime !== 'external') {
        throw new ConflictError(
          `agent ${agentId} is of type ${agent.agentType}, run by the built-in ${typeConfig.runtime} runtime; only external agents are claimed over the runtime protocol`,
        );
      }
      // Only an agent with nothing assigned waits for a dispatch round (that wait was most of a
      // claim's time under load).
      if (!agent.hasAssigned) {
        if (options.dispatch === false) return null;
        await dispatchShared();
      }
    }
    if (team) return startInTransaction(agentId, actor);
    return claimOwn(agentId, actor);
  }

  /** The start of a task already assigned to this agent, if any (the agent was checked). */
  async function claimOwn(agentId: string, actor: Actor): Promise<{ task: Task; lease: Lease } | null> {
    if (outbox.sequencer) {
      // One statement instead of a transaction of five round trips (BEGIN, start, busy, outbox
      // INSERT, COMMIT); a subtask still takes the transaction, which also updates its parent.
      const claimed = await repo.claimAssigned(agentId, leaseS, actor.keyId);
      if (claimed.outcome === 'none') return null;
      if (claimed.outcome === 'started') return sequencedReply(outbox.sequencer, claimed.task!);
    }
    return startInTransaction(agentId, actor);
  }

  async function startInTransaction(agentId: string, actor: Actor): Promise<{ task: Task; lease: Lease } | null> {
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      const started = await repo.startAssigned(tx, { agentId }, 1, leaseS);
      await afterStart(tx, emit, started);
      return started[0] ?? null;
    });
    if (!result) return null;
    return claimReply(result);
  }

  /** The runtime hears of a task it started once its task.started is in the log. */
  async function sequencedReply(sequencer: Sequencer, row: TaskRow): Promise<{ task: Task; lease: Lease }> {
    await sequencer.sequence();
    return claimReply(row);
  }

  /** A claim's answer for a task it (or a dispatch round, for it) started. */
  function claimReply(row: TaskRow): { task: Task; lease: Lease } {
    return { task: toTaskDto(row), lease: { token: row.leaseToken!, expires_at: row.leaseExpiresAt!.toISOString() } };
  }

  /** Why a lease-holder call was refused: 404 for unknown, 409 for everything else. */
  async function leaseRefusal(id: string, actor: Actor | null): Promise<AppError> {
    const row = await repo.findById(id);
    if (!row || (actor && actor.gameId !== null && row.gameId !== actor.gameId)) return new NotFoundError('task', id);
    if (isFinal(row.status)) return new ConflictError(`task ${id} is ${row.status}; stop working on it`, 'lease_lost');
    return new ConflictError(
      `task ${id} is ${row.status} and this lease is not (or no longer) its holder; stop working on it`,
      'lease_lost',
    );
  }

  async function heartbeat(id: string, token: string, input: ProgressInput, actor: Actor | null): Promise<{ lease: Lease; task: TaskRow }> {
    // Stored as real: 4 decimals is plenty for a progress bar, and keeps denormals out.
    const progress = input.progress === undefined ? undefined : Math.round(input.progress * 10_000) / 10_000;
    const { result } = await withEvents(outbox, actor?.keyId ?? null, async (tx, emit) => {
      const row = await repo.heartbeat(tx, id, token, leaseS, progress, input.message);
      if (!row) return null;
      if (row.agentId) {
        const agent = await repo.lockAgent(tx, row.agentId);
        if (agent) {
          await tx
            .update(agents)
            .set({ lastSeenAt: sql`statement_timestamp()` as unknown as Date })
            .where(eq(agents.id, agent.id));
          if (input.activity !== undefined || input.activity_detail !== undefined) {
            await setAgentState(tx, emit, agent, {
              ...(input.activity !== undefined ? { activity: input.activity } : {}),
              ...(input.activity_detail !== undefined ? { activityDetail: input.activity_detail } : {}),
            });
          }
        }
      }
      return row;
    });
    if (!result) throw await leaseRefusal(id, actor);
    if (progress !== undefined || input.message !== undefined) {
      await publishVolatile(bus, [
        {
          type: 'task.progress',
          gameId: result.gameId,
          data: {
            task_id: result.id,
            agent_id: result.agentId,
            progress: result.progress,
            message: result.message,
            activity: input.activity ?? null,
          },
        },
      ]);
    }
    return { lease: { token, expires_at: result.leaseExpiresAt!.toISOString() }, task: result };
  }

  /** Volatile progress between heartbeats (built-in runtimes report often; persisted on the next heartbeat). */
  async function publishProgress(row: { id: string; gameId: string | null; agentId: string | null }, input: ProgressInput): Promise<void> {
    await publishVolatile(bus, [
      {
        type: 'task.progress',
        gameId: row.gameId,
        data: {
          task_id: row.id,
          agent_id: row.agentId,
          progress: input.progress ?? 0,
          message: input.message ?? null,
          activity: input.activity ?? null,
        },
      },
    ]);
  }

  /** Activity changes of built-in runtimes (durable agent.state_changed), only while holding the lease. */
  async function setActivity(
    taskId: string,
    token: string,
    activity: Activity | null,
    detail: string | null | undefined,
  ): Promise<boolean> {
    if (outbox.sequencer) return setActivityStaged(outbox.sequencer, taskId, token, activity, detail);
    const { result } = await withEvents(outbox, null, async (tx, emit) => {
      const row = await repo.findById(taskId, tx);
      if (!row || row.status !== 'running' || row.leaseToken !== token || !row.agentId) return false;
      const agent = await repo.lockAgent(tx, row.agentId);
      if (!agent || agent.currentTaskId !== taskId) return true;
      await setAgentState(tx, emit, agent, { activity, ...(detail !== undefined ? { activityDetail: detail } : {}) });
      return true;
    });
    return result;
  }

  /**
   * setActivity on Postgres in one statement (no BEGIN/COMMIT round trips): the lease check, the
   * agent's row lock and update, and the staged agent.state_changed are one atomic statement.
   * Built-in runtimes change activity several times per task, and as a transaction of six
   * round trips each, these were half the queries of a simulated task. Same rules as the
   * transaction below: false when the lease is not held; no event when nothing changed.
   */
  async function setActivityStaged(
    sequencer: Sequencer,
    taskId: string,
    token: string,
    activity: Activity | null,
    detail: string | null | undefined,
  ): Promise<boolean> {
    const [row] = await database.rows<{ held: boolean; staged: string | number }>(sql`
      with lease as (
        select id, agent_id from tasks
        where id = ${taskId}::uuid and status = 'running' and lease_token = ${token}::uuid and agent_id is not null
      ), target as (
        -- By primary key: as a join with lease, the agent was found by a scan of agents.
        select a.id, a.game_id, a.status, a.activity, a.activity_detail
        from agents a
        where a.id = (select agent_id from lease) and a.current_task_id = ${taskId}::uuid
        for update of a
      ), next as (
        select target.*, ${activity}::text as new_activity,
          case when ${detail === undefined} then target.activity_detail else ${detail ?? null}::text end as new_detail
        from target
      ), changed as (
        update agents set activity = next.new_activity, activity_detail = next.new_detail,
          updated_at = now(), version = agents.version + 1
        from next
        where agents.id = next.id
          and (next.activity is distinct from next.new_activity or next.activity_detail is distinct from next.new_detail)
        returning agents.id
      ), staged as (
        insert into event_outbox (type, game_id, agent_id, task_id, data)
        select 'agent.state_changed', next.game_id, next.id, ${taskId}::uuid,
          jsonb_build_object('agent_id', next.id, 'status', next.status, 'previous_status', next.status,
            'activity', next.new_activity, 'activity_detail', next.new_detail, 'task_id', ${taskId}::uuid)
        from next join changed on changed.id = next.id
        returning 1
      )
      select exists(select 1 from lease) as held, (select count(*) from staged) as staged`);
    // Only the built-in worker changes activity, and it does not wait for the outcome.
    if (Number(row?.staged ?? 0) > 0) void sequencer.sequence();
    return row?.held === true;
  }

  /**
   * The lease holder completes its task. `background`: the built-in worker, which answers
   * nobody, does not wait for the events to be sequenced (a REST caller does: it may read them).
   */
  async function complete(id: string, token: string, resultValue: unknown, actor: Actor | null, options: Sequencing = {}): Promise<Task> {
    if (outbox.sequencer) {
      const staged = await completeStaged(outbox.sequencer, id, token, resultValue, actor, options);
      if (staged !== 'team') return staged;
    }
    return underLease(id, token, actor, options, (tx, emit, row) =>
      finishTask(tx, emit, row, 'completed', { result: resultValue ?? null }),
    );
  }

  /**
   * Runs `fn` on a running task locked in a transaction, if `token` is its current lease; 404/409
   * (leaseRefusal) otherwise. The shared shape of complete and fail.
   */
  async function underLease(
    id: string,
    token: string,
    actor: Actor | null,
    options: Sequencing,
    fn: (tx: Tx, emit: Emit, row: TaskRow) => Promise<TaskRow>,
  ): Promise<Task> {
    const { result } = await withEvents(
      outbox,
      actor?.keyId ?? null,
      async (tx, emit) => {
        const row = await repo.lockById(tx, id);
        if (!row || row.status !== 'running' || row.leaseToken !== token) return null;
        return fn(tx, emit, row);
      },
      options,
    );
    if (!result) throw await leaseRefusal(id, actor);
    return toTaskDto(result);
  }

  /**
   * complete on Postgres in one round trip: the function of migration 0002 does what the
   * transaction below does for a task outside a team (lease check, completed, agent released,
   * events staged), in one statement instead of eight. A simulated task took 21 queries, eight
   * of them this transaction. Subtasks ('team') take the transaction: their parent follows them.
   */
  async function completeStaged(
    sequencer: Sequencer,
    id: string,
    token: string,
    resultValue: unknown,
    actor: Actor | null,
    options: Sequencing,
  ): Promise<Task | 'team'> {
    const json = resultValue === undefined || resultValue === null ? null : JSON.stringify(resultValue);
    const [row] = await database.rows<{ outcome: 'done' | 'refused' | 'team'; task: Record<string, unknown> | null }>(
      sql`select outcome, task from agentvm_complete_task(${id}::uuid, ${token}::uuid, ${json}::jsonb, ${actor?.keyId ?? null}::uuid)`,
    );
    if (!row || row.outcome === 'refused') throw await leaseRefusal(id, actor);
    if (row.outcome === 'team') return 'team';
    if (options.background) void sequencer.sequence();
    else await sequencer.sequence();
    return toTaskDto(rawToTask(row.task!));
  }

  /** A failed attempt: back to the queue with backoff while attempts remain and it is retryable. */
  async function failAttempt(tx: Tx, emit: Emit, row: TaskRow, error: TaskError, retryable: boolean): Promise<TaskRow> {
    if (retryable && row.attempts < row.maxAttempts) {
      const delay = backoffMs(row.attempts, config.tasks.backoff_base_ms, config.tasks.backoff_max_ms);
      const runAfter = new Date(Date.now() + delay);
      const updated = await repo.update(tx, row.id, {
        status: 'queued',
        runAfter,
        error,
        leaseToken: null,
        leaseExpiresAt: null,
        agentId: row.targeted ? row.agentId : null,
        assignedAt: null,
      });
      emit({
        type: 'task.failed',
        gameId: row.gameId,
        agentId: row.agentId,
        taskId: row.id,
        data: { task_id: row.id, agent_id: row.agentId, error, attempt: row.attempts, will_retry: true, run_after: runAfter.toISOString() },
      });
      await releaseAgent(tx, emit, row.agentId, row.id, row.status === 'running' ? 'failed' : null);
      return updated;
    }
    return finishTask(tx, emit, row, 'failed', { error });
  }

  async function fail(
    id: string,
    token: string,
    error: TaskError,
    retryable: boolean,
    actor: Actor | null,
    options: Sequencing = {},
  ): Promise<Task> {
    return underLease(id, token, actor, options, (tx, emit, row) => failAttempt(tx, emit, row, error, retryable));
  }

  /**
   * Reaper round (every replica runs it; SKIP LOCKED splits the work): expired claims and
   * leases go back to the queue (or fail after max_attempts), tasks past their timeout fail,
   * external agents that stopped heart-beating go offline.
   */
  async function reap(): Promise<{ expired: number; timedOut: number; offline: number }> {
    const { result } = await withEvents(
      outbox,
      null,
      async (tx, emit) => {
        let expired = 0;
        let timedOut = 0;
        let offline = 0;
        for (const row of await repo.lockExpired(tx, 200)) {
          expired++;
          if (row.status === 'assigned') {
            // Never claimed: its runtime is gone. Not an attempt; put it back for another agent.
            await failAttempt(
              tx,
              emit,
              { ...row, attempts: row.attempts, maxAttempts: row.attempts + 1 },
              { code: 'claim_expired', message: 'the agent’s runtime did not pick the task up in time' },
              true,
            );
          } else {
            await failAttempt(
              tx,
              emit,
              row,
              {
                code: 'lease_expired',
                message: `no heartbeat for ${leaseS} s: the runtime stopped (attempt ${row.attempts} of ${row.maxAttempts})`,
              },
              true,
            );
          }
        }
        for (const row of await repo.lockTimedOut(tx, 200)) {
          timedOut++;
          await failAttempt(tx, emit, row, { code: 'timeout', message: `task ran longer than its timeout_s of ${row.timeoutS} s` }, false);
        }
        for (const [name, type] of Object.entries(config.agent_types)) {
          if (type.runtime !== 'external') continue;
          for (const { agent, previousStatus } of await repo.markStaleOffline(tx, name, type.heartbeat_timeout_s)) {
            offline++;
            emitStateChanged(
              emit,
              { ...agent, status: previousStatus },
              { status: 'offline', activity: null, activityDetail: null, currentTaskId: agent.currentTaskId },
            );
          }
        }
        return { expired, timedOut, offline };
      },
      { background: true },
    );
    return result;
  }

  /**
   * A runtime-wide outage (every AgentVM VM of a type unreachable) shows as its agents going
   * offline; when a VM answers again they come back idle (busy if they still hold a running task).
   */
  async function setTypeAvailability(agentType: string, available: boolean): Promise<number> {
    const { result } = await withEvents(outbox, null, async (tx, emit) => {
      const rows = await tx
        .select()
        .from(agents)
        .where(and(eq(agents.agentType, agentType), available ? eq(agents.status, 'offline') : inArray(agents.status, ['idle', 'busy'])))
        .for('update');
      for (const agent of rows) {
        if (available) {
          const held = await repo.heldCount(tx, agent.id, null);
          await setAgentState(tx, emit, agent, { status: held.running.length ? 'busy' : 'idle' });
        } else {
          await setAgentState(tx, emit, agent, { status: 'offline', activity: null, activityDetail: null });
        }
      }
      return rows.length;
    });
    return result;
  }

  /**
   * Inside another module's transaction (agent deletion): cancels every open task the agent
   * holds or waits for, with their events, runtime notification and team/dependent effects.
   */
  async function cancelOpenTasksOfAgent(tx: Tx, emit: Emit, agentId: string, reason: string): Promise<number> {
    const open = await tx
      .select()
      .from(tasks)
      .where(and(eq(tasks.agentId, agentId), inArray(tasks.status, ['queued', 'assigned', 'running'])))
      .orderBy(tasks.createdAt)
      .for('update');
    let cancelled = 0;
    for (const row of open) {
      const current = await repo.lockById(tx, row.id);
      if (!current || isFinal(current.status)) continue; // a team cascade already finished it
      await finishTask(tx, emit, current, 'cancelled', { reason });
      cancelled++;
    }
    return cancelled;
  }

  return {
    create,
    createCollaborative,
    setTypeAvailability,
    cancelOpenTasksOfAgent,
    async get(id: string, actor: Actor): Promise<Task> {
      return toTaskDto(await getRow(id, actor));
    },
    async status(id: string, actor: Actor) {
      return toTaskStatusDto(await getRow(id, actor));
    },
    getRow,
    list,
    cancel,
    dispatchAndStart,
    hasWork: (agentTypes: string[]) => repo.hasWork(agentTypes),
    claim,
    claimReply,
    heartbeat,
    publishProgress,
    setActivity,
    complete,
    fail,
    reap,
    newLeaseToken: () => randomUUID(),
    /** Calls `listener` whenever this process commits a new queued task; returns an unsubscribe. */
    onQueued(listener: () => void): () => void {
      queuedListeners.add(listener);
      return () => queuedListeners.delete(listener);
    },
    /** Calls `listener` with the agents each dispatch round of this process gave a task, at its commit. */
    onAssigned(listener: (agentIds: string[]) => void): () => void {
      assignedListeners.add(listener);
      return () => assignedListeners.delete(listener);
    },
  };
}
