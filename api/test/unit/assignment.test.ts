import { describe, expect, it } from 'vitest';
import {
  aggregateParentStatus,
  backoffMs,
  canTransition,
  chooseAgent,
  mayFreeSlot,
  planAssignments,
  type CandidateAgent,
  type QueuedTask,
} from '../../src/modules/tasks/assignment.js';

const agent = (id: string, over: Partial<CandidateAgent> = {}): CandidateAgent => ({
  id,
  agentType: 'aider',
  gameId: 'g',
  status: 'idle',
  capabilities: ['code', 'python'],
  idleSince: new Date('2026-01-01T00:00:00Z'),
  load: 0,
  capacity: 1,
  ...over,
});
const task = (over: Partial<QueuedTask> = {}): QueuedTask => ({
  id: 't',
  agentId: null,
  targeted: false,
  agentType: null,
  gameId: 'g',
  requiredCapabilities: [],
  ...over,
});

describe('chooseAgent', () => {
  it('picks the least loaded, then the longest idle, then by id', () => {
    const a = agent('a', { load: 1, capacity: 2 });
    const b = agent('b', { idleSince: new Date('2026-01-01T00:00:05Z') });
    const c = agent('c', { idleSince: new Date('2026-01-01T00:00:01Z') });
    expect(chooseAgent(task(), [a, b, c])?.id).toBe('c');
    const d = agent('d', { idleSince: c.idleSince });
    expect(chooseAgent(task(), [d, c])?.id).toBe('c');
    expect(chooseAgent(task(), [a])?.id).toBe('a');
  });

  it('requires same game, capacity, capabilities ⊇ required, preferred type, not offline/error', () => {
    const ok = agent('ok');
    expect(chooseAgent(task({ gameId: 'other' }), [ok])).toBeNull();
    expect(chooseAgent(task({ requiredCapabilities: ['code', 'rust'] }), [ok])).toBeNull();
    expect(chooseAgent(task({ requiredCapabilities: ['python'] }), [ok])?.id).toBe('ok');
    expect(chooseAgent(task({ agentType: 'claude' }), [ok])).toBeNull();
    expect(chooseAgent(task(), [agent('x', { status: 'offline' }), agent('y', { status: 'error' })])).toBeNull();
    expect(chooseAgent(task(), [agent('full', { load: 1 })])).toBeNull();
    expect(chooseAgent(task({ excludeAgents: new Set(['ok']) }), [ok])).toBeNull();
    expect(chooseAgent(task({ gameId: null }), [agent('n', { gameId: null })])?.id).toBe('n');
  });

  it('a targeted task waits for its agent only', () => {
    const target = agent('target', { load: 1 });
    const other = agent('other');
    expect(chooseAgent(task({ targeted: true, agentId: 'target' }), [target, other])).toBeNull();
    expect(chooseAgent(task({ targeted: true, agentId: 'target' }), [{ ...target, load: 0 }, other])?.id).toBe('target');
    expect(chooseAgent(task({ targeted: true, agentId: 'gone' }), [other])).toBeNull();
  });
});

describe('planAssignments', () => {
  it('counts each choice: a full agent takes no more, the next least loaded does', () => {
    const a = agent('a', { capacity: 2 });
    const b = agent('b', { idleSince: new Date('2026-01-02T00:00:00Z') });
    const plan = planAssignments([task({ id: '1' }), task({ id: '2' }), task({ id: '3' }), task({ id: '4' })], [a, b]);
    // a is idle longest, so it goes first; then b (load 0 < 1); then a again (its second slot)
    expect(plan.map((p) => [p.task.id, p.agent.id])).toEqual([
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'a'],
    ]);
    expect([a.load, b.load]).toEqual([2, 1]);
  });
});

describe('mayFreeSlot (which agent.state_changed wakes the worker)', () => {
  it('a start, an activity change or a lost runtime makes no room; going idle or coming back may', () => {
    expect(mayFreeSlot({ status: 'busy', previous_status: 'idle' })).toBe(false); // a task started
    expect(mayFreeSlot({ status: 'busy', previous_status: 'busy' })).toBe(false); // its activity changed
    expect(mayFreeSlot({ status: 'offline', previous_status: 'busy' })).toBe(false);
    expect(mayFreeSlot({ status: 'error', previous_status: 'idle' })).toBe(false);
    expect(mayFreeSlot({ status: 'idle', previous_status: 'busy' })).toBe(true); // a task finished
    expect(mayFreeSlot({ status: 'idle', previous_status: 'offline' })).toBe(true); // back
    expect(mayFreeSlot({ status: 'busy', previous_status: 'offline' })).toBe(true); // back, maybe with room
    expect(mayFreeSlot(undefined)).toBe(true); // unknown: wake
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter within [ceiling/2, ceiling], capped', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const ceiling = Math.min(60_000, 1000 * 2 ** (attempt - 1));
      expect(backoffMs(attempt, 1000, 60_000, () => 0)).toBe(ceiling / 2);
      expect(backoffMs(attempt, 1000, 60_000, () => 1)).toBe(ceiling);
    }
    expect(backoffMs(30, 1000, 60_000, () => 0.5)).toBeLessThanOrEqual(60_000);
  });
});

describe('task state machine', () => {
  it('allows the documented transitions only', () => {
    expect(canTransition('queued', 'assigned')).toBe(true);
    expect(canTransition('assigned', 'running')).toBe(true);
    expect(canTransition('running', 'queued')).toBe(true); // retry
    expect(canTransition('running', 'completed')).toBe(true);
    for (const final of ['completed', 'failed', 'cancelled'] as const) {
      for (const to of ['queued', 'assigned', 'running', 'completed', 'failed', 'cancelled'] as const)
        expect(canTransition(final, to)).toBe(false);
    }
  });

  it('aggregates a collaborative parent from its subtasks', () => {
    expect(aggregateParentStatus(['queued', 'queued'])).toBe('queued');
    expect(aggregateParentStatus(['assigned', 'queued'])).toBe('assigned');
    expect(aggregateParentStatus(['running', 'queued'])).toBe('running');
    expect(aggregateParentStatus(['completed', 'queued'])).toBe('running');
    expect(aggregateParentStatus(['completed', 'completed'])).toBe('completed');
    expect(aggregateParentStatus(['completed', 'failed', 'running'])).toBe('failed');
    expect(aggregateParentStatus(['cancelled', 'running'])).toBe('failed');
  });
});
