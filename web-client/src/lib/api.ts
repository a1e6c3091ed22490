import type {
  Agent,
  AnalyticsResponse,
  AssignTaskBody,
  CollaborativeTaskBody,
  CreateAgentBody,
  ErrorBody,
  EventEnvelope,
  GameSummary,
  Scene,
  SystemStatus,
  Task,
  Whoami,
} from '@agentvm/api/contract';

/**
 * An error in the contract's shape. `fields` maps each field the api named (first path segment,
 * so `depends_on.0` → `depends_on`) to its message, for showing next to the form field.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
    readonly retryAfterS: number | null = null,
    readonly requestId: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface EventsPage extends Page<EventEnvelope> {
  last_seq: number;
}

type Query = Record<string, string | number | undefined | null>;

function qs(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Turns a failed response into an ApiError (the contract's error shape; 429 says when to retry). */
export async function toApiError(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as Partial<ErrorBody> | null;
  const err = body?.error;
  const retryHeader = Number(res.headers.get('retry-after'));
  const retryAfterS = Number.isFinite(retryHeader) && retryHeader > 0 ? Math.ceil(retryHeader) : null;
  const fields: Record<string, string> = {};
  for (const detail of err?.details ?? []) {
    const field = typeof detail.field === 'string' ? detail.field.split('.')[0]! : '';
    if (field && !(field in fields)) fields[field] = String(detail.message ?? 'invalid');
  }
  let message = err?.message ?? `the api answered ${res.status} ${res.statusText}`.trim();
  if (res.status === 429) message = `Too many requests — try again in ${retryAfterS ?? 'a few'} s.`;
  if (res.status >= 500 && !err) message = `The api failed (${res.status}); try again.`;
  return new ApiError(res.status, err?.code ?? 'http_error', message, fields, retryAfterS, body?.request_id ?? null);
}

/** A thin typed client over the REST api; every path and body type comes from the contract. */
export class Api {
  constructor(
    readonly key: string,
    readonly base = '',
  ) {}

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: { 'x-api-key': this.key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, 'network', 'Cannot reach the api — is it running?');
    }
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** Every page of a list, up to `max` items. */
  async all<T>(path: string, query: Query = {}, max = 5000): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page: Page<T> = await this.request<Page<T>>('GET', `${path}${qs({ ...query, limit: 500, cursor })}`);
      items.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor && items.length < max);
    return items;
  }

  whoami = () => this.request<Whoami>('GET', '/auth/whoami');
  systemStatus = () => this.request<SystemStatus>('GET', '/system/status');

  agents = (gameId: string | null) => this.all<Agent>('/agents', { game_id: gameId });
  agent = (id: string) => this.request<Agent>('GET', `/agents/${encodeURIComponent(id)}`);
  createAgent = (body: CreateAgentBody) => this.request<Agent>('POST', '/agents/create', body);
  deleteAgent = (id: string) => this.request<void>('DELETE', `/agents/${encodeURIComponent(id)}`);

  tasks = (query: { game_id?: string | null; status?: string; agent_id?: string; parent_id?: string }, max = 500) =>
    this.all<Task>('/tasks', query, max);
  task = (id: string) => this.request<Task>('GET', `/tasks/${encodeURIComponent(id)}`);
  assignTask = (body: AssignTaskBody) => this.request<Task>('POST', '/tasks/assign', body);
  collaborativeTask = (body: CollaborativeTaskBody) => this.request<Task & { subtasks: Task[] }>('POST', '/tasks/collaborative', body);
  cancelTask = (id: string) => this.request<Task>('POST', `/tasks/${encodeURIComponent(id)}/cancel`);

  games = () => this.all<GameSummary>('/games', {}, 1000);
  scenes = (gameId: string) => this.request<Page<Scene>>('GET', `/game/scenes${qs({ game_id: gameId })}`).then((p) => p.items);

  events = (query: { since?: number; game_id?: string | null; agent_id?: string; task_id?: string; types?: string; limit?: number }) =>
    this.request<EventsPage>('GET', `/events${qs(query)}`);

  analytics = (query: { game_id?: string | null; agent_type?: string; since?: string }) =>
    this.request<AnalyticsResponse>('GET', `/analytics/agents${qs({ ...query, limit: 500 })}`);
}
