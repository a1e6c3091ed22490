import { z } from 'zod';
import { timestamp, uuid } from './common.js';
import { ACTIVITIES } from './agents.js';

export const TASK_STATUSES = ['queued', 'assigned', 'running', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_TASK_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

/** Stored as 0..3 so the queue index orders by it. */
export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const taskError = z
  .object({
    code: z.string().describe('e.g. runtime_error, timeout, lease_expired, dependency_failed, cancelled, agent_deleted'),
    message: z.string(),
  })
  .catchall(z.unknown());
export type TaskError = z.infer<typeof taskError>;

export const task = z.object({
  id: uuid,
  description: z.string(),
  task_type: z.string(),
  status: z.enum(TASK_STATUSES),
  priority: z.enum(PRIORITIES),
  agent_id: uuid.nullable().describe('the requested agent (targeted) or the agent holding the task'),
  agent_type: z.string().nullable().describe('preferred agent type for untargeted tasks'),
  parent_id: uuid.nullable(),
  team_size: z.number().int().nullable(),
  depends_on: z.array(uuid),
  required_capabilities: z.array(z.string()),
  game_id: z.string().nullable(),
  progress: z.number().min(0).max(1),
  message: z.string().nullable(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  timeout_s: z.number().int(),
  run_after: timestamp,
  lease_expires_at: timestamp.nullable(),
  metadata: z.record(z.string(), z.unknown()),
  result: z.unknown().nullable(),
  error: taskError.nullable(),
  created_at: timestamp,
  assigned_at: timestamp.nullable(),
  started_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
  updated_at: timestamp,
});
export type Task = z.infer<typeof task>;

export const taskStatus = z.object({
  id: uuid,
  status: z.enum(TASK_STATUSES),
  progress: z.number(),
  message: z.string().nullable(),
  agent_id: uuid.nullable(),
  attempts: z.number().int(),
  result: z.unknown().nullable(),
  error: taskError.nullable(),
  updated_at: timestamp,
});
export type TaskStatusView = z.infer<typeof taskStatus>;

const capability = z.string().min(1).max(64);
const description = z.string().trim().min(1, 'must not be empty').max(20_000);

/**
 * `priority` is a name, or (the original agent system's form) a number 0–1:
 * < 0.25 low, < 0.5 normal, < 0.75 high, else critical.
 */
export const priorityInput = z.union([
  z.enum(PRIORITIES),
  z
    .number()
    .min(0, 'a numeric priority must be within 0–1')
    .max(1, 'a numeric priority must be within 0–1')
    .transform((n): Priority => (n < 0.25 ? 'low' : n < 0.5 ? 'normal' : n < 0.75 ? 'high' : 'critical')),
]);

const taskOptions = {
  task_type: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .optional()
    .describe('free-form kind of work, e.g. debugging, feature, review (default general)'),
  priority: priorityInput.optional().describe('low | normal | high | critical, or 0–1 (default normal)'),
  required_capabilities: z.array(capability).max(32).optional(),
  game_id: z.string().min(1).max(128).optional(),
  timeout_s: z.number().int().min(1).max(86_400).optional(),
  max_attempts: z.number().int().min(1).max(100).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  preferred_type: z
    .string()
    .min(1)
    .max(32)
    .optional()
    .describe('agent type to pick when no agent_id is given (the original agent system’s field)'),
};

export const assignTaskBody = z
  .object({
    description: description.optional(),
    prompt: description.optional().describe('alias of description (the original agent system’s field)'),
    agent_id: uuid.optional().describe('run on this agent; without it the engine picks an eligible agent'),
    depends_on: z.array(uuid).max(100).optional().describe('tasks that must complete first'),
    ...taskOptions,
  })
  .strict();
export type AssignTaskBody = z.infer<typeof assignTaskBody>;

export const collaborativeTaskBody = z
  .object({
    description: description.optional(),
    prompt: description.optional(),
    team_size: z.number().int().min(2).max(16),
    depends_on: z.array(uuid).max(100).optional(),
    ...taskOptions,
  })
  .strict();
export type CollaborativeTaskBody = z.infer<typeof collaborativeTaskBody>;

export const collaborativeTask = task.extend({ subtasks: z.array(task) });

export const listTasksQuery = z
  .object({
    status: z.enum(TASK_STATUSES).optional(),
    agent_id: uuid.optional(),
    game_id: z.string().min(1).max(128).optional(),
    parent_id: uuid.optional(),
    task_type: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(512).optional(),
  })
  .strict();

export const lease = z.object({ token: uuid, expires_at: timestamp });
export const claimBody = z
  .object({
    agent_id: uuid,
    wait_s: z.number().min(0).max(60).optional().describe('long-poll: wait up to this long for a task (default 0)'),
  })
  .strict();
export const claimResponse = z.object({ task, lease });

export const heartbeatBody = z
  .object({
    lease_token: uuid,
    progress: z.number().min(0).max(1).optional(),
    message: z.string().max(2000).nullable().optional(),
    activity: z.enum(ACTIVITIES).nullable().optional(),
    activity_detail: z.string().max(200).nullable().optional(),
  })
  .strict();
export const completeBody = z.object({ lease_token: uuid, result: z.unknown().optional() }).strict();
export const failBody = z
  .object({
    lease_token: uuid,
    error: z.union([z.string().min(1).max(20_000), taskError]),
    retryable: z.boolean().optional().describe('put the task back to the queue when attempts remain (default true)'),
  })
  .strict();
