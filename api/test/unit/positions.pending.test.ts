import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingPositions, type PositionWrite } from '../../src/modules/agents/positions.pending.js';

const A = '01900000-0000-7000-8000-00000000000a';
const B = '01900000-0000-7000-8000-00000000000b';
const C = '01900000-0000-7000-8000-00000000000c';

const at = (agentId: string, x: number, extra: Partial<PositionWrite> = {}): PositionWrite => ({
  agentId,
  x,
  y: 0,
  z: 0,
  rotationY: null,
  sceneId: null,
  ...extra,
});

describe('pending positions (the coalescing rule)', () => {
  it('a view keeps a position a flush settled while the read was under way', () => {
    const p = new PendingPositions();
    p.put(at(A, 4));
    const view = p.openView(); // the read starts: it may see the row from before the flush
    const batch = p.take();
    p.settle(batch, true); // the flush commits and settles before the read's overlay
    expect(p.get(A)).toBeUndefined(); // nothing pending any more...
    expect(view.get(A)?.x).toBe(4); // ...but the view still lays x=4 over what it read
    expect(p.retained).toBe(1);
    const later = p.openView(); // a read that starts now sees the row written by that flush
    expect(later.get(A)).toBeUndefined();
    view.close();
    later.close();
    expect(p.retained).toBe(0); // nothing kept once no view needs it
  });

  it('keeps nothing when no view is open, and drops what only closed views needed', () => {
    const p = new PendingPositions();
    p.put(at(A, 1));
    p.settle(p.take(), true);
    expect(p.retained).toBe(0);
    const old = p.openView();
    p.put(at(B, 2));
    p.settle(p.take(), true); // flush 2, needed by `old`
    const young = p.openView();
    p.put(at(C, 3));
    p.settle(p.take(), true); // flush 3, needed by both
    expect([old.get(B)?.x, old.get(C)?.x, young.get(B)?.x, young.get(C)?.x]).toEqual([2, 3, undefined, 3]);
    old.close();
    expect(p.retained).toBe(1); // B dropped, C still needed by `young`
    young.close();
    expect(p.retained).toBe(0);
    p.put(at(A, 9));
    p.forget(A);
    expect(p.openView().get(A)).toBeUndefined();
  });

  it('keeps only the newest position per agent', () => {
    const p = new PendingPositions();
    for (let i = 0; i < 100; i++) p.put(at(A, i));
    p.put(at(B, 7));
    expect(p.size).toBe(2);
    expect(p.get(A)?.x).toBe(99);
    expect(p.take().map((w) => [w.agentId, w.x])).toEqual([
      [A, 99],
      [B, 7],
    ]);
    expect(p.size).toBe(0);
  });

  it('does not lose a scene or rotation that a later write leaves out', () => {
    const p = new PendingPositions();
    p.put(at(A, 1, { sceneId: 'lobby', rotationY: 90 }));
    p.put(at(A, 2));
    expect(p.get(A)).toEqual(at(A, 2, { sceneId: 'lobby', rotationY: 90 }));
    p.put(at(A, 3, { sceneId: 'office' }));
    expect(p.get(A)).toEqual(at(A, 3, { sceneId: 'office', rotationY: 90 }));
  });

  it('hands out batches in agent-id order (a fixed lock order)', () => {
    const p = new PendingPositions();
    for (const id of [C, A, B]) p.put(at(id, 1));
    expect(p.take().map((w) => w.agentId)).toEqual([A, B, C]);
  });

  it('keeps a batch readable while it is being written, then lets it go', () => {
    const p = new PendingPositions();
    p.put(at(A, 1, { sceneId: 'lobby' }));
    const batch = p.take();
    expect(p.get(A)?.x).toBe(1); // in flight: a read must not fall back to the older row
    p.put(at(A, 2));
    expect(p.get(A)).toEqual(at(A, 2, { sceneId: 'lobby' })); // the newer one, with the scene still in flight
    p.settle(batch, true);
    expect(p.get(A)).toEqual(at(A, 2)); // the scene is in the database now; the row supplies it
    p.settle(p.take(), true);
    expect(p.get(A)).toBeUndefined();
  });

  it('puts a failed batch back, under newer positions, and not for forgotten agents', () => {
    const p = new PendingPositions();
    p.put(at(A, 1, { sceneId: 'lobby' }));
    p.put(at(B, 1));
    p.put(at(C, 1));
    const batch = p.take();
    p.put(at(A, 2)); // newer than the batch
    p.forget(C); // deleted meanwhile
    p.settle(batch, false);
    expect(p.get(A)).toEqual(at(A, 2, { sceneId: 'lobby' }));
    expect(p.get(B)?.x).toBe(1);
    expect(p.get(C)).toBeUndefined();
    expect(p.take().map((w) => w.agentId)).toEqual([A, B]);
  });

  it('matches a simple model under any sequence of writes, flushes, failures and deletions', () => {
    const agent = fc.constantFrom(A, B, C);
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('put' as const),
        agentId: agent,
        x: fc.integer(),
        sceneId: fc.option(fc.constantFrom('s1', 's2')),
        rotationY: fc.option(fc.integer({ min: 0, max: 359 })),
      }),
      fc.record({ kind: fc.constant('flush' as const), ok: fc.boolean() }),
      fc.record({ kind: fc.constant('forget' as const), agentId: agent }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const p = new PendingPositions();
        // The model: the database row, and the newest accepted write per agent (what reads see).
        const db = new Map<string, { x: number; sceneId: string | null; rotationY: number | null }>();
        const newest = new Map<string, { x: number; sceneId: string | null; rotationY: number | null }>();
        const deleted = new Set<string>();
        let inFlight: PositionWrite[] | null = null;
        const settle = (ok: boolean) => {
          if (!inFlight) return;
          if (ok) {
            for (const w of inFlight) {
              if (deleted.has(w.agentId)) continue;
              const row = db.get(w.agentId) ?? { x: 0, sceneId: null, rotationY: null };
              db.set(w.agentId, { x: w.x, sceneId: w.sceneId ?? row.sceneId, rotationY: w.rotationY ?? row.rotationY });
            }
          }
          p.settle(inFlight, ok);
          inFlight = null;
        };
        for (const o of ops) {
          if (o.kind === 'put') {
            if (deleted.has(o.agentId)) continue;
            p.put(at(o.agentId, o.x, { sceneId: o.sceneId, rotationY: o.rotationY }));
            const prev = newest.get(o.agentId) ?? db.get(o.agentId) ?? { x: 0, sceneId: null, rotationY: null };
            newest.set(o.agentId, { x: o.x, sceneId: o.sceneId ?? prev.sceneId, rotationY: o.rotationY ?? prev.rotationY });
          } else if (o.kind === 'flush') {
            settle(o.ok); // one flush at a time: the previous one ends before the next takes
            inFlight = p.take();
          } else {
            p.forget(o.agentId);
            deleted.add(o.agentId);
            newest.delete(o.agentId);
          }
          // What a read on this replica sees: the pending/in-flight write over the row.
          for (const [id, expected] of newest) {
            const pending = p.get(id);
            const row = db.get(id) ?? { x: 0, sceneId: null, rotationY: null };
            const seen = pending
              ? { x: pending.x, sceneId: pending.sceneId ?? row.sceneId, rotationY: pending.rotationY ?? row.rotationY }
              : row;
            expect(seen).toEqual(expected);
          }
        }
        // Draining always converges on the newest write of every agent that still exists.
        settle(true);
        while (p.size > 0) {
          inFlight = p.take();
          settle(true);
        }
        for (const [id, expected] of newest) expect(db.get(id)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
