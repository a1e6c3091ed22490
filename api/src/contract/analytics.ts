import { z } from 'zod';
import { timestamp, uuid } from './common.js';

export const analyticsQuery = z
  .object({
    game_id: z.string().min(1).max(128).optional(),
    agent_type: z.string().min(1).max(32).optional(),
    since: z.iso
      .datetime({ offset: true, message: 'must be an ISO-8601 timestamp' })
      .optional()
      .describe('window start (default: 24 hours ago)'),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(512).optional(),
  })
  .strict();

const figures = {
  completed: z.number().int(),
  failed: z.number().int(),
  success_rate: z.number().nullable().describe('completed / (completed + failed); null without finished tasks'),
  duration_p50_s: z.number().nullable().describe('started → completed'),
  duration_p95_s: z.number().nullable(),
  queue_wait_p50_s: z.number().nullable().describe('created → started'),
  queue_wait_p95_s: z.number().nullable(),
};

export const agentAnalytics = z.object({ agent_id: uuid, name: z.string(), agent_type: z.string(), ...figures });
export const typeAnalytics = z.object({ agent_type: z.string(), agents: z.number().int(), ...figures });

export const analyticsResponse = z.object({
  since: timestamp,
  until: timestamp,
  items: z.array(agentAnalytics),
  next_cursor: z.string().nullable(),
  by_type: z.array(typeAnalytics),
});
export type AnalyticsResponse = z.infer<typeof analyticsResponse>;
