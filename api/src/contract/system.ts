import { z } from 'zod';
import { slug, timestamp, uuid, SCOPES } from './common.js';

export const healthResponse = z.object({
  status: z.literal('healthy').describe('kept from the original AgentVM API'),
  version: z.string(),
  uptime_s: z.number(),
});

export const readyResponse = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), latency_ms: z.number().nullable(), error: z.string().nullable() })),
});

export const systemStatusResponse = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  env: z.string(),
  uptime_s: z.number(),
  components: z.object({
    database: z.object({
      driver: z.enum(['postgres', 'pglite']),
      ok: z.boolean(),
      latency_ms: z.number().nullable(),
      error: z.string().nullable(),
    }),
    redis: z.object({
      mode: z.enum(['redis', 'memory']),
      ok: z.boolean(),
      latency_ms: z.number().nullable(),
      error: z.string().nullable(),
    }),
    worker: z.object({ embedded: z.boolean(), running: z.boolean(), active_tasks: z.number() }),
  }),
  agents: z.object({ total: z.number(), by_status: z.record(z.string(), z.number()) }),
  tasks: z.object({ total: z.number(), by_status: z.record(z.string(), z.number()), oldest_queued_age_s: z.number().nullable() }),
  ws: z.object({ connections: z.number() }),
  agent_types: z.array(z.object({ name: z.string(), runtime: z.string(), capabilities: z.array(z.string()), description: z.string() })),
});
export type SystemStatus = z.infer<typeof systemStatusResponse>;

export const apiKeyCreateBody = z
  .object({
    name: z.string().min(1).max(64),
    scopes: z.array(z.enum(SCOPES)).min(1).max(4),
    game_id: slug.optional().describe('required for the game scope: the key sees and changes only this game'),
  })
  .strict();

export const apiKey = z.object({
  id: uuid,
  name: z.string(),
  prefix: z.string().describe('first characters of the key'),
  scopes: z.array(z.enum(SCOPES)),
  game_id: z.string().nullable(),
  created_at: timestamp,
  last_used_at: timestamp.nullable(),
  revoked_at: timestamp.nullable(),
});
export type ApiKey = z.infer<typeof apiKey>;

/** GET /auth/whoami: the calling key, so a front end shows only the actions it may take. */
export const whoamiResponse = z.object({
  key_id: uuid,
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  game_id: z.string().nullable().describe('a game key sees and changes only this game'),
});
export type Whoami = z.infer<typeof whoamiResponse>;

export const apiKeyCreated = apiKey.extend({ key: z.string().describe('shown once; store it now') });
