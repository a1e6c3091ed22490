import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  smallint,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * Tables of DESIGN.md. Migrations in ../../drizzle are generated from this file by
 * `npm run db:generate -w api` (drizzle-kit) and committed.
 */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    /** sha-256 of the key, hex. The key itself is shown once at creation and never stored. */
    keyHash: text('key_hash').notNull().unique(),
    /** First characters of the key, to tell keys apart in listings without revealing them. */
    prefix: text('prefix').notNull(),
    scopes: text('scopes').array().notNull(),
    gameId: text('game_id'),
    createdAt: ts('created_at').notNull().defaultNow(),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [index('api_keys_created_idx').on(t.createdAt, t.id)],
);

export const games = pgTable('games', {
  gameId: text('game_id').primaryKey(),
  name: text('name'),
  metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

export const gameSessions = pgTable(
  'game_sessions',
  {
    id: uuid('id').primaryKey(),
    gameId: text('game_id')
      .notNull()
      .references(() => games.gameId, { onDelete: 'cascade' }),
    name: text('name'),
    engine: text('engine'),
    engineVersion: text('engine_version'),
    sceneId: text('scene_id'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    status: text('status').$type<'connected' | 'disconnected'>().notNull(),
    apiKeyId: uuid('api_key_id'),
    connectedAt: ts('connected_at').notNull().defaultNow(),
    lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
    disconnectedAt: ts('disconnected_at'),
    disconnectReason: text('disconnect_reason'),
  },
  (t) => [
    index('game_sessions_game_idx').on(t.gameId, t.id),
    index('game_sessions_open_idx')
      .on(t.lastSeenAt)
      .where(sql`${t.status} = 'connected'`),
  ],
);

export const scenes = pgTable(
  'scenes',
  {
    gameId: text('game_id')
      .notNull()
      .references(() => games.gameId, { onDelete: 'cascade' }),
    sceneId: text('scene_id').notNull(),
    name: text('name'),
    bounds: jsonb('bounds').$type<unknown>(),
    spawnPoints: jsonb('spawn_points').$type<unknown[]>().notNull().default([]),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.gameId, t.sceneId] })],
);

export const agents = pgTable(
  'agents',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    agentType: text('agent_type').notNull(),
    status: text('status').notNull(),
    activity: text('activity'),
    activityDetail: text('activity_detail'),
    capabilities: text('capabilities').array().notNull().default([]),
    personality: text('personality').notNull(),
    gameId: text('game_id'),
    sceneId: text('scene_id'),
    x: doublePrecision('x').notNull().default(0),
    y: doublePrecision('y').notNull().default(0),
    z: doublePrecision('z').notNull().default(0),
    rotationY: doublePrecision('rotation_y').notNull().default(0),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    currentTaskId: uuid('current_task_id'),
    tasksCompleted: integer('tasks_completed').notNull().default(0),
    tasksFailed: integer('tasks_failed').notNull().default(0),
    /** When the agent last became idle: "longest idle first" in assignment. */
    idleSince: ts('idle_since').notNull().defaultNow(),
    /** Last claim or heartbeat of its runtime (external runtimes go offline without one). */
    lastSeenAt: ts('last_seen_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    version: integer('version').notNull().default(1),
  },
  (t) => [
    index('agents_game_idx').on(t.gameId, t.id),
    // By type only (migration 0012): with status in an index, no status change could be a HOT
    // update, and an agent's status changes twice per task.
    index('agents_type_idx').on(t.agentType),
    index('agents_created_idx').on(t.createdAt, t.id),
  ],
);

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    description: text('description').notNull(),
    taskType: text('task_type').notNull(),
    status: text('status').notNull(),
    /** 0 low, 1 normal, 2 high, 3 critical: an integer so the queue index orders by it. */
    priority: smallint('priority').notNull(),
    /** The requested agent (targeted) or the agent holding the task. */
    agentId: uuid('agent_id'),
    /** True when the caller named the agent: the task waits for that agent only. */
    targeted: boolean('targeted').notNull().default(false),
    /** Agent type to prefer when untargeted (the seed's `preferred_type`). */
    agentType: text('agent_type'),
    parentId: uuid('parent_id'),
    teamSize: integer('team_size'),
    dependsOn: uuid('depends_on').array().notNull().default([]),
    requiredCapabilities: text('required_capabilities').array().notNull().default([]),
    gameId: text('game_id'),
    progress: real('progress').notNull().default(0),
    message: text('message'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    timeoutS: integer('timeout_s').notNull(),
    runAfter: ts('run_after').notNull().defaultNow(),
    leaseToken: uuid('lease_token'),
    leaseExpiresAt: ts('lease_expires_at'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    result: jsonb('result').$type<unknown>(),
    error: jsonb('error').$type<unknown>(),
    createdBy: uuid('created_by'),
    createdAt: ts('created_at').notNull().defaultNow(),
    assignedAt: ts('assigned_at'),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // The queue: open tasks in priority order, then age.
    index('tasks_queue_idx')
      .on(t.priority.desc(), t.createdAt, t.id)
      .where(sql`${t.status} = 'queued'`),
    // Assignments waiting to start, oldest first (the worker's start and its checks; migration 0008).
    index('tasks_assigned_idx')
      .on(t.priority.desc(), t.assignedAt, t.id)
      .where(sql`${t.status} = 'assigned'`),
    index('tasks_agent_idx').on(t.agentId, t.status),
    // Partial (migration 0010): most tasks have no parent and are not finished, and every
    // version of a task row (insert, assign, start, finish) went into both indexes.
    index('tasks_parent_idx')
      .on(t.parentId)
      .where(sql`${t.parentId} is not null`),
    index('tasks_game_idx').on(t.gameId, t.id),
    index('tasks_lease_idx')
      .on(t.leaseExpiresAt)
      .where(sql`${t.status} in ('assigned', 'running')`),
    index('tasks_finished_idx')
      .on(t.finishedAt)
      .where(sql`${t.finishedAt} is not null`),
    index('tasks_created_idx').on(t.createdAt, t.id),
  ],
);

/** What an event is, in the log and in the outbox alike (a fresh set of builders per table). */
const eventColumns = () => ({
  type: text('type').notNull(),
  gameId: text('game_id'),
  agentId: uuid('agent_id'),
  taskId: uuid('task_id'),
  actor: uuid('actor'),
  data: jsonb('data').$type<Record<string, unknown>>().notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

export const events = pgTable(
  'events',
  {
    /** Assigned while holding the outbox lock, so seqs commit in increasing order. */
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    ...eventColumns(),
  },
  (t) => [
    index('events_game_seq_idx').on(t.gameId, t.seq),
    index('events_agent_seq_idx').on(t.agentId, t.seq),
    index('events_task_seq_idx').on(t.taskId, t.seq),
    // No index on created_at (migration 0013): only retention reads by it, and walks the primary key.
  ],
);

/**
 * Events written by a transaction on Postgres, waiting to be given their seq. A transaction
 * commits its change and its events here without any global lock; the sequencer then moves them
 * into `events` in batches, drawing seqs under the outbox lock (see modules/events/outbox.ts).
 */
export const eventOutbox = pgTable('event_outbox', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  ...eventColumns(),
});

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type GameRow = typeof games.$inferSelect;
export type GameSessionRow = typeof gameSessions.$inferSelect;
export type SceneRow = typeof scenes.$inferSelect;
export type AgentRow = typeof agents.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type EventRow = typeof events.$inferSelect;
