import type { EventData, EventEnvelope } from '@agentvm/api/contract';

export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : `${Math.round(value * 100)} %`;
}

export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(value < 10 ? 1 : 0)} s`;
  if (value < 7200) return `${Math.round(value / 60)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

export function timeAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

export function shortId(id: string): string {
  return id.slice(-8);
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Comma list → trimmed, non-empty items. */
export function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface Names {
  agent: (id: string | null | undefined) => string;
  task: (id: string | null | undefined) => string;
}

/** One line a person reads in the feed, naming agents and tasks instead of showing ids. */
export function describeEvent(event: EventEnvelope, names: Names): string {
  const q = (id: string) => `“${truncate(names.task(id), 60)}”`;
  switch (event.type) {
    case 'agent.created': {
      const d = event.data as EventData<'agent.created'>;
      return `${d.agent.name} joined (${d.agent.agent_type}, ${d.agent.personality.replace('_', ' ')})`;
    }
    case 'agent.updated': {
      const d = event.data as EventData<'agent.updated'>;
      return `${d.agent.name} updated: ${d.changed.join(', ') || 'fields'}`;
    }
    case 'agent.state_changed': {
      const d = event.data as EventData<'agent.state_changed'>;
      const change = d.previous_status === d.status ? d.status : `${d.previous_status} → ${d.status}`;
      return `${names.agent(d.agent_id)} ${change}${d.activity ? ` · ${d.activity}` : ''}${d.activity_detail ? ` (${truncate(d.activity_detail, 50)})` : ''}`;
    }
    case 'agent.deleted': {
      const d = event.data as EventData<'agent.deleted'>;
      return `${d.name} was deleted`;
    }
    case 'task.created': {
      const d = event.data as EventData<'task.created'>;
      const who = d.task.agent_id ? ` for ${names.agent(d.task.agent_id)}` : d.task.team_size ? ` for a team of ${d.task.team_size}` : '';
      return `“${truncate(d.task.description, 60)}” queued${who} · ${d.task.priority}`;
    }
    case 'task.assigned': {
      const d = event.data as EventData<'task.assigned'>;
      return `${q(d.task_id)} assigned to ${names.agent(d.agent_id)}${d.attempt > 1 ? ` (attempt ${d.attempt})` : ''}`;
    }
    case 'task.started': {
      const d = event.data as EventData<'task.started'>;
      return `${names.agent(d.agent_id)} started ${q(d.task_id)}`;
    }
    case 'task.completed': {
      const d = event.data as EventData<'task.completed'>;
      const took = d.duration_ms !== null ? ` in ${seconds(d.duration_ms / 1000)}` : '';
      return `${d.agent_id ? names.agent(d.agent_id) : 'The team'} completed ${q(d.task_id)}${took}`;
    }
    case 'task.failed': {
      const d = event.data as EventData<'task.failed'>;
      return `${q(d.task_id)} failed: ${truncate(d.error.message, 80)}${d.will_retry ? ' — will retry' : ''}`;
    }
    case 'task.cancelled': {
      const d = event.data as EventData<'task.cancelled'>;
      return `${q(d.task_id)} cancelled (${d.reason.replace(/_/g, ' ')})`;
    }
    case 'game.connected': {
      const d = event.data as EventData<'game.connected'>;
      return `Game ${d.game_id} connected${d.engine ? ` from ${d.engine}${d.engine_version ? ` ${d.engine_version}` : ''}` : ''}`;
    }
    case 'game.disconnected': {
      const d = event.data as EventData<'game.disconnected'>;
      return `Game ${d.game_id} disconnected (${d.reason})`;
    }
    case 'game.scene_updated': {
      const d = event.data as EventData<'game.scene_updated'>;
      return `Scene ${d.scene.name ?? d.scene.scene_id} of ${d.scene.game_id} updated`;
    }
    default:
      return truncate(JSON.stringify(event.data), 120);
  }
}

/** The agent and task an event is about, for filtering and linking. */
export function eventSubjects(event: EventEnvelope): { agentId: string | null; taskId: string | null } {
  const d = event.data as { agent_id?: unknown; task_id?: unknown; agent?: { id?: unknown }; task?: { id?: unknown; agent_id?: unknown } };
  const agentId = d.agent_id ?? d.agent?.id ?? d.task?.agent_id ?? null;
  const taskId = d.task_id ?? d.task?.id ?? null;
  return { agentId: typeof agentId === 'string' ? agentId : null, taskId: typeof taskId === 'string' ? taskId : null };
}
