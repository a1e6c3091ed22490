import { EVENT_TYPES } from '../../contract/events.js';
import { ValidationError } from '../../lib/errors.js';

/**
 * Event type filters: a comma list of exact types or wildcards (`agent.*`, `*.completed`, `*`).
 * Compiled once per subscription; matching is a regex test per event.
 */
export interface TypeFilter {
  patterns: string[];
  test(type: string): boolean;
  /** The same patterns for SQL LIKE (replay reads). */
  likePatterns(): string[];
}

const PATTERN_RE = /^[a-z*][a-z_.*]{0,63}$/;

export function parseTypes(raw: string | string[] | undefined, field = 'types'): TypeFilter {
  const list = (Array.isArray(raw) ? raw : (raw ?? '').split(',')).map((s) => s.trim()).filter(Boolean);
  for (const p of list) {
    if (!PATTERN_RE.test(p)) throw new ValidationError(field, `"${p}" is not an event type or wildcard (e.g. agent.*, task.completed)`);
    if (!p.includes('*') && !EVENT_TYPES.includes(p as (typeof EVENT_TYPES)[number])) {
      throw new ValidationError(field, `unknown event type "${p}"; see GET /events/catalog`);
    }
  }
  if (list.length === 0 || list.includes('*')) {
    return { patterns: [], test: () => true, likePatterns: () => [] };
  }
  const regexes = list.map((p) => new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '[a-z_.]*')}$`));
  return {
    patterns: list,
    test: (type) => regexes.some((re) => re.test(type)),
    likePatterns: () => list.map((p) => p.replace(/_/g, '\\_').replace(/\*/g, '%')),
  };
}
