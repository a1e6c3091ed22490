import { ValidationError } from './errors.js';

/**
 * Keyset cursors are opaque to clients: base64url of the last item's sort key. A tampered cursor
 * is a 400 naming `cursor`, never a 500.
 */
export function encodeCursor(parts: Array<string | number>): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, shape: Array<'string' | 'number'>): Array<string | number> | null {
  if (cursor === undefined || cursor === '') return null;
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(parts) || parts.length !== shape.length) throw new Error('shape');
    parts.forEach((p, i) => {
      if (typeof p !== shape[i]) throw new Error('type');
    });
    return parts as Array<string | number>;
  } catch {
    throw new ValidationError('cursor', 'not a cursor returned by this endpoint (start again without cursor)');
  }
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Fetch limit + 1 rows; this trims the extra one and builds the next cursor from the last kept. */
export function toPage<R, T>(rows: R[], limit: number, map: (row: R) => T, key: (row: R) => Array<string | number>): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept.map(map), next_cursor: more && last !== undefined ? encodeCursor(key(last)) : null };
}

/**
 * A (created_at, id) keyset position at the column's full precision. Postgres keeps microseconds
 * and a JS Date milliseconds, so a cursor built from a Date skipped rows that share the
 * millisecond (a collaborative task's subtasks, created in one transaction, share the whole
 * timestamp). The cursor carries the microseconds since the epoch as a decimal string instead.
 */
export interface TimeKey {
  micros: string;
  id: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Decodes a cursor made by `timeKeyCursor`; 400 naming `cursor` for anything else. */
export function decodeTimeKey(cursor: string | undefined): TimeKey | null {
  const parts = decodeCursor(cursor, ['string', 'string']);
  if (!parts) return null;
  const [micros, id] = parts as [string, string];
  if (!/^-?\d{1,18}$/.test(micros) || !UUID_RE.test(id)) {
    throw new ValidationError('cursor', 'not a cursor returned by this endpoint (start again without cursor)');
  }
  return { micros, id };
}

/** The cursor part of a row that selected `micros` (see `microsOf`). */
export function timeKeyCursor(row: { micros: string; id: string }): Array<string | number> {
  return [row.micros, row.id];
}
