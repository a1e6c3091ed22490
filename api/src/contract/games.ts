import { z } from 'zod';
import { metadata, timestamp, uuid } from './common.js';

export const bounds = z
  .object({
    min: z.object({ x: z.number(), y: z.number(), z: z.number() }).strict(),
    max: z.object({ x: z.number(), y: z.number(), z: z.number() }).strict(),
  })
  .strict()
  .describe('axis-aligned box of the scene in world units');

export const spawnPoint = z
  .object({
    name: z.string().max(64).optional(),
    x: z.number(),
    y: z.number(),
    z: z.number(),
    rotation_y: z.number().optional(),
  })
  .strict();

export const scene = z.object({
  scene_id: z.string(),
  game_id: z.string(),
  name: z.string().nullable(),
  bounds: bounds.nullable(),
  spawn_points: z.array(spawnPoint),
  metadata: z.record(z.string(), z.unknown()),
  created_at: timestamp,
  updated_at: timestamp,
});
export type Scene = z.infer<typeof scene>;

export const gameSession = z.object({
  session_id: uuid,
  game_id: z.string(),
  name: z.string().nullable(),
  engine: z.string().nullable(),
  engine_version: z.string().nullable(),
  scene_id: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  status: z.enum(['connected', 'disconnected']),
  connected_at: timestamp,
  last_seen_at: timestamp,
  disconnected_at: timestamp.nullable(),
  disconnect_reason: z.string().nullable(),
});
export type GameSession = z.infer<typeof gameSession>;

const gameId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, ".", "_", ":" and "-" only, starting with a letter or digit');
const short = z.string().trim().min(1).max(128);

export const connectBody = z
  .object({
    game_id: gameId,
    name: short.optional(),
    engine: z.string().trim().min(1).max(64).optional().describe('e.g. godot, unity, web'),
    engine_version: z.string().trim().min(1).max(64).optional(),
    scene_id: z.string().min(1).max(128).optional(),
    metadata: metadata.optional(),
  })
  .strict();
export type ConnectBody = z.infer<typeof connectBody>;

export const connectResponse = gameSession.extend({
  ws_url: z.string().describe('the WebSocket to stream this game’s events (add since=<last seq> to resume)'),
  session_timeout_s: z.number().describe('the session closes after this long without traffic'),
});

export const disconnectBody = z
  .object({ session_id: uuid, reason: z.string().trim().min(1).max(64).optional().describe('default: client') })
  .strict();

export const sceneBody = z
  .object({
    game_id: gameId,
    name: short.optional(),
    bounds: bounds.optional(),
    spawn_points: z.array(spawnPoint).max(1000).optional(),
    metadata: metadata.optional(),
  })
  .strict();
export type SceneBody = z.infer<typeof sceneBody>;

export const sceneIdParam = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'letters, digits, ".", "_", ":", "/" and "-" only');

export const gameSummary = z.object({
  game_id: z.string(),
  name: z.string().nullable(),
  connected_sessions: z.number().int(),
  agents: z.object({ total: z.number().int(), by_status: z.record(z.string(), z.number().int()) }),
  scenes: z.number().int(),
  created_at: timestamp,
  updated_at: timestamp,
});
export type GameSummary = z.infer<typeof gameSummary>;

export const listSessionsQuery = z
  .object({
    game_id: z.string().min(1).max(128).optional(),
    status: z.enum(['connected', 'disconnected']).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(512).optional(),
  })
  .strict();
