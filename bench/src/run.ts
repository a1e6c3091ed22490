/**
 * `npm run bench` — every section; `npm run bench -- http scale` — the named ones.
 *
 * Progress goes to stderr, the combined table to stdout. A run of every section that finished
 * without error writes BENCHMARKS.md (the table, the machine, how to reproduce; the notes below
 * its marker line are kept); any other run writes bench/results/latest-partial.md instead.
 *
 * Exit code: 0 when every section ran without error, 1 when one crashed, was missing or saw a
 * failure (non-2xx, socket error, lost event), 2 on a bad argument. A missed target never
 * changes the exit code: slowness is reported, not failed.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runHttp } from './http.js';
import { releaseAll } from './lib/cleanup.js';
import { ADMIN_DATABASE_URL, DURATION_S, REDIS_URL } from './lib/env.js';
import { BENCH_DIR, ROOT_DIR } from './lib/proc.js';
import { redisVersion } from './lib/redis.js';
import { markdownTable, type Row } from './lib/table.js';
import { runScale } from './scale.js';

type Runner = () => Promise<Row[]>;

/** Order of a full run. ws.ts and tasks.ts are loaded when run (their absence is a reported error). */
const SECTIONS: Record<string, { title: string; load: () => Promise<Runner> }> = {
  http: { title: 'HTTP', load: async () => runHttp },
  ws: { title: 'WebSocket fan-out', load: () => optional('./ws.js', 'runWs') },
  tasks: { title: 'Tasks', load: () => optional('./tasks.js', 'runTasks') },
  scale: { title: 'Scale', load: async () => runScale },
};

const NOTES_MARKER = '<!-- Notes below this line are written by hand and kept by `npm run bench`. -->';

async function optional(specifier: string, name: string): Promise<Runner> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(specifier.replace(/^\.\//, '').replace(/\.js$/, ''))) {
      throw new Error(`section not available: bench/src/${specifier.slice(2).replace(/\.js$/, '.ts')} does not exist yet`);
    }
    throw err;
  }
  const fn = mod[name];
  if (typeof fn !== 'function') throw new Error(`bench/src/${specifier.slice(2).replace(/\.js$/, '.ts')} does not export ${name}()`);
  return fn as Runner;
}

interface Outcome {
  name: string;
  rows: Row[];
  error: string | null;
  seconds: number;
  /** 1-minute load average at the start and the end of the section. */
  load: [number, number];
}

async function runSection(name: string, index: number, total: number): Promise<Outcome> {
  const section = SECTIONS[name]!;
  const started = Date.now();
  const loadBefore = os.loadavg()[0]!;
  console.error(`\n=== [${index}/${total}] ${section.title} (${name}), load average ${loadBefore.toFixed(2)} ===`);
  try {
    const runner = await section.load();
    const rows = await runner();
    const seconds = (Date.now() - started) / 1000;
    console.error(`=== ${name}: done in ${seconds.toFixed(0)} s`);
    return { name, rows, error: null, seconds, load: [loadBefore, os.loadavg()[0]!] };
  } catch (err) {
    const e = err as Error & { rows?: Row[] };
    const seconds = (Date.now() - started) / 1000;
    console.error(`=== ${name}: FAILED after ${seconds.toFixed(0)} s: ${e.stack ?? e.message}`);
    const message = e.message.split('\n')[0]!.slice(0, 400);
    const rows = [...(e.rows ?? []), { section: section.title, metric: 'ERROR', value: Number.NaN, unit: '', pass: false, note: message }];
    return { name, rows, error: message, seconds, load: [loadBefore, os.loadavg()[0]!] };
  }
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    const version = (await client.query<{ version: string }>('select version()')).rows[0]!.version;
    // Settings that change what the database figures mean (this machine's CI config turns
    // autovacuum off: nothing is vacuumed during a run).
    const { rows } = await client.query<{ name: string; setting: string; unit: string | null }>(
      `select name, setting, unit from pg_settings
        where name in ('autovacuum', 'shared_buffers', 'synchronous_commit', 'fsync', 'max_connections') order by name`,
    );
    const settings = rows.map((r) =>
      r.name === 'shared_buffers' ? `shared_buffers ${(Number(r.setting) * 8) / 1024} MB` : `${r.name} ${r.setting}`,
    );
    return `${version}; ${settings.join(', ')}`;
  } finally {
    await client.end();
  }
}

