/**
 * Hash routes, so deep links survive a reload and need nothing from the server:
 * `#/world`, `#/world/<agent id>`, `#/agents`, `#/agents/<agent id>`, `#/tasks`,
 * `#/tasks/<task id>`, `#/events`, `#/system`, `#/analytics`.
 */
export const VIEWS = ['world', 'agents', 'tasks', 'events', 'system', 'analytics'] as const;
export type View = (typeof VIEWS)[number];

export interface Route {
  view: View;
  /** The agent (world, agents) or task (tasks) whose details are open. */
  id: string | null;
}

export function parseRoute(hash: string): Route {
  const [view = '', id = ''] = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (!(VIEWS as readonly string[]).includes(view)) return { view: 'world', id: null };
  const opens = view === 'world' || view === 'agents' || view === 'tasks';
  return { view: view as View, id: opens && /^[0-9a-zA-Z-]{1,64}$/.test(id) ? id : null };
}

export function href(view: View, id?: string | null): string {
  return id ? `#/${view}/${encodeURIComponent(id)}` : `#/${view}`;
}

export function navigate(view: View, id?: string | null): void {
  const next = href(view, id);
  if (window.location.hash !== next) window.location.hash = next;
}
