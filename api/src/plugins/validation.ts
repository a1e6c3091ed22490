import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
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
 * Postgres text and jsonb cannot hold the NUL character: such input is refused up front with
 * the field named, instead of failing deep in a statement. Returns the path of the first one.
 */
export function findNul(value: unknown, path: string[] = [], depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path.join('.') || '(body)' : null;
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key.split('\u0000').join('\\0')].join('.');
    const found = findNul(child, [...path, key], depth + 1);
    if (found !== null) return found;
  }
  return null;
}

/**
 * How deeply a body, query or path may nest. Deeper JSON is never useful here, and serializing
 * it (JSON.stringify is recursive: the metadata size check, the jsonb columns) would exhaust the
 * stack: a 5,000-level array in `metadata` answered 500 before this limit.
 */
export const MAX_JSON_DEPTH = 64;

/** The top-level field holding a container nested deeper than `max` levels, or null. Iterative: safe at any depth. */
export function findTooDeep(value: unknown, max = MAX_JSON_DEPTH): string | null {
  if (value === null || typeof value !== 'object') return null;
  const stack: Array<{ node: object; depth: number; field: string }> = [{ node: value, depth: 1, field: '(body)' }];
  while (stack.length > 0) {
    const { node, depth, field } = stack.pop()!;
    if (depth > max) return field;
    for (const [key, child] of Object.entries(node)) {
      if (child !== null && typeof child === 'object') stack.push({ node: child, depth: depth + 1, field: depth === 1 ? key : field });
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
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (raw) => {
    // Fastify hands an absent body over as null; routes with an optional body accept that.
    const data = httpPart === 'body' && raw === null ? undefined : raw;
    const deep = findTooDeep(data);
    if (deep !== null)
      return {
        error: new RequestValidationError([{ field: deep, message: `nested deeper than ${MAX_JSON_DEPTH} levels` }], httpPart ?? 'body'),
      };
    const nul = findNul(data);
    if (nul !== null)
      return {
        error: new RequestValidationError([{ field: nul, message: 'must not contain the NUL character (\\u0000)' }], httpPart ?? 'body'),
      };
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
