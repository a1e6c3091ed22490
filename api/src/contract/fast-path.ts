import { z } from 'zod';

/**
 * Hand-written checks for the bodies of the hottest routes (a game sends ~10 positions per
 * second per agent; zod's walk over a 100-position batch was ~15 % of the api's CPU on it).
 * A check answers `true` only for input its zod schema accepts and returns unchanged; for
 * anything else — including every invalid body — it answers `false` and zod judges it, so the
 * error a client sees is always zod's. test/unit/fast-path.test.ts holds each check to that
 * with generated bodies, valid and not.
 */
export type FastCheck = (data: unknown) => boolean;

const checks = new WeakMap<z.ZodType, FastCheck>();

/** Registers `check` as the fast path of `schema` (the request validator consults it first). */
export function withFastPath<T extends z.ZodType>(schema: T, check: FastCheck): T {
  checks.set(schema, check);
  return schema;
}

export function fastPathOf(schema: z.ZodType): FastCheck | undefined {
  return checks.get(schema);
}

/** zod's own pattern for `z.uuid()`, so both paths agree on what a UUID is. */
const UUID = z.regexes.uuid();

const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

/** An object as JSON.parse makes one (not an array, not null, no other prototype). */
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** Own enumerable keys, counted without allocating. */
function keyCount(o: object): number {
  let n = 0;
  for (const key in o) if (Object.hasOwn(o, key)) n++;
  return n;
}

/**
 * A position body (`positionBody`, and with `withAgent` a batch item): x, y and z finite,
 * rotation_y finite if present, scene_id a string of 1–128 UTF-16 units without NUL if present,
 * agent_id a UUID when asked for, and no other key.
 */
export function isPlainPosition(v: unknown, withAgent: boolean): boolean {
  if (!isPlainObject(v)) return false;
  if (!finite(v.x) || !finite(v.y) || !finite(v.z)) return false;
  let known = 3;
  if (v.rotation_y !== undefined) {
    if (!finite(v.rotation_y)) return false;
    known++;
  }
  const scene = v.scene_id;
  if (scene !== undefined) {
    if (typeof scene !== 'string' || scene.length < 1 || scene.length > 128 || scene.includes('\u0000')) return false;
    known++;
  }
  if (withAgent) {
    if (typeof v.agent_id !== 'string' || !UUID.test(v.agent_id)) return false;
    known++;
  }
  return keyCount(v) === known;
}

/** `{ positions: [...] }` with 1–`max` plain batch items and no other key. */
export function isPlainPositionBatch(v: unknown, max: number): boolean {
  if (!isPlainObject(v) || keyCount(v) !== 1) return false;
  const items = v.positions;
  if (!Array.isArray(items) || items.length < 1 || items.length > max) return false;
  for (let i = 0; i < items.length; i++) if (!isPlainPosition(items[i], true)) return false;
  return true;
}
