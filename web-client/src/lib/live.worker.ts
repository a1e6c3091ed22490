/// <reference lib="webworker" />
import type { EventEnvelope } from '@agentvm/api/contract';
import { LiveConnection } from './live';
import type { WorkerCommand, WorkerReport } from './live-client';

/**
 * The console's WebSocket, off the main thread. A game streams every agent's position many
 * times a second — 1,000 agents at 10 moves/s are 10,000 socket messages a second, and each
 * message costs the thread that receives it a task of its own. Here they are parsed, coalesced
 * (the latest move per agent and progress per task win) and handed to the page in one message
 * per frame, so the page's thread is left to draw.
 */

const FLUSH_MS = 16;
const scope = self as unknown as DedicatedWorkerGlobalScope;
let connection: LiveConnection | null = null;
let since = 0;
let pending: EventEnvelope[] = [];
/** Where in `pending` the last volatile event about an agent or task sits. */
let slots = new Map<string, number>();
let timer: ReturnType<typeof setTimeout> | undefined;

const report = (message: WorkerReport) => scope.postMessage(message);

function flush(): void {
  timer = undefined;
  if (pending.length === 0) return;
  report({ type: 'events', events: pending });
  pending = [];
  slots = new Map();
}

function queue(events: EventEnvelope[]): void {
  for (const event of events) {
    if (event.seq !== null) {
      since = Math.max(since, event.seq);
      pending.push(event);
      continue;
    }
    const d = event.data as { agent_id?: string; task_id?: string };
    const key = event.type === 'task.progress' ? `t:${d.task_id}` : `a:${d.agent_id}:${event.type}`;
    const at = slots.get(key);
    if (at !== undefined)
      pending[at] = event; // coalesced: only the latest counts
    else {
      slots.set(key, pending.length);
      pending.push(event);
    }
  }
  timer ??= setTimeout(flush, FLUSH_MS);
}

scope.onmessage = (message: MessageEvent<WorkerCommand>) => {
  const command = message.data;
  switch (command.type) {
    case 'start':
      since = command.since;
      connection?.stop();
      connection = new LiveConnection({
        key: command.key,
        gameId: command.gameId,
        url: command.url,
        since: () => since,
        onEvents: queue,
        onStatus: (status) => {
          if (status.state !== 'live') flush();
          report({ type: 'status', status });
        },
        onGap: (lastSeq) => {
          flush();
          report({ type: 'gap', lastSeq });
        },
      });
      connection.start();
      break;
    case 'since':
      since = command.since;
      break;
    case 'reconnect':
      connection?.reconnectNow();
      break;
    case 'stop':
      connection?.stop();
      connection = null;
      clearTimeout(timer);
      pending = [];
      slots = new Map();
      break;
  }
};