async function machine(): Promise<string[]> {
  const cpus = os.cpus();
  const [pgVersion, redis] = await Promise.all([
    postgresVersion().catch((e: Error) => `unknown (${e.message})`),
    redisVersion().catch((e: Error) => `unknown (${e.message})`),
  ]);
  const host = (u: string) => {
    try {
      const url = new URL(u);
      return `${url.hostname}:${url.port}`;
    } catch {
      return '?';
    }
  };
  return [
    `- CPU: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} cores (${os.arch()})`,
    `- RAM: ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()}`,
    `- Node.js: ${process.version}`,
    `- PostgreSQL: ${pgVersion} (at ${host(ADMIN_DATABASE_URL)})`,
    `- Redis: ${redis} (at ${host(REDIS_URL)})`,
  ];
}

function document(outcomes: Outcome[], machineLines: string[], started: Date, complete: boolean, notes: string): string {
  const rows = outcomes.flatMap((o) => o.rows);
  const failed = outcomes.filter((o) => o.error);
  return [
    complete ? '# Benchmarks' : '# Benchmarks (partial run: not BENCHMARKS.md)',
    '',
    `Written by \`npm run bench\` on ${started.toISOString().replace(/\.\d+Z$/, 'Z')} (sections: ${outcomes.map((o) => o.name).join(', ')}; ${outcomes
      .reduce((s, o) => s + o.seconds, 0)
      .toFixed(
        0,
      )} s). Targets are those of issue #11. Relative targets compare with a baseline measured in the same run on the same machine, so the ratio is the figure that carries over to other machines; absolute figures depend on the machine below. "NOT met" is a finding, not a failure: the run exits non-zero only on errors (a crash, a non-2xx response, a socket error, a lost event).`,
    '',
    ...(failed.length ? ['**Errors:**', '', ...failed.map((o) => `- ${o.name}: ${o.error}`), ''] : []),
    '## Results',
    '',
    markdownTable(rows),
    '',
    '## Machine',
    '',
    ...machineLines,
    `- Duration: BENCH_DURATION_S=${DURATION_S} s per measurement, each after a short warm-up`,
    `- Load average (1 min) at the start and end of each section: ${outcomes
      .map((o) => `${o.name} ${o.load[0].toFixed(1)} → ${o.load[1].toFixed(1)}`)
      .join(
        ', ',
      )} (the load generator, the api, its baselines, Postgres and Redis share the ${os.cpus().length} cores; other work adds to it)`,
    '',
    '## How to reproduce',
    '',
    '```sh',
    'npm install',
    '# PostgreSQL 15+ and Redis 7 reachable (defaults: postgres://postgres@127.0.0.1:5432/postgres, redis://127.0.0.1:6379;',
    '# else BENCH_DATABASE_URL / BENCH_REDIS_URL). Each section creates its own database and Redis key prefix and removes them.',
    'npm run bench                          # every section; writes BENCHMARKS.md',
    'npm run bench -- http scale            # chosen sections (http, ws, tasks, scale); writes bench/results/latest-partial.md',
    'BENCH_DURATION_S=30 npm run bench      # longer measurements (default 10 s)',
    '```',
    '',
    'Stop other work on the machine first: the load generator runs on the same cores as the api.',
    '',
    '## Method',
    '',
    '- **HTTP** (`bench/src/http.ts`): the real api (`api/src/server.ts`, `bench/configs/production.yaml`: Postgres + Redis, pool 20, log level warn, rate limits raised but still counted in Redis on every request) in its own process; load from autocannon in the bench process, 50 connections, pipelining 1, requests spread over 1,000 agents created through the api; a load and its baseline are measured in three interleaved slices so that other work on the machine weighs on both alike, and the CPU time each server process spent per request is reported (it varies less with other load than req/s do). Baselines, each in its own process: a minimal Fastify + pg server (pool 20) running the api’s own primary-key query on the same database (`bench/src/baselines/fastify-pg.ts`), and a bare Fastify hello-world (`bench/src/baselines/hello.ts`). Event-loop delay: `agentvm_nodejs_eventloop_lag_p99_seconds` from the api’s `/metrics`, scraped before and after the batch load (each scrape resets prom-client’s histogram, which samples every 10 ms: an idle loop reads about 10 ms). After the loads, a probe batch must be in the database within three flush intervals.',
    '- **WebSocket fan-out** (`bench/src/ws.ts`) and **Tasks** (`bench/src/tasks.ts`): see the header comment of each file.',
    '- **Scale** (`bench/src/scale.ts`): a fresh database with 10,000 agents and 100,000 tasks, bulk-copied from template rows the api itself wrote through REST (so the rows are the api’s own); list latency at a steady, evenly spaced 50 req/s over at most 10 connections (a latency, not a saturation, measurement) for the first page (the target) and across the first 100 keyset pages by cursor, plus the first page’s unpaced throughput and CPU time per request; api RSS (from /proc; the api runs under tsx, which adds its loader thread and transpiled sources to what `node dist/` would use) after every agent moved once and 1,000 WebSocket clients connected, each of which must then receive a move.',
    '',
    NOTES_MARKER,
    notes,
  ].join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = args.filter((a) => !(a in SECTIONS));
  if (unknown.length) {
    console.error(`unknown section(s): ${unknown.join(', ')}; choose from ${Object.keys(SECTIONS).join(', ')}`);
    return 2;
  }
  const chosen = args.length ? Object.keys(SECTIONS).filter((s) => args.includes(s)) : Object.keys(SECTIONS);
  const started = new Date();
  const machineLines = await machine();
  console.error(`bench: ${chosen.join(', ')}; BENCH_DURATION_S=${DURATION_S}`);
  console.error(machineLines.join('\n'));

  const outcomes: Outcome[] = [];
  for (const [i, name] of chosen.entries()) {
    outcomes.push(await runSection(name, i + 1, chosen.length));
    await releaseAll(); // anything a section left behind
  }

  const rows = outcomes.flatMap((o) => o.rows);
  console.log(markdownTable(rows));
  const ok = outcomes.every((o) => !o.error);
  const complete = ok && chosen.length === Object.keys(SECTIONS).length;
  const target = complete ? join(ROOT_DIR, 'BENCHMARKS.md') : join(BENCH_DIR, 'results', 'latest-partial.md');
  let notes = '';
  try {
    const previous = await readFile(join(ROOT_DIR, 'BENCHMARKS.md'), 'utf8');
    const at = previous.indexOf(NOTES_MARKER);
    if (at >= 0)
      notes = previous
        .slice(at + NOTES_MARKER.length)
        .replace(/^\n/, '')
        .trimEnd();
  } catch {
    // no BENCHMARKS.md yet
  }
  await mkdir(join(target, '..'), { recursive: true });
  await writeFile(target, `${document(outcomes, machineLines, started, complete, complete ? notes : '')}\n`);
  console.error(`\nwrote ${target}${complete ? '' : ' (a partial run or one with errors: BENCHMARKS.md left as it was)'}`);
  for (const o of outcomes) if (o.error) console.error(`error in ${o.name}: ${o.error}`);
  return ok ? 0 : 1;
}

let interruptedAt = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // npm and tsx relay the terminal's signal once more: only a signal seconds later means "leave now".
    if (interruptedAt) {
      if (Date.now() - interruptedAt > 3000) process.exit(130);
      return;
    }
    interruptedAt = Date.now();
    // A section may hold its own handler (withCleanup in ws.ts): let it finish and exit.
    const others = process.listenerCount(signal) - 1;
    console.error(`\n${signal}: stopping child processes and dropping databases…`);
    void releaseAll().finally(() => {
      if (others <= 0) process.exit(130);
      setTimeout(() => process.exit(130), 30_000).unref();
    });
  });
}

main().then(
  (code) => process.exit(code),
  async (err: Error) => {
    console.error(err.stack ?? err.message);
    await releaseAll();
    process.exit(1);
  },
);
