import { describe, expect, it } from 'vitest';
import { initialStatus, readyStatuses } from '../../src/modules/agents/agents.service.js';
import { gamesLosingIdleAgents, trafficGame } from '../../src/modules/games/games.plugin.js';
import { sweepEveryMs, touchEveryMs, wsUrl } from '../../src/modules/games/games.service.js';
import type { Actor } from '../../src/lib/access.js';

const admin: Actor = { keyId: 'k', name: 'admin', scopes: ['admin'], gameId: null };
const gameKey: Actor = { keyId: 'k', name: 'game', scopes: ['game'], gameId: 'mine' };

describe('game sessions', () => {
  it('touches sessions often enough to beat the timeout, and sweeps within 1.25× of it', () => {
    expect(touchEveryMs(300)).toBe(5000);
    expect(touchEveryMs(1)).toBe(250);
    expect(sweepEveryMs(300)).toBe(30_000);
    expect(sweepEveryMs(8)).toBe(2000);
    expect(sweepEveryMs(1)).toBe(1000);
    for (const timeout of [1, 2, 10, 60, 300, 86_400]) {
      expect(touchEveryMs(timeout)).toBeLessThan(timeout * 1000);
      expect(Math.min(sweepEveryMs(timeout), timeout * 1000)).toBeLessThanOrEqual(timeout * 1000);
    }
  });

  it('counts a request as a game’s traffic by its key, its path or its body — not by a query filter', () => {
    expect(trafficGame({ actor: gameKey, params: {}, body: undefined })).toBe('mine');
    expect(trafficGame({ actor: admin, params: { game_id: 'demo' }, body: undefined })).toBe('demo');
    expect(trafficGame({ actor: admin, params: {}, body: { game_id: 'demo', name: 'x' } })).toBe('demo');
    expect(trafficGame({ actor: admin, params: {}, body: { game_id: 42 } })).toBeNull();
    expect(trafficGame({ actor: admin, params: {}, body: [1, 2] })).toBeNull();
    expect(trafficGame({ actor: admin, params: {}, body: null })).toBeNull();
  });

  it('builds the WebSocket URL from how the caller reached the service', () => {
    expect(wsUrl({ protocol: 'http', host: 'localhost:8000' }, 'demo')).toBe('ws://localhost:8000/ws?game_id=demo');
    expect(wsUrl({ protocol: 'https', host: 'api.example.com' }, 'a:b')).toBe('wss://api.example.com/ws?game_id=a%3Ab');
  });
});

describe('auto-spawn', () => {
  it('sees games losing idle agents in bus messages', () => {
    const line = (type: string, game: string | null, data: object) => JSON.stringify({ seq: 1, type, ts: '', game_id: game, data });
    const message = [
      line('agent.state_changed', 'g1', { status: 'busy', previous_status: 'idle' }), // took work
      line('agent.state_changed', 'g2', { status: 'idle', previous_status: 'busy' }), // came back
      line('agent.deleted', 'g3', { agent_id: 'x' }),
      line('agent.state_changed', null, { status: 'offline', previous_status: 'idle' }), // no game
      line('agent.moved', 'g4', {}),
      '{"type":"agent.deleted", broken',
    ].join('\n');
    expect([...gamesLosingIdleAgents(message)].sort()).toEqual(['g1', 'g3']);
    expect(gamesLosingIdleAgents(line('task.progress', 'g1', {})).size).toBe(0);
  });

  it('counts external agents waiting for their runtime as ready (they start offline)', () => {
    expect(initialStatus({ runtime: 'simulated' })).toBe('idle');
    expect(initialStatus({ runtime: 'external' })).toBe('offline');
    expect(readyStatuses({ runtime: 'command' })).toEqual(['idle']);
    expect(readyStatuses({ runtime: 'external' })).toEqual(['idle', 'offline']);
    for (const runtime of ['simulated', 'command', 'external', 'agentvm'] as const) {
      expect(readyStatuses({ runtime })).toContain(initialStatus({ runtime })); // a fresh agent always counts
    }
  });
});
