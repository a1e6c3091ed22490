import { describe, expect, it } from 'vitest';
import { Store, type ChangeKind } from '../../src/state/store';
import { agent, ev, lifecycle, moved, task } from './fixtures';

describe('store: applying events', () => {
  it('follows an agent and a task through their lifecycle', () => {
    const s = new Store();
    s.apply(ev(1, 'agent.created', { agent: agent('a') }));
    const [created, assigned, started, busy] = lifecycle(2, 'a', 't');
    for (const e of [created!, assigned!, started!, busy!]) s.apply(e);
    s.apply(ev(null, 'task.progress', { task_id: 't', agent_id: 'a', progress: 0.5, message: 'half way', activity: 'testing' }));
    expect(s.tasks.get('t')).toMatchObject({ status: 'running', agent_id: 'a', progress: 0.5, message: 'half way', attempts: 1 });
    expect(s.agents.get('a')).toMatchObject({ status: 'busy', activity: 'testing', current_task_id: 't' });
    expect(s.currentTask(s.agents.get('a')!)?.id).toBe('t');

    s.apply(
      ev(6, 'task.failed', {
        task_id: 't',
        agent_id: 'a',
        error: { code: 'x', message: 'boom' },
        attempt: 1,
        will_retry: true,
        run_after: null,
      }),
    );
    expect(s.tasks.get('t')).toMatchObject({ status: 'queued', error: { code: 'x' } });
    expect(s.agents.get('a')!.tasks_failed).toBe(0); // a retry is not a failure yet
    s.apply(ev(7, 'task.completed', { task_id: 't', agent_id: 'a', result: 'ok', duration_ms: 5 }));
    expect(s.tasks.get('t')).toMatchObject({ status: 'completed', progress: 1, result: 'ok', error: null });
    expect(s.agents.get('a')!.tasks_completed).toBe(1);
    s.apply(ev(8, 'agent.deleted', { agent_id: 'a', name: 'a', agent_type: 'aider' }));
    expect(s.agents.has('a')).toBe(false);
    // The feed holds durable events only, newest first.
    expect(s.events.map((e) => e.seq)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(s.lastSeq).toBe(8);
  });

  it('keeps a finished task finished when late progress arrives', () => {
    const s = new Store();
    s.reset({ agents: [], tasks: [task('t', { status: 'completed', progress: 1 })], lastSeq: 3 });
    expect(s.apply(ev(null, 'task.progress', { task_id: 't', agent_id: null, progress: 0.4, message: null }))).toBe('ignored');
    expect(s.tasks.get('t')!.progress).toBe(1);
  });

  it('puts events about things it has not loaded in the feed without inventing state', () => {
    const s = new Store();
    expect(s.apply(ev(1, 'task.cancelled', { task_id: 'unknown', agent_id: null, reason: 'x' }))).toBe('applied');
    expect(s.tasks.size).toBe(0);
    expect(
      s.apply(ev(2, 'game.connected', { session_id: 's', game_id: 'g', engine: 'godot', engine_version: '4.4', scene_id: null })),
    ).toBe('applied');
    expect(s.events).toHaveLength(2);
  });
});

describe('store: dedupe by seq and replay', () => {
  it('applies a durable event once, however often it arrives', () => {
    const s = new Store();
    expect(s.apply(ev(1, 'agent.created', { agent: agent('a') }))).toBe('applied');
    expect(s.apply(ev(1, 'agent.created', { agent: agent('a', { name: 'dup' }) }))).toBe('duplicate');
    s.apply(ev(2, 'agent.updated', { agent: agent('a', { name: 'renamed' }), changed: ['name'] }));
    expect(s.apply(ev(2, 'agent.updated', { agent: agent('a', { name: 'old' }), changed: ['name'] }))).toBe('duplicate');
    expect(s.agents.get('a')!.name).toBe('renamed');
    expect(s.events).toHaveLength(2);
  });

  it('a resume that replays what was already seen changes nothing twice', () => {
    const live = lifecycle(2, 'a', 't');
    const s = new Store();
    s.apply(ev(1, 'agent.created', { agent: agent('a') }));
    s.applyAll(live.slice(0, 4));
    // The socket drops; the server replays from since=lastSeq … but a proxy resent some too.
    s.applyAll([...live.slice(2), ...live.slice(4)]);
    expect(s.events.map((e) => e.seq)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(s.agents.get('a')).toMatchObject({ status: 'idle', tasks_completed: 1 });
    expect(s.tasks.get('t')!.status).toBe('completed');
  });

  it('replaying the log onto a newer snapshot converges to the same state', () => {
    // Reference: every event applied to an empty store.
    const all = [ev(1, 'agent.created', { agent: agent('a') }), ...lifecycle(2, 'a', 't')];
    const reference = new Store();
    reference.applyAll(all);

    // The console read last_seq = 2, then fetched a snapshot that already includes seq 3–7.
    const s = new Store();
    s.reset({
      agents: [agent('a', { status: 'idle', tasks_completed: 1 })],
      tasks: [task('t', { status: 'completed', agent_id: 'a', progress: 1, attempts: 1 })],
      lastSeq: 2,
      settledSeq: 7,
    });
    s.applyAll(all); // the socket replays everything after since=2
    expect(s.agents.get('a')).toMatchObject({ status: 'idle', current_task_id: null, tasks_completed: 1 });
    expect(s.tasks.get('t')).toMatchObject({ status: 'completed', progress: 1 });
    expect(s.agents.get('a')!.status).toBe(reference.agents.get('a')!.status);
    expect(s.tasks.get('t')!.status).toBe(reference.tasks.get('t')!.status);
    // Events newer than the snapshot count again.
    s.applyAll(lifecycle(8, 'a', 't2'));
    expect(s.agents.get('a')!.tasks_completed).toBe(2);
  });

  it('drops events at or below a reset snapshot seq', () => {
    const s = new Store();
    s.reset({ agents: [agent('b')], tasks: [], lastSeq: 10 });
    expect(s.apply(ev(9, 'agent.created', { agent: agent('c') }))).toBe('duplicate');
    expect([...s.agents.keys()]).toEqual(['b']);
    expect(s.apply(ev(11, 'agent.created', { agent: agent('c') }))).toBe('applied');
  });

  it('holds events back while state is refetched, then applies those newer than the snapshot', () => {
    const s = new Store();
    s.reset({ agents: [agent('a')], tasks: [], lastSeq: 5 });
    s.beginResync(); // replay_gap: refetching
    expect(s.apply(ev(40, 'agent.created', { agent: agent('x') }))).toBe('buffered');
    expect(s.apply(ev(42, 'agent.created', { agent: agent('y') }))).toBe('buffered');
    expect(s.apply(moved('y', 3))).toBe('buffered');
    expect(s.agents.has('y')).toBe(false);
    s.reset({ agents: [agent('a'), agent('x')], tasks: [], lastSeq: 41 });
    expect(s.resyncing).toBe(false);
    expect([...s.agents.keys()].sort()).toEqual(['a', 'x', 'y']);
    expect(s.agents.get('y')!.position.x).toBe(3);
    expect(s.lastSeq).toBe(42);
  });

  it('a server whose log restarted lower (replay_gap) is followed after the reset', () => {
    const s = new Store();
    s.reset({ agents: [], tasks: [], lastSeq: 500 });
    s.beginResync();
    s.reset({ agents: [], tasks: [], lastSeq: 3 }); // the gap frame said last_seq 3
    expect(s.apply(ev(4, 'agent.created', { agent: agent('n') }))).toBe('applied');
  });

  it('fills the feed from history on reset, newest first and capped', () => {
    const s = new Store(3);
    s.reset({ agents: [], tasks: [], lastSeq: 5, history: [1, 2, 3, 4, 5].map((n) => ev(n, 'game.scene_updated', {})) });
    expect(s.events.map((e) => e.seq)).toEqual([5, 4, 3]);
    s.apply(ev(6, 'game.scene_updated', {}));
    expect(s.events.map((e) => e.seq)).toEqual([6, 5, 4]);
  });
});

describe('store: moves (volatile, coalesced)', () => {
  const setup = () => {
    const s = new Store();
    s.reset({ agents: [agent('a')], tasks: [], lastSeq: 1 });
    return s;
  };

  it('interpolates from where the NPC is drawn to the latest position', () => {
    const s = setup();
    s.apply(moved('a', 10), 1000);
    const a = () => s.agents.get('a')!;
    expect(a().position.x).toBe(10);
    expect(s.drawPosition(a(), 1000).x).toBe(0);
    expect(s.drawPosition(a(), 1050).x).toBeCloseTo(5);
    expect(s.moving('a', 1050)).toBe(true);
    expect(s.drawPosition(a(), 2000).x).toBe(10);
    expect(s.moving('a', 2000)).toBe(false);
  });

  it('a burst in one frame retargets the motion in flight instead of jumping', () => {
    const s = setup();
    s.apply(moved('a', 10), 1000);
    s.apply(moved('a', 20), 1050); // half way (x = 5) when the next position arrives
    s.apply(moved('a', 30), 1052);
    s.apply(moved('a', 40), 1053); // coalesced: same frame
    const a = s.agents.get('a')!;
    expect(a.position.x).toBe(40);
    const start = s.drawPosition(a, 1053).x;
    expect(start).toBeGreaterThan(4.9);
    expect(start).toBeLessThan(7); // it keeps going from there, no jump back or ahead
    expect(s.drawPosition(a, 1053 + 25).x).toBeGreaterThan(start);
    expect(s.drawPosition(a, 5000).x).toBe(40);
  });

  it('a steady stream of moves becomes motion at the stream’s pace', () => {
    const s = setup();
    for (let i = 1; i <= 5; i++) s.apply(moved('a', i), 1000 + i * 100);
    const a = s.agents.get('a')!;
    // 100 ms between positions → each motion lasts 100 ms: half way after 50 ms.
    expect(s.drawPosition(a, 1550).x).toBeCloseTo(4.5);
  });

  it('never moves the seq cursor, the feed, or the DOM revision', () => {
    const s = setup();
    const kinds: ChangeKind[] = [];
    s.subscribe((k) => kinds.push(k));
    const revision = s.revision;
    s.applyAll([moved('a', 1), moved('a', 2), moved('nobody', 3)], 10);
    expect(s.lastSeq).toBe(1);
    expect(s.events).toHaveLength(0);
    expect(s.revision).toBe(revision);
    expect(kinds).toEqual(['move']); // one notification for the batch
    s.applyAll([ev(2, 'agent.updated', { agent: agent('a', { name: 'n' }), changed: ['name'] }), moved('a', 4)], 20);
    expect(kinds).toEqual(['move', 'durable', 'move']);
    expect(s.agents.get('a')).toMatchObject({ name: 'n', position: { x: 4 } });
  });

  it('an update replayed after moves keeps the latest position', () => {
    const s = setup();
    s.apply(moved('a', 7), 10);
    // agent.updated carries the whole agent, position included, from when it was logged.
    s.apply(ev(2, 'agent.updated', { agent: agent('a', { name: 'n' }), changed: ['name'] }));
    expect(s.agents.get('a')).toMatchObject({ name: 'n', position: { x: 7 } });
  });
});
