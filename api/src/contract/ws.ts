import { z } from 'zod';

/** Query of GET /ws and GET /events. */
export const wsQuery = z
  .object({
    game_id: z.string().min(1).max(128).optional().describe('only this game’s events (a game key is always limited to its game)'),
    types: z.string().max(1000).optional().describe('comma list of types or wildcards: agent.*, task.completed, *'),
    since: z.coerce.number().int().min(0).optional().describe('the last seq this client saw: missed events are replayed first'),
    api_key: z.string().max(512).optional().describe('for browsers, which cannot set handshake headers (redacted from logs)'),
  })
  .strict();

export const eventsQuery = z
  .object({
    since: z.coerce.number().int().min(0).default(0).describe('events with seq greater than this'),
    game_id: z.string().min(1).max(128).optional(),
    agent_id: z.uuid({ message: 'must be a UUID' }).optional(),
    task_id: z.uuid({ message: 'must be a UUID' }).optional(),
    types: z.string().max(1000).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

/** Client → server frames. */
export const clientFrame = z.discriminatedUnion('op', [
  z.object({ op: z.literal('ping'), id: z.union([z.string().max(64), z.number()]).optional() }).strict(),
  z
    .object({
      op: z.literal('subscribe'),
      game_id: z.string().min(1).max(128).nullable().optional(),
      types: z.union([z.string().max(1000), z.array(z.string().max(64)).max(50)]).optional(),
    })
    .strict(),
]);
export type ClientFrame = z.infer<typeof clientFrame>;

export const WS_CLOSE_CODES = {
  1001: 'server shutting down (reconnect with since)',
  1007: 'a text frame that is not valid UTF-8',
  1008: 'policy: bad key or scope',
  1009: 'a frame larger than ws.max_payload_bytes',
  1011: 'replay from the log failed (reconnect with since)',
  4008: 'too slow to keep up (reconnect with since=<last seq>)',
} as const;
