import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { latestWins } from '../../src/lib/latest-wins.js';

/** A sink whose writes finish when the test says so, recording what it got and in what order. */
function sink() {
  const got: string[] = [];
  const open: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const write = (value: string) =>
    new Promise<void>((resolve) => {
      got.push(value);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      open.push(() => {
        inFlight--;
        resolve();
      });
    });
  const finish = async () => {
    open.shift()?.();
    await vi.advanceTimersByTimeAsync(0);
  };
  return { got, write, finish, maxInFlight: () => maxInFlight };
}

describe('latestWins (how the worker writes activity changes)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes the first value at once and only the latest of a burst after the interval', async () => {
    const s = sink();
    const w = latestWins(s.write, 200);
    for (const v of ['thinking', 'coding', 'testing', 'reviewing']) w.push(v);
    expect(s.got).toEqual(['thinking']);
    await s.finish();
    await vi.advanceTimersByTimeAsync(199);
    expect(s.got).toEqual(['thinking']);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.got).toEqual(['thinking', 'reviewing']);
    await s.finish();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.got).toEqual(['thinking', 'reviewing']);
  });

  it('never has two writes under way: a slow write holds the next one back, in order', async () => {
    const s = sink();
    const w = latestWins(s.write, 200);
    w.push('a');
    await vi.advanceTimersByTimeAsync(500);
    w.push('b'); // the interval has passed, but 'a' is still being written
    await vi.advanceTimersByTimeAsync(500);
    expect(s.got).toEqual(['a']);
    await s.finish();
    expect(s.got).toEqual(['a', 'b']);
    expect(s.maxInFlight()).toBe(1);
  });

  it('writes a value at once when the last write is older than the interval', async () => {
    const s = sink();
    const w = latestWins(s.write, 200);
    w.push('a');
    await s.finish();
    await vi.advanceTimersByTimeAsync(250);
    w.push('b');
    expect(s.got).toEqual(['a', 'b']);
  });

  it('drops the waiting value on close and writes nothing after it', async () => {
    const s = sink();
    const w = latestWins(s.write, 200);
    w.push('a');
    w.push('b');
    w.close();
    await s.finish();
    await vi.advanceTimersByTimeAsync(1000);
    w.push('c');
    expect(s.got).toEqual(['a']);
  });

  it('goes on after a failed write', async () => {
    let calls = 0;
    const w = latestWins(async (v: string) => {
      calls++;
      if (v === 'a') throw new Error('database away');
    }, 200);
    w.push('a');
    w.push('b');
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toBe(2);
  });
});
