/**
 * Resources a benchmark section holds (databases, child processes), released in its `finally`
 * and — through the registry — by run.ts when the run is interrupted (SIGINT/SIGTERM).
 */

type Release = () => Promise<void>;

const pending = new Map<number, { what: string; release: Release }>();
let nextId = 1;

export interface Held {
  /** Releases now (once); never throws, reports failures on stderr. */
  release: () => Promise<void>;
}

/** Registers a resource; `release()` frees it and unregisters it. */
export function hold(what: string, release: Release): Held {
  const id = nextId++;
  let done: Promise<void> | null = null;
  const run = (): Promise<void> => {
    done ??= (async () => {
      pending.delete(id);
      try {
        await release();
      } catch (err) {
        console.error(`cleaning up ${what}: ${(err as Error).message}`);
      }
    })();
    return done;
  };
  pending.set(id, { what, release: run });
  return { release: run };
}

/** Releases everything still held, newest first (child processes before their database). */
export async function releaseAll(): Promise<void> {
  const items = [...pending.values()].reverse();
  for (const item of items) await item.release();
}

/** A section's resources: everything added is released by `close()`, newest first. */
export class Scope {
  private readonly items: Held[] = [];

  add<T>(what: string, resource: T, release: (r: T) => Promise<void>): T {
    this.items.push(hold(what, () => release(resource)));
    return resource;
  }

  async close(): Promise<void> {
    while (this.items.length) await this.items.pop()!.release();
  }
}
