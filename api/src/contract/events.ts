import { z } from 'zod';
import { position, timestamp, uuid } from './common.js';
import { ACTIVITIES, AGENT_STATUSES, agent } from './agents.js';
import { scene } from './games.js';
import { taskError, task } from './tasks.js';

/**
 * The event catalogue. Durable events are written to the events table in the transaction that
 * makes the change (transactional outbox) and carry an increasing `seq`; volatile events are
 * live only (`seq: null`), coalesced per agent/task for slow clients, never logged.
 */
export const eventEnvelope = z.object({
  seq: z.number().int().nullable(),
  type: z.string(),
  ts: timestamp,
  game_id: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});
export type EventEnvelope = z.infer<typeof eventEnvelope>;

const agentId = uuid;
const taskId = uuid;

export const EVENT_CATALOG = {
  'agent.created': { durable: true, description: 'an agent was created', data: z.object({ agent }) },
  'agent.updated': {
    durable: true,
    description: 'an agent’s fields changed (PATCH): name, capabilities, personality, metadata, scene',
    data: z.object({ agent, changed: z.array(z.string()) }),
  },
  'agent.state_changed': {
    durable: true,
    description: 'status or activity changed (task started/ended, runtime offline/online)',
    data: z.object({
      agent_id: agentId,
      status: z.enum(AGENT_STATUSES),
      previous_status: z.enum(AGENT_STATUSES),
      activity: z.enum(ACTIVITIES).nullable(),
      activity_detail: z.string().nullable(),
      task_id: taskId.nullable(),
    }),
  },
  'agent.deleted': {
    durable: true,
    description: 'an agent was deleted; its open tasks are cancelled (reason agent_deleted)',
    data: z.object({ agent_id: agentId, name: z.string(), agent_type: z.string() }),
  },
  'task.created': { durable: true, description: 'a task was queued', data: z.object({ task }) },
  'task.assigned': {
    durable: true,
    description: 'a task was handed to an agent (its runtime claimed it)',
    data: z.object({ task_id: taskId, agent_id: agentId, attempt: z.number().int(), lease_expires_at: timestamp }),
  },
  'task.started': {
    durable: true,
    description: 'the agent’s runtime began working on the task',
    data: z.object({ task_id: taskId, agent_id: agentId, attempt: z.number().int(), activity: z.enum(ACTIVITIES).nullable() }),
  },
  'task.completed': {
    durable: true,
    description: 'the task finished successfully',
    data: z.object({ task_id: taskId, agent_id: agentId.nullable(), result: z.unknown(), duration_ms: z.number().nullable() }),
  },
  'task.failed': {
    durable: true,
    description: 'an attempt failed; will_retry tells whether the task went back to the queue',
    data: z.object({
      task_id: taskId,
      agent_id: agentId.nullable(),
      error: taskError,
      attempt: z.number().int(),
      will_retry: z.boolean(),
      run_after: timestamp.nullable(),
    }),
  },
  'task.cancelled': {
    durable: true,
    description: 'the task was cancelled (by a caller, agent deletion, a failed team, a timeout of /agent/run)',
    data: z.object({ task_id: taskId, agent_id: agentId.nullable(), reason: z.string() }),
  },
  'game.connected': {
    durable: true,
    description: 'a game session opened (POST /game/connect)',
    data: z.object({
      session_id: uuid,
      game_id: z.string(),
      engine: z.string().nullable(),
      engine_version: z.string().nullable(),
      scene_id: z.string().nullable(),
    }),
  },
  'game.disconnected': {
    durable: true,
    description: 'a game session closed; reason is client or timeout',
    data: z.object({ session_id: uuid, game_id: z.string(), reason: z.string() }),
  },
  'game.scene_updated': {
    durable: true,
    description: 'a scene was created or changed (PUT /game/scene/{scene_id})',
    data: z.object({ scene }),
  },
  'agent.moved': {
    durable: false,
    description: 'an agent’s position changed (volatile, coalesced per agent)',
    data: z.object({ agent_id: agentId, position, rotation_y: z.number(), scene_id: z.string().nullable() }),
  },
  'task.progress': {
    durable: false,
    description: 'progress of a running task (volatile, coalesced per task)',
    data: z.object({
      task_id: taskId,
      agent_id: agentId.nullable(),
      progress: z.number().min(0).max(1),
      message: z.string().nullable(),
      activity: z.enum(ACTIVITIES).nullable().optional(),
    }),
  },
} as const;

export type EventType = keyof typeof EVENT_CATALOG;
export type DurableEventType = {
  [K in EventType]: (typeof EVENT_CATALOG)[K]['durable'] extends true ? K : never;
}[EventType];
export type VolatileEventType = Exclude<EventType, DurableEventType>;
export type EventData<K extends EventType> = z.infer<(typeof EVENT_CATALOG)[K]['data']>;

export const EVENT_TYPES = Object.keys(EVENT_CATALOG) as EventType[];
export const DURABLE_EVENT_TYPES = EVENT_TYPES.filter((t) => EVENT_CATALOG[t].durable) as DurableEventType[];
export const VOLATILE_EVENT_TYPES = EVENT_TYPES.filter((t) => !EVENT_CATALOG[t].durable) as VolatileEventType[];
