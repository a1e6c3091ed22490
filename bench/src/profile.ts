/**
 * Reads a V8 CPU profile (`BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench
 * -- http`; the api's profile is the largest file) and answers the two questions that profiling a
 * bench needs, since one api process serves every load of a section in turn:
 *
 *   npm run profile -w bench -- <file> --timeline update,updateMany
 *     busy % per 2 s of the run, and the share of samples under each named function: shows when
 *     each load ran (the http section runs GET, PUT, batch, then paced, each warm-up + slices);
 *   npm run profile -w bench -- <file> --from 50 --to 54 [--top 40]
 *     the functions with the most self time, and the most inclusive time, in that window (seconds
 *     from the start of the profile), as % of the busy (non-idle) time.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    top: { type: 'string', default: '30' },
    timeline: { type: 'string' },
    bucket: { type: 'string', default: '2' },
  },
});
const file = positionals[0];
if (!file) {
  console.error('usage: profile <file.cpuprofile> (--timeline fnA,fnB | --from <s> --to <s> [--top N])');
  process.exit(2);
}

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: ProfileNode) => {
  const f = n.callFrame;
  return `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
};
/** The labels on a sample's stack, leaf first, each once. */
function stack(id: number): string[] {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) seen.add(label(byId.get(cur)!));
  return [...seen];
}
const isIdle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';

/** Each sample with its time in seconds from the start and its duration in µs. */
function* samples(): Generator<{ id: number; at: number; us: number }> {
  let t = profile.startTime;
  for (const [i, id] of profile.samples.entries()) {
    const us = profile.timeDeltas[i] ?? 0;
    t += us;
    yield { id, at: (t - profile.startTime) / 1e6, us };
  }
}

if (values.timeline) {
  const names = values.timeline.split(',');
  const width = Number(values.bucket);
  const buckets = new Map<number, { all: number; idle: number; hits: number[] }>();
  for (const s of samples()) {
    const b = Math.floor(s.at / width);
    const entry = buckets.get(b) ?? { all: 0, idle: 0, hits: names.map(() => 0) };
    buckets.set(b, entry);
    entry.all += s.us;
    if (isIdle(s.id)) entry.idle += s.us;
    const fns = new Set<string>();
    for (let cur: number | undefined = s.id; cur !== undefined; cur = parent.get(cur)) fns.add(byId.get(cur)!.callFrame.functionName);
    names.forEach((name, i) => {
      if (fns.has(name)) entry.hits[i]! += s.us;
    });
  }
  for (const [b, e] of [...buckets].sort((x, y) => x[0] - y[0])) {
    const pct = (v: number) => `${Math.round((100 * v) / e.all)}`.padStart(3);
    console.log(
      `${String(b * width).padStart(5)} s  busy ${pct(e.all - e.idle)} %  ${names.map((n, i) => `${n} ${pct(e.hits[i]!)} %`).join('  ')}`,
    );
  }
} else {
  const from = Number(values.from ?? 0);
  const to = Number(values.to ?? Number.POSITIVE_INFINITY);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  let total = 0;
  for (const s of samples()) {
    if (s.at < from || s.at >= to) continue;
    total += s.us;
    if (isIdle(s.id)) continue;
    busy += s.us;
    const labels = stack(s.id);
    self.set(labels[0]!, (self.get(labels[0]!) ?? 0) + s.us);
    for (const l of labels) inclusive.set(l, (inclusive.get(l) ?? 0) + s.us);
  }
  const top = Number(values.top);
  const show = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([l, us]) => console.log(`${((100 * us) / busy).toFixed(1).padStart(5)} %  ${l}`));
  console.log(`window ${(total / 1e3).toFixed(0)} ms, busy ${(busy / 1e3).toFixed(0)} ms; self time, % of busy:`);
  show(self);
  console.log('inclusive time, % of busy:');
  show(inclusive);
}
