import { z } from 'zod';

/**
 * Building blocks of the wire contract. This folder imports nothing from the app, so the web
 * console can import it alone (`@agentvm/api/contract`).
 */

export const uuid = z.uuid({ message: 'must be a UUID' });
export const timestamp = z.string().describe('ISO-8601 UTC timestamp');
/** Client-chosen ids (games, scenes): short, URL-safe. */
export const slug = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, ".", "_", ":" and "-" only, starting with a letter or digit');

const MAX_METADATA_BYTES = 16 * 1024;
// TextEncoder, not Buffer: the contract also runs in the browser console.
const utf8 = new TextEncoder();
/** Free-form JSON object, at most 16 KiB serialized. */
export const metadata = z
  .record(z.string(), z.unknown())
  .refine((value) => utf8.encode(JSON.stringify(value)).length <= MAX_METADATA_BYTES, {
    message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
  });

/** Finite numbers only: JSON cannot carry NaN/Infinity, and strings are rejected. */
export const coordinate = z.number().refine(Number.isFinite, 'must be a finite number');

export const position = z.object({ x: coordinate, y: coordinate, z: coordinate }).strict();
export type Position = z.infer<typeof position>;

export const errorBody = z
  .object({
    error: z.object({
      code: z
        .string()
        .describe(
          'validation_failed, unauthorized, forbidden, not_found, conflict, limit_reached, payload_too_large, rate_limited, unavailable, …',
        ),
      message: z.string(),
      details: z.array(z.record(z.string(), z.unknown())).optional(),
    }),
    request_id: z.string(),
    detail: z.string().optional().describe('the original AgentVM API’s error string (its /agent/* routes only)'),
  })
  .describe('Every error has this shape');
export type ErrorBody = z.infer<typeof errorBody>;

export const limitQuery = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback).describe(`page size, 1–${max}`);
export const cursorQuery = z.string().max(512).optional().describe('next_cursor of the previous page');

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });

/** Error responses every authenticated route may return (documented in OpenAPI). */
export const commonErrors = {
  400: errorBody,
  401: errorBody,
  403: errorBody,
  429: errorBody,
  503: errorBody,
} as const;

export const SCOPES = ['admin', 'game', 'runtime', 'read'] as const;
export type Scope = (typeof SCOPES)[number];
