import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { fastPathOf } from '../contract/fast-path.js';
import { AppError, type ErrorDetail } from '../lib/errors.js';

function valueAt(data: unknown, path: PropertyKey[]): unknown {
  let node: unknown = data;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Turns zod issues into details that name the field the way a client wrote it (`position.x`). */
export function issuesToDetails(issues: z.core.$ZodIssue[], data: unknown): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        details.push({ field: path ? `${path}.${key}` : key, message: 'unknown field' });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && valueAt(data, issue.path) === undefined) message = 'Required';
    else if (message.startsWith('Invalid input: ')) message = message.slice('Invalid input: '.length);
    details.push({ field: path || '(body)', message });
  }
  return details;
}

/**
 * How deeply a body, query or path may nest. Deeper JSON is never useful here, and serializing
 * it (JSON.stringify is recursive: the metadata size check, the jsonb columns) would exhaust the
 * stack: a 5,000-level array in `metadata` answered 500 before this limit.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * What no route accepts, found in one walk before the schema runs: nesting deeper than `max`
 * levels (named by its top-level field) and the NUL character in a string or a key (named by
 * its full path) — Postgres text and jsonb cannot hold NUL, so such input is refused up front
 * instead of failing deep in a statement. The walk never goes deeper than `max` + 1 frames, so
 * it is safe at any depth; it allocates only on the way back from a finding (the hot routes
 * walk every body).
 */
export function findUnsafe(value: unknown, max = MAX_JSON_DEPTH): ErrorDetail | null {
  const path: string[] = [];
  const found = walkUnsafe(value, 1, max, path);
  if (found === null) return null;
  path.reverse();
  if (found === 'deep') return { field: path[0] ?? '(body)', message: `nested deeper than ${max} levels` };
  return { field: path.join('.') || '(body)', message: 'must not contain the NUL character (\\u0000)' };
}

/** findUnsafe's walk: what it found, with `path` filled leaf first. */
function walkUnsafe(node: unknown, depth: number, max: number, path: string[]): 'deep' | 'nul' | null {
  if (typeof node === 'string') return node.includes('\u0000') ? 'nul' : null;
  if (node === null || typeof node !== 'object') return null;
  if (depth > max) return 'deep';
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const found = walkUnsafe(node[i], depth + 1, max, path);
      if (found !== null) {
        path.push(String(i));
        return found;
      }
    }
    return null;
  }
  for (const key in node) {
    if (key.includes('\u0000')) {
      path.push(key.split('\u0000').join('\\0'));
      return 'nul';
    }
    const found = walkUnsafe((node as Record<string, unknown>)[key], depth + 1, max, path);
    if (found !== null) {
      path.push(key);
      return found;
    }
  }
  return null;
}

export class RequestValidationError extends AppError {
  readonly validationContext: string;
  constructor(details: ErrorDetail[], context: string) {
    const first = details[0] ?? { field: context, message: 'invalid' };
    const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
    super(400, 'validation_failed', `${first.field}: ${first.message}${more}`, details);
    this.validationContext = context;
  }
}

/**
 * Validates body, querystring and params with the route's zod schema. Fastify turns a returned
 * Error into the request's error, which the error handler renders in the contract's shape.
 * A schema with a fast path (contract/fast-path.ts: the position routes) is checked by hand
 * first; what the hand check does not plainly accept goes through the walk and zod as always.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const fast = fastPathOf(schema);
  return (raw) => {
    // Fastify hands an absent body over as null; routes with an optional body accept that.
    const data = httpPart === 'body' && raw === null ? undefined : raw;
    if (fast?.(data)) return { value: data };
    const unsafe = findUnsafe(data);
    if (unsafe !== null) return { error: new RequestValidationError([unsafe], httpPart ?? 'body') };
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    if (httpPart === 'body' && (data === undefined || data === null)) {
      return {
        error: new RequestValidationError(
          [{ field: '(body)', message: 'Required: send a JSON object with Content-Type: application/json' }],
          'body',
        ),
      };
    }
    return { error: new RequestValidationError(issuesToDetails(result.error.issues, data), httpPart ?? 'body') };
  };
};
