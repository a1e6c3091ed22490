import type { Activity, Agent, AgentStatus, EventType, Priority, TaskStatus } from '@agentvm/api/contract';

/*
 * The contract's enums as values. Importing the values from `@agentvm/api/contract` would pull
 * zod and every schema into the bundle (~100 KB for five arrays), so they are listed here and
 * checked against the contract's types: a value added to or removed from the contract fails
 * `npm run typecheck` until this file follows.
 */

type Exactly<T, L extends readonly unknown[]> = [Exclude<T, L[number]>] extends [never] ? L : { missing: Exclude<T, L[number]> };

const exactly =
  <T>() =>
  <const L extends readonly T[]>(list: L & Exactly<T, L>): L =>
    list;

export const TASK_STATUSES = exactly<TaskStatus>()(['queued', 'assigned', 'running', 'completed', 'failed', 'cancelled']);
export const OPEN_TASK_STATUSES: readonly TaskStatus[] = ['queued', 'assigned', 'running'];
export const AGENT_STATUSES = exactly<AgentStatus>()(['idle', 'busy', 'offline', 'error']);
export const PRIORITIES = exactly<Priority>()(['low', 'normal', 'high', 'critical']);
export const ACTIVITIES = exactly<Activity>()([
  'thinking',
  'coding',
  'testing',
  'reviewing',
  'speaking',
  'moving',
  'collaborating',
  'waiting',
]);
export const PERSONALITIES = exactly<Agent['personality']>()(['ambitious', 'team_player', 'steady', 'perfectionist', 'slacker']);
export const EVENT_TYPES = exactly<EventType>()([
  'agent.created',
  'agent.updated',
  'agent.state_changed',
  'agent.deleted',
  'agent.moved',
  'task.created',
  'task.assigned',
  'task.started',
  'task.progress',
  'task.completed',
  'task.failed',
  'task.cancelled',
  'game.connected',
  'game.disconnected',
  'game.scene_updated',
]);
/** What the feed lists: the durable events (volatile ones are live positions and progress). */
export const FEED_EVENT_TYPES = EVENT_TYPES.filter((t) => t !== 'agent.moved' && t !== 'task.progress');
