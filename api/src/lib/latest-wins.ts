/**
 * Writes a changing value through a slow sink: one write at a time (so they land in the order
 * the values came), at most one per `everyMs`, and a value that arrives meanwhile waits — the
 * latest waiting one replacing the others. After close() nothing more is written.
 *
 * The built-in worker writes each task's activity changes through one of these: a fast runtime
 * changed activity several times within a few milliseconds, each a durable write, and writes
 * fired side by side could commit out of order.
 */
export interface LatestWins<T> {
  push(value: T): void;
  /** Drops the waiting value; a write under way finishes. */
  close(): void;
}

export function latestWins<T>(write: (value: T) => Promise<unknown>, everyMs: number): LatestWins<T> {
  let inFlight = false;
  let lastWriteAt = Number.NEGATIVE_INFINITY;
  let pending: { value: T } | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;

  const start = (value: T): void => {
    inFlight = true;
    lastWriteAt = Date.now();
    // The sink reports its own failures; a failed write must not stop the next one.
    write(value)
      .catch(() => undefined)
      .finally(() => {
        inFlight = false;
        later();
      });
  };
  const later = (): void => {
    if (closed || inFlight || timer || !pending) return;
    timer = setTimeout(
      () => {
        timer = null;
        if (closed || inFlight || !pending) return;
        const { value } = pending;
        pending = null;
        start(value);
      },
      Math.max(0, lastWriteAt + everyMs - Date.now()),
    );
  };

  return {
    push(value: T): void {
      if (closed) return;
      if (!inFlight && !timer && Date.now() - lastWriteAt >= everyMs) start(value);
      else {
        pending = { value };
        later();
      }
    },
    close(): void {
      closed = true;
      pending = null;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
