/** Measurement helpers of the WebSocket, task and soak benchmarks (no I/O: also used by child processes). */

/** Wall-clock epoch milliseconds with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Latency histogram: 0.05 ms buckets up to 10 s, exact enough for p50/p99 of many millions of
 * samples at constant memory (the WebSocket fleet records every delivery).
 */
export class Histogram {
  static readonly BUCKET_MS = 0.05;
  static readonly BUCKETS = 200_000;
  counts = new Uint32Array(Histogram.BUCKETS + 1);
  n = 0;
  max = 0;

  add(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    const i = Math.min(Histogram.BUCKETS, Math.floor(v / Histogram.BUCKET_MS));
    this.counts[i]!++;
    this.n++;
    if (v > this.max) this.max = v;
  }

  merge(counts: ArrayLike<number>, n: number, max: number): void {
    for (let i = 0; i < counts.length; i++) this.counts[i]! += counts[i]!;
    this.n += n;
    if (max > this.max) this.max = max;
  }

  /** Upper edge of the bucket holding the p-th percentile (NaN when empty). */
  percentile(p: number): number {
    if (this.n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === Histogram.BUCKETS ? this.max : Math.min(this.max, (i + 1) * Histogram.BUCKET_MS);
    }
    return this.max;
  }

  /** Sparse form for IPC: [index, count] pairs. */
  sparse(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]) out.push([i, this.counts[i]!]);
    return out;
  }

  static fromSparse(pairs: Array<[number, number]>, max: number): Histogram {
    const h = new Histogram();
    for (const [i, c] of pairs) {
      h.counts[i] = c;
      h.n += c;
    }
    h.max = max;
    return h;
  }
}

/** Least-squares slope of y over x (per unit of x); NaN with fewer than two points. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

export const mb = (bytes: number): number => bytes / (1024 * 1024);
