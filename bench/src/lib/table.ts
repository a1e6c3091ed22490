/**
 * One row of the bench's table: an absolute figure, the baseline it is compared with (measured in
 * the same run), the ratio, and the target from the issue. `pass` is informational: the bench
 * exits non-zero on errors only, never because a machine is slow.
 */
export interface Row {
  section: string;
  metric: string;
  value: number;
  unit: string;
  /** Name and value of the same-run baseline, when the target is relative. */
  baseline?: { name: string; value: number };
  /** e.g. "≥ 70 % of Fastify + pg", "p99 < 20 ms" */
  target?: string;
  /** Whether the target is met (undefined: no target). */
  pass?: boolean;
  note?: string;
}

const fmt = (n: number, unit = ''): string => {
  if (!Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  const s = abs >= 100 ? Math.round(n).toLocaleString('en-US') : abs >= 10 ? n.toFixed(1) : n.toFixed(2);
  return unit ? `${s} ${unit}` : s;
};

function cells(r: Row): string[] {
  const ratio = r.baseline && r.baseline.value ? r.value / r.baseline.value : Number.NaN;
  return [
    r.section,
    r.metric,
    fmt(r.value, r.unit),
    r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value, r.unit)}` : '',
    Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)} %` : '',
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'met' : 'NOT met',
    r.note ?? '',
  ];
}

const HEAD = ['section', 'metric', 'value', 'baseline (same run)', 'ratio', 'target', 'result', 'note'];

/** The table as Markdown (BENCHMARKS.md and the terminal). */
export function markdownTable(rows: Row[]): string {
  const body = rows.map(cells);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...body.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(HEAD), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}
