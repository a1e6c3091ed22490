import { describe, expect, it } from 'vitest';
import type { TaskRow } from '../../src/db/schema.js';
import { createTaskWaiters, MAX_ROUND_CLAIMS } from '../../src/modules/tasks/claim-waiters.js';

const A = '01a2426d-a827-7225-a226-bc48536eb0e6';
const B = '01a2426d-a827-7225-a226-bc47bcce5392';
const KEY = '01a2426d-a831-7cbe-8c23-e1bb136e6f89';

function setup(workerDispatches = false) {
  let handler: ((message: string) => void) | null = null;
  const waiters = createTaskWaiters(
    (h) => {
      handler = h;
      return () => {
        handler = null;
      };
    },
    () => workerDispatches,
  );
  return { waiters, publish: (message: string) => handler?.(message), subscribed: () => handler !== null };
}

const alive = (actor: string | null = KEY) => ({ actor, alive: () => true });
const task = (agentId: string) => ({ id: `task-of-${agentId}`, agentId }) as unknown as TaskRow;
/** Whether the promise settled within a tick. */
async function settled<T>(p: Promise<T>): Promise<{ done: boolean; value?: T }> {
  const marker = Symbol('pending');
  const value = await Promise.race([p, new Promise<typeof marker>((r) => setTimeout(() => r(marker), 5))]);
  return value === marker ? { done: false } : { done: true, value: value as T };
}

describe('claim waiters', () => {
  it('a wait ends with null after its time, or when woken for its agent (any case)', async () => {
    const { waiters } = setup();
    expect(await waiters.wait(A, 1)).toBeNull();
    const p = waiters.wait(A, 10_000);
    expect((await settled(p)).done).toBe(false);
    waiters.wake(A.toUpperCase());
    expect(await p).toBeNull();
  });

  it('task.assigned wakes the agent it names; events that may free work wake one claim unless the worker dispatches', async () => {
    const { waiters, publish } = setup(false);
    const a = waiters.wait(A, 10_000);
    const b = waiters.wait(B, 10_000);
    publish(`{"type":"task.started","data":{"agent_id":"${A}"}}`);
    expect((await settled(a)).done).toBe(false);
    publish(`{"seq":1}\n{"type":"task.assigned","data":{"agent_id":"${B}"}}`);
    expect(await settled(b)).toEqual({ done: true, value: null });
    expect((await settled(a)).done).toBe(false);
    publish(`{"type":"task.completed","data":{}}`);
    expect(await settled(a)).toEqual({ done: true, value: null });

    const worker = setup(true);
    const c = worker.waiters.wait(A, 10_000);
    worker.publish(`{"type":"task.completed","data":{}}`);
    expect((await settled(c)).done).toBe(false);
    worker.waiters.close();
    expect(await c).toBeNull();
  });

  it('reserve takes one live claim per agent with its key; nothing to take is null', async () => {
    const { waiters } = setup();
    expect(waiters.reserve()).toBeNull();
    void waiters.wait(A, 10_000, alive());
    void waiters.wait(A, 10_000, alive());
    void waiters.wait(B, 10_000, { actor: null, alive: () => false }); // its connection closed
    void waiters.wait(B, 10_000); // a wait without claim info is never reserved
    const first = waiters.reserve()!;
    expect([...first.agents]).toEqual([[A.toLowerCase(), KEY]]);
    // The second claim of A is free for another round; the first is held by this one.
    const second = waiters.reserve()!;
    expect([...second.agents]).toEqual([[A.toLowerCase(), KEY]]);
    expect(waiters.reserve()).toBeNull();
    waiters.close();
  });

  it('a reserved claim outlasts its time and wake-ups until the round settles, then gets its task or goes on', async () => {
    const { waiters } = setup();
    const a = waiters.wait(A, 1, alive());
    const b = waiters.wait(B, 1, alive(null));
    const round = waiters.reserve()!;
    expect(new Set(round.agents.keys())).toEqual(new Set([A.toLowerCase(), B.toLowerCase()]));
    await new Promise((r) => setTimeout(r, 20));
    waiters.wake(A);
    expect((await settled(a)).done).toBe(false);
    expect((await settled(b)).done).toBe(false);
    const ready = Promise.resolve();
    round.settle([task(A)], ready);
    const handed = await a;
    expect(handed?.row).toEqual(task(A));
    expect(handed?.ready).toBe(ready);
    // B's time ran out while reserved: it ends now, empty-handed (its claim tries again).
    expect(await b).toBeNull();
  });

  it('a claim released without a task waits on for the rest of its time', async () => {
    const { waiters } = setup();
    const a = waiters.wait(A, 10_000, alive());
    waiters.reserve()!.settle([], Promise.resolve());
    expect((await settled(a)).done).toBe(false);
    // and can be reserved again
    expect([...waiters.reserve()!.agents.keys()]).toEqual([A.toLowerCase()]);
    waiters.close();
    expect(await a).toBeNull();
  });

  it(`a round takes at most ${MAX_ROUND_CLAIMS} claims`, () => {
    const { waiters } = setup();
    for (let i = 0; i < MAX_ROUND_CLAIMS + 10; i++)
      void waiters.wait(`01a2426d-a827-7225-a226-${String(i).padStart(12, '0')}`, 10_000, alive());
    expect(waiters.reserve()!.agents.size).toBe(MAX_ROUND_CLAIMS);
    expect(waiters.reserve()!.agents.size).toBe(10);
    waiters.close();
  });

  it('close ends every wait, reserved ones too, and unsubscribes', async () => {
    const { waiters, subscribed } = setup();
    const a = waiters.wait(A, 10_000, alive());
    waiters.reserve();
    waiters.close();
    expect(await a).toBeNull();
    expect(subscribed()).toBe(false);
    expect(waiters.reserve()).toBeNull();
  });
});
