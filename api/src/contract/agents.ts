import { z } from 'zod';
import { metadata, position, timestamp, uuid } from './common.js';
import { isPlainPosition, isPlainPositionBatch, withFastPath } from './fast-path.js';

export const AGENT_STATUSES = ['idle', 'busy', 'offline', 'error'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** The NPC's animation: the original AgentVM's states. */
export const ACTIVITIES = ['thinking', 'coding', 'testing', 'reviewing', 'speaking', 'moving', 'collaborating', 'waiting'] as const;
export type Activity = (typeof ACTIVITIES)[number];

export const PERSONALITY_NAMES = ['ambitious', 'team_player', 'steady', 'perfectionist', 'slacker'] as const;

export const agent = z.object({
  id: uuid,
  name: z.string(),
  agent_type: z.string(),
  status: z.enum(AGENT_STATUSES),
  activity: z.enum(ACTIVITIES).nullable(),
  activity_detail: z.string().nullable(),
  capabilities: z.array(z.string()),
  personality: z.enum(PERSONALITY_NAMES),
  game_id: z.string().nullable(),
  scene_id: z.string().nullable(),
  position,
  rotation_y: z.number(),
  metadata: z.record(z.string(), z.unknown()),
  current_task_id: uuid.nullable(),
  tasks_completed: z.number().int(),
  tasks_failed: z.number().int(),
  last_seen_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
  version: z.number().int(),
});
export type Agent = z.infer<typeof agent>;

const name = z.string().trim().min(1, 'must be 1–64 characters').max(64, 'must be 1–64 characters');
const capabilities = z.array(z.string().min(1).max(64)).max(32);
const sceneId = z.string().min(1).max(128);
const finite = z.number().refine(Number.isFinite, 'must be a finite number');

export const createAgentBody = z
  .object({
    agent_type: z.string().min(1).max(32).describe('a configured agent type (GET /system/status lists them)'),
    name: name.optional().describe('default: <type>-<short id>'),
    game_id: z.string().min(1).max(128).optional().describe('the game the NPC lives in (a game key’s own game by default)'),
    scene_id: sceneId.optional(),
    capabilities: capabilities.optional().describe('default: the type’s capabilities'),
    personality: z.enum(PERSONALITY_NAMES).optional().describe('default: the type’s default_personality'),
    position: position.optional(),
    rotation_y: finite.optional(),
    metadata: metadata.optional(),
  })
  .strict();
export type CreateAgentBody = z.infer<typeof createAgentBody>;

export const patchAgentBody = z
  .object({
    name: name.optional(),
    capabilities: capabilities.optional(),
    personality: z.enum(PERSONALITY_NAMES).optional(),
    scene_id: sceneId.nullable().optional(),
    metadata: metadata.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'send at least one of name, capabilities, personality, scene_id, metadata' });
export type PatchAgentBody = z.infer<typeof patchAgentBody>;

const positionFields = { x: finite, y: finite, z: finite, rotation_y: finite.optional(), scene_id: sceneId.optional() };
export const positionBody = withFastPath(z.object(positionFields).strict(), (data) => isPlainPosition(data, false));
export type PositionBody = z.infer<typeof positionBody>;

export const positionResponse = z.object({ agent_id: uuid, position, rotation_y: z.number(), scene_id: z.string().nullable() });
export type PositionResponse = z.infer<typeof positionResponse>;

/**
 * The 200 body of PUT /agents/{id}/position, written field by field: exactly positionResponse's
 * fields (nothing else the object may carry), without parsing it with zod on every move (the
 * response validation was ~8 % of the api's CPU on that route). The service builds the object
 * from validated input; the contract tests compare this with the zod serializer's output.
 */
export function positionJson(r: PositionResponse): string {
  return JSON.stringify({
    agent_id: r.agent_id,
    position: { x: r.position.x, y: r.position.y, z: r.position.z },
    rotation_y: r.rotation_y,
    scene_id: r.scene_id,
  });
}

export const MAX_BATCH_POSITIONS = 1000;
export const batchPositionsBody = withFastPath(
  z
    .object({
      positions: z
        .array(z.object({ ...positionFields, agent_id: uuid }).strict())
        .min(1)
        .max(MAX_BATCH_POSITIONS, `at most ${MAX_BATCH_POSITIONS} agents per call`),
    })
    .strict(),
  (data) => isPlainPositionBatch(data, MAX_BATCH_POSITIONS),
);
export const batchPositionsResponse = z.object({
  updated: z.number().int(),
  not_found: z.array(uuid).describe('agents that do not exist (or are not visible to this key); their positions were ignored'),
});

export const listAgentsQuery = z
  .object({
    game_id: z.string().min(1).max(128).optional(),
    status: z.enum(AGENT_STATUSES).optional(),
    agent_type: z.string().min(1).max(32).optional(),
    scene_id: sceneId.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(512).optional(),
  })
  .strict();
