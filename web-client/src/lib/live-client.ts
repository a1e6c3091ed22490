import type { EventEnvelope } from '@agentvm/api/contract';
import { LiveConnection, type LinkStatus, type LiveOptions } from './live';

export type WorkerCommand =
  | { type: 'start'; key: string; gameId: string | null; url: string; since: number }
  | { type: 'since'; since: number }
  | { type: 'reconnect' }
  | { type: 'stop' };

export type WorkerReport =
  { type: 'events'; events: EventEnvelope[] } | { type: 'status'; status: LinkStatus } | { type: 'gap'; lastSeq: number };

export interface Live {
  start(): void;
  stop(): void;
  reconnectNow(): void;
  /** The client's position in the log changed other than by receiving (a resync reset it). */
  setSince(seq: number): void;
}

/**
 * The live connection for the page: in a dedicated worker (see live.worker.ts) where the
 * browser has workers, else on the page's thread.
 */
export function openLive(options: LiveOptions): Live {
  if (typeof Worker === 'undefined') {
    const connection = new LiveConnection(options);
    return {
      start: () => connection.start(),
      stop: () => connection.stop(),
      reconnectNow: connection.reconnectNow,
      setSince: () => undefined,
    };
  }
  const worker = new Worker(new URL('./live.worker.ts', import.meta.url), { type: 'module', name: 'agentvm-live' });
  const send = (command: WorkerCommand) => worker.postMessage(command);
  worker.onmessage = (message: MessageEvent<WorkerReport>) => {
    const report = message.data;
    if (report.type === 'events') options.onEvents(report.events);
    else if (report.type === 'status') options.onStatus(report.status);
    else options.onGap(report.lastSeq);
  };
  return {
    start: () =>
      send({ type: 'start', key: options.key, gameId: options.gameId, url: options.url ?? window.location.href, since: options.since() }),
    stop: () => {
      send({ type: 'stop' });
      worker.terminate();
    },
    reconnectNow: () => send({ type: 'reconnect' }),
    setSince: (seq) => send({ type: 'since', since: seq }),
  };
}
