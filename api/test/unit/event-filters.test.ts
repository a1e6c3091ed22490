import { describe, expect, it } from 'vitest';
import { parseTypes } from '../../src/modules/events/filters.js';
import { matches, parseLine } from '../../src/modules/events/hub.js';

describe('event type filters', () => {
  it('matches exact types and wildcards', () => {
    const f = parseTypes('agent.*, task.completed');
    expect(f.test('agent.moved')).toBe(true);
    expect(f.test('agent.state_changed')).toBe(true);
    expect(f.test('task.completed')).toBe(true);
    expect(f.test('task.failed')).toBe(false);
    expect(f.likePatterns()).toEqual(['agent.%', 'task.completed']);
    expect(parseTypes('*.completed').test('task.completed')).toBe(true);
    expect(parseTypes(undefined).test('anything')).toBe(true);
    expect(parseTypes('*').patterns).toEqual([]);
  });

  it('rejects unknown types and junk, naming the field', () => {
    expect(() => parseTypes('agent.teleported')).toThrow(/^types: unknown event type "agent.teleported"/);
    expect(() => parseTypes("agent.'; drop")).toThrow(/^types: ".*" is not an event type/);
  });

  it('parses envelopes once and keys volatile events for coalescing', () => {
    const moved = parseLine(JSON.stringify({ seq: null, type: 'agent.moved', ts: 'x', game_id: 'g', data: { agent_id: 'a1' } }))!;
    expect(moved).toMatchObject({ seq: null, gameId: 'g', key: 'a:a1:agent.moved' });
    const progress = parseLine(
      JSON.stringify({ seq: null, type: 'task.progress', ts: 'x', game_id: null, data: { task_id: 't1', agent_id: 'a1' } }),
    )!;
    expect(progress.key).toBe('t:t1');
    expect(parseLine(JSON.stringify({ seq: 5, type: 'task.created', ts: 'x', game_id: 'g', data: {} }))!.key).toBeNull();
    expect(parseLine('not json')).toBeNull();
    expect(matches({ gameId: 'g', types: parseTypes('task.*') }, { type: 'task.created', gameId: 'g' })).toBe(true);
    expect(matches({ gameId: 'g', types: parseTypes('task.*') }, { type: 'task.created', gameId: 'h' })).toBe(false);
    expect(matches({ gameId: null, types: parseTypes('') }, { type: 'task.created', gameId: null })).toBe(true);
  });
});
