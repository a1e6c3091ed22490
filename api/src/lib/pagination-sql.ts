import { sql, type Column, type SQL } from 'drizzle-orm';
import type { TimeKey } from './pagination.js';

export type { TimeKey } from './pagination.js';

/** A timestamptz column as whole microseconds since the epoch, as text (exact; see TimeKey). */
export function microsOf(column: Column): SQL<string> {
  return sql<string>`(extract(epoch from ${column}) * 1000000)::bigint::text`;
}

/** The timestamptz a TimeKey stands for, exactly. */
export function afterTime(key: TimeKey): SQL {
  return sql`(timestamptz 'epoch' + ${key.micros}::bigint * interval '1 microsecond')`;
}
