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
