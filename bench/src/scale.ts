/**
 * The api at scale (issue #11): a fresh database holding 10,000 agents and 100,000 tasks, then
 * - p99 of GET /agents?limit=100 and GET /tasks?status=queued&limit=100 (target < 20 ms) at a
 *   steady BENCH_SCALE_RATE req/s (50, evenly spaced, open loop: a latency, not a saturation,
 *   measurement) over a pool of 10 keep-alive connections, requests spread over the first 100 keyset pages; then unpaced, for the
 *   throughput and the api's CPU time per request (information);
 * - the api's RSS with 1,000 open WebSocket connections and those 10,000 agents, each of them
 *   moved once (the position cache holds them all) (target < 300 MB); every client must then
 *   receive a move (a lost event is an error).
 *
 * Seeding is bulk SQL, but the rows are the api's own: the api (which migrated the schema) writes
 * one template per kind through REST — an agent; a task completed by a simulated agent; a queued
 * task; a cancelled task — and each row is a copy of its template with a fresh UUIDv7 id (its
 * timestamp = created_at, so id order is creation order as with the api), its own name or
 * description, position and agent, every timestamp shifted by the same offset. Agents are of
 * the external type `bench` and, like any external agent whose runtime has not claimed yet,
 * offline; tasks span the last 24 h, statuses interleaved at random (20 % queued, 75 %
 * completed, 5 % cancelled), queued ones untargeted in the agents' game (so they stay queued).
 * The event log is not seeded: the measured routes do not read it.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import WebSocket from 'ws';
import { Scope } from './lib/cleanup.js';
import { createDatabase } from './lib/db.js';
import { BENCH_KEY, DURATION_S } from './lib/env.js';
import { apiCall, cpuSeconds, inParallel, loadErrors, n, runLoad, runPaced, type LoadResult } from './lib/load.js';
import { startApi } from './lib/proc.js';
import { dropRedisKeys } from './lib/redis.js';
import { markdownTable, type Row } from './lib/table.js';

const SECTION = 'Scale';
const AGENTS = Number(process.env.BENCH_SCALE_AGENTS ?? 10_000);
const TASKS = Number(process.env.BENCH_SCALE_TASKS ?? 100_000);
const WS_CLIENTS = Number(process.env.BENCH_SCALE_WS ?? 1000);
/** Requests per second of the paced latency measurements. */
const RATE = Number(process.env.BENCH_SCALE_RATE ?? 50);
const CONNECTIONS = 10;
const PAGES = 100;
const GAME = 'bench-scale';
const WARMUP_S = Math.max(1, Math.min(3, Math.round(DURATION_S / 3)));

const log = (msg: string) => console.error(`[scale] ${msg}`);
const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
const mb = (bytes: number) => bytes / (1024 * 1024);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** A UUIDv7 whose timestamp is `at` (epoch ms), the rest random. */
function uuidv7At(at: number): string {
  const t = Math.floor(at).toString(16).padStart(12, '0');
  const r = randomBytes(10).toString('hex');
  const variant = (8 + (parseInt(r[3]!, 16) & 3)).toString(16);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(0, 3)}-${variant}${r.slice(4, 7)}-${r.slice(7, 19)}`;
}

interface Column {
  name: string;
  type: string;
}

async function columnsOf(client: pg.Client, table: string): Promise<Column[]> {
  const { rows } = await client.query<{ column_name: string; data_type: string }>(
    `select column_name, data_type from information_schema.columns
     where table_schema = current_schema() and table_name = $1 order by ordinal_position`,
    [table],
  );
  if (rows.length === 0) throw new Error(`table ${table} not found: did the api migrate?`);
  return rows.map((r) => ({ name: r.column_name, type: r.data_type }));
}

/**
 * INSERT … SELECT copying the template row ($1) once per element of the unnested arrays ($2…):
 * `overrides` (column → SQL over u.* and t.*) replace columns; every other timestamp column is
 * shifted by (u.ts − t.created_at); the rest is copied as is.
 */
function cloneSql(table: string, columns: Column[], arrays: Array<[string, string]>, overrides: Record<string, string>): string {
  const q = (c: string) => `"${c}"`;
  const select = columns.map((c) => {
    const o = overrides[c.name];
    if (o) return o;
    if (c.type === 'timestamp with time zone') return `t.${q(c.name)} + (u.ts - t.created_at)`;
    return `t.${q(c.name)}`;
  });
  return `insert into ${q(table)} (${columns.map((c) => q(c.name)).join(', ')})
    select ${select.join(', ')}
    from unnest(${arrays.map(([, type], i) => `$${i + 2}::${type}[]`).join(', ')}) as u(${arrays.map(([name]) => name).join(', ')})
    cross join (select * from ${q(table)} where id = $1) t`;
}

interface Templates {
  agent: string;
  completed: string;
  queued: string;
  cancelled: string;
}

/** The api writes one row of each kind (see the header). */
async function writeTemplates(url: string): Promise<Templates> {
  const agent = await apiCall<{ id: string; status: string }>(
    url,
    'POST',
    '/agents/create',
    { agent_type: 'bench', name: 'scale-template', game_id: GAME },
    201,
  );
  // A simulated agent completes a task, then leaves (its task stays completed).
  const sim = await apiCall<{ id: string }>(url, 'POST', '/agents/create', { agent_type: 'sim', name: 'scale-sim', game_id: GAME }, 201);
  const done = await apiCall<{ id: string }>(
    url,
    'POST',
    '/tasks/assign',
    { description: 'scale template', task_type: 'feature', agent_id: sim.id },
    201,
  );
  for (let waited = 0; ; waited += 100) {
    const s = await apiCall<{ status: string }>(url, 'GET', `/tasks/${done.id}/status`);
    if (s.status === 'completed') break;
    if (waited > 30_000 || s.status === 'failed' || s.status === 'cancelled') throw new Error(`template task ended ${s.status}`);
    await sleep(100);
  }
  await apiCall(url, 'DELETE', `/agents/${sim.id}`, undefined, 204);
  const queued = await apiCall<{ id: string }>(
    url,
    'POST',
    '/tasks/assign',
    { description: 'scale template', task_type: 'feature', game_id: GAME },
    201,
  );
  const cancelled = await apiCall<{ id: string }>(
    url,
    'POST',
    '/tasks/assign',
    { description: 'scale template', task_type: 'feature', game_id: GAME },
    201,
  );
  await apiCall(url, 'POST', `/tasks/${cancelled.id}/cancel`);
  await sleep(500); // the dispatcher has had its chance: the queued template must still be queued
  const q = await apiCall<{ status: string }>(url, 'GET', `/tasks/${queued.id}/status`);
  if (q.status !== 'queued') throw new Error(`template task is ${q.status}, expected queued (is an agent eligible?)`);
  return { agent: agent.id, completed: done.id, queued: queued.id, cancelled: cancelled.id };
}

async function seed(databaseUrl: string, templates: Templates): Promise<{ agents: number; tasks: Record<string, number> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const agentCols = await columnsOf(client, 'agents');
    const taskCols = await columnsOf(client, 'tasks');
    const agentSql = cloneSql(
      'agents',
      agentCols,
      [
        ['id', 'uuid'],
        ['name', 'text'],
        ['x', 'float8'],
        ['z', 'float8'],
        ['ts', 'timestamptz'],
      ],
      { id: 'u.id', name: 'u.name', x: 'u.x', z: 'u.z' },
    );
    const taskSql = cloneSql(
      'tasks',
      taskCols,
      [
        ['id', 'uuid'],
        ['description', 'text'],
        ['agent_id', 'uuid'],
        ['ts', 'timestamptz'],
      ],
      {
        id: 'u.id',
        description: 'u.description',
        agent_id: 'case when t.agent_id is null then null else u.agent_id end',
        lease_token: 'case when t.lease_token is null then null else gen_random_uuid() end',
      },
    );

    const now = Date.now();
    const day = 24 * 3600 * 1000;
    // Agents over the hour before the tasks' day, tasks over the last 24 h: one ms each at least.
    const agentStep = Math.max(1, Math.floor(3600_000 / AGENTS));
    const taskStep = Math.max(1, Math.floor((day - 60_000) / TASKS));
    const agentIds: string[] = [];
    const CHUNK_A = 2000;
    for (let from = 0; from < AGENTS; from += CHUNK_A) {
      const count = Math.min(CHUNK_A, AGENTS - from);
      const ts = Array.from({ length: count }, (_, k) => now - day - 3600_000 + (from + k) * agentStep);
      const ids = ts.map(uuidv7At);
      const coord = () => Math.round((Math.random() * 2000 - 1000) * 100) / 100;
      await client.query(agentSql, [
        templates.agent,
        ids,
        ids.map((_, k) => `scale-${from + k}`),
        ids.map(coord),
        ids.map(coord),
        ts.map((t) => new Date(t).toISOString()),
      ]);
      agentIds.push(...ids);
      log(`agents ${n(from + count)} / ${n(AGENTS)}`);
    }

    const counts: Record<string, number> = { queued: 0, completed: 0, cancelled: 0 };
    const CHUNK_T = 10_000;
    for (let from = 0; from < TASKS; from += CHUNK_T) {
      const count = Math.min(CHUNK_T, TASKS - from);
      const byStatus = new Map<keyof Templates, { ids: string[]; descriptions: string[]; agents: string[]; ts: string[] }>();
      for (let k = 0; k < count; k++) {
        const i = from + k;
        const roll = Math.random();
        const status = roll < 0.2 ? 'queued' : roll < 0.95 ? 'completed' : 'cancelled';
        const at = now - day + i * taskStep;
        let b = byStatus.get(status);
        if (!b) byStatus.set(status, (b = { ids: [], descriptions: [], agents: [], ts: [] }));
        b.ids.push(uuidv7At(at));
        b.descriptions.push(`scale task ${i}: refactor module ${i % 97} and add tests`);
        b.agents.push(agentIds[i % agentIds.length]!);
        b.ts.push(new Date(at).toISOString());
        counts[status]!++;
      }
      // One transaction per chunk: the three statements commit together.
      await client.query('begin');
      for (const [status, b] of byStatus) await client.query(taskSql, [templates[status], b.ids, b.descriptions, b.agents, b.ts]);
      await client.query('commit');
      log(`tasks ${n(from + count)} / ${n(TASKS)}`);
    }
    // The agents' counters, as the api keeps them.
    await client.query(`update agents a set tasks_completed = c.n
                        from (select agent_id, count(*)::int as n from tasks where status = 'completed' and agent_id is not null group by agent_id) c
                        where a.id = c.agent_id`);
    log('vacuum analyze (as autovacuum would have by now)');
    await client.query('vacuum analyze agents');
    await client.query('vacuum analyze tasks');
    const { rows } = await client.query<{ agents: number; tasks: number }>(
      'select (select count(*) from agents)::int as agents, (select count(*) from tasks)::int as tasks',
    );
    log(`seeded: ${n(rows[0]!.agents)} agents, ${n(rows[0]!.tasks)} tasks (${JSON.stringify(counts)})`);
    return { agents: rows[0]!.agents, tasks: counts };
  } finally {
    await client.end();
  }
}

/** Paths of the first `pages` keyset pages of a list route. */
async function pagePaths(url: string, first: string, pages: number): Promise<string[]> {
  const paths = [first];
  let cursor: string | null = null;
  for (let p = 1; p < pages; p++) {
    const page: { items: unknown[]; next_cursor: string | null } = await apiCall(url, 'GET', paths[paths.length - 1]!);
    cursor = page.next_cursor;
    if (!cursor) break;
    if (page.items.length !== 100) throw new Error(`GET ${paths[paths.length - 1]} returned ${page.items.length} items and a next cursor`);
    paths.push(`${first}&cursor=${encodeURIComponent(cursor)}`);
  }
  return paths;
}

interface ListFigures {
  /** The first page (the route as the issue names it), steady RATE req/s: the target. */
  first: LoadResult;
  /** Pages 1…PAGES through their keyset cursors, steady RATE req/s. */
  deep: LoadResult;
  /** The first page, unpaced (throughput). */
  unpaced: LoadResult;
  pages: number;
  /** The api's CPU time per request in the unpaced run, µs. */
  cpuPerReqUs: number;
}

async function measureList(url: string, pid: number, name: string, paths: string[], errors: string[]): Promise<ListFigures> {
  const first = () => paths[0]!;
  const deep = (i: number) => paths[i % paths.length]!;
  log(`${name}: warm-up ${WARMUP_S} s`);
  const runs: Array<[string, LoadResult]> = [
    ['warm-up', await runLoad({ url, path: deep, connections: CONNECTIONS, durationS: WARMUP_S })],
  ];
  const paced = async (label: string, path: (i: number) => string) => {
    log(`${name}: ${label}, steady ${RATE} req/s for ${DURATION_S} s`);
    const r = await runPaced({ url, path, rate: RATE, connections: CONNECTIONS, durationS: DURATION_S });
    log(`${name}: ${label}: p50 ${ms(r.p50)}, p99 ${ms(r.p99)}`);
    runs.push([label, r]);
    return r;
  };
  const firstPage = await paced('first page', first);
  const deepPages = await paced(`pages 1–${paths.length}`, deep);
  log(`${name}: first page unpaced for ${DURATION_S} s`);
  const cpu0 = await cpuSeconds(pid);
  const unpaced = await runLoad({ url, path: first, connections: CONNECTIONS, durationS: DURATION_S });
  const cpuPerReqUs = (((await cpuSeconds(pid)) - cpu0) / Math.max(1, unpaced.ok)) * 1e6;
  log(`${name}: unpaced: ${n(unpaced.okPerS)} req/s, p50 ${ms(unpaced.p50)}, p99 ${ms(unpaced.p99)}, api CPU ${n(cpuPerReqUs)} µs/req`);
  runs.push(['unpaced', unpaced]);
  for (const [label, r] of runs) {
    const e = loadErrors(`${name} (${label})`, r);
    if (e) errors.push(e);
  }
  return { first: firstPage, deep: deepPages, unpaced, pages: paths.length, cpuPerReqUs };
}

/** The highest of 5 RSS samples taken 500 ms apart. */
async function maxRss(read: () => Promise<number>): Promise<number> {
  let rss = 0;
  for (let k = 0; k < 5; k++) {
    rss = Math.max(rss, await read());
    if (k < 4) await sleep(500);
  }
  return rss;
}

interface Client {
  socket: WebSocket;
  moved: number;
}

/** Opens WebSocket clients on /ws (the game's events); each counts as open once its hello arrived. */
async function openClients(url: string, count: number): Promise<{ clients: Client[]; failures: string[] }> {
  const wsUrl = `${url.replace(/^http/, 'ws')}/ws?game_id=${GAME}`;
  const clients: Client[] = [];
  const failures: string[] = [];
  await inParallel(
    Array.from({ length: count }, (_, i) => i),
    50,
    async () => {
      const socket = new WebSocket(wsUrl, { headers: { 'x-api-key': BENCH_KEY }, perMessageDeflate: false });
      const client: Client = { socket, moved: 0 };
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no hello within 15 s')), 15_000);
          socket.on('message', (data: Buffer) => {
            const text = data.toString('utf8');
            if (text.includes('"agent.moved"')) client.moved++;
            else if (text.includes('"hello"')) {
              clearTimeout(timer);
              resolve();
            }
          });
          socket.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
          socket.once('close', (code) => {
            clearTimeout(timer);
            reject(new Error(`closed with ${code}`));
          });
        });
        socket.on('error', () => undefined);
        clients.push(client);
      } catch (err) {
        socket.terminate();
        failures.push((err as Error).message);
      }
    },
  );
  return { clients, failures };
}

async function closeClients(clients: Client[]): Promise<void> {
  await inParallel(clients, 100, async ({ socket }) => {
    if (socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 3000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.close(1000, 'bench done');
    });
  });
}

export async function runScale(): Promise<Row[]> {
  const scope = new Scope();
  const errors: string[] = [];
  try {
    const db = scope.add('scale database', await createDatabase('scale'), (d) => d.drop());
    const prefix = scope.add('scale redis keys', `agentvm_bench_scale_${randomBytes(4).toString('hex')}:`, async (p) => {
      await dropRedisKeys(p);
    });
    log('starting the api (migrates the database)');
    const api = scope.add('api', await startApi({ databaseUrl: db.url, redisPrefix: prefix }), (c) => c.stop());

    log('the api writes the template rows');
    const templates = await writeTemplates(api.url);
    const seeded = await seed(db.url, templates);

    // --- List latency.
    const agentPaths = await pagePaths(api.url, '/agents?limit=100', PAGES);
    const taskPaths = await pagePaths(api.url, '/tasks?status=queued&limit=100', PAGES);
    const agentsList = await measureList(api.url, api.pid, 'GET /agents?limit=100', agentPaths, errors);
    const tasksList = await measureList(api.url, api.pid, 'GET /tasks?status=queued&limit=100', taskPaths, errors);

    // --- Memory: every agent moved once, then WebSocket clients.
    log(`moving all ${n(seeded.agents)} agents once (PUT /agents/positions, 100 per call)`);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    let ids: string[];
    try {
      ids = (await client.query<{ id: string }>('select id from agents where agent_type = $1 order by id', ['bench'])).rows.map(
        (r) => r.id,
      );
    } finally {
      await client.end();
    }
    const batches = Array.from({ length: Math.ceil(ids.length / 100) }, (_, b) => ids.slice(b * 100, b * 100 + 100));
    await inParallel(batches, 4, async (batch) => {
      const positions = batch.map((agent_id) => ({ agent_id, x: Math.random() * 100, y: 0, z: Math.random() * 100 }));
      const r = await apiCall<{ updated: number }>(api.url, 'PUT', '/agents/positions', { positions });
      if (r.updated !== batch.length) errors.push(`PUT /agents/positions updated ${r.updated} of ${batch.length}`);
    });
    await sleep(1000);
    const rssBefore = await maxRss(api.rss);
    log(`api RSS before WebSocket clients: ${mb(rssBefore).toFixed(0)} MB; opening ${n(WS_CLIENTS)} clients`);
    const { clients, failures } = await openClients(api.url, WS_CLIENTS);
    scope.add('WebSocket clients', clients, closeClients);
    if (failures.length) errors.push(`${failures.length} of ${WS_CLIENTS} WebSocket clients could not connect, e.g. ${failures[0]}`);
    await sleep(2000);
    const rss = await maxRss(api.rss);
    log(`api RSS with ${n(clients.length)} WebSocket clients: ${mb(rss).toFixed(0)} MB`);

    // Every open client must get a move of its game.
    const before = clients.map((c) => c.moved);
    await apiCall(api.url, 'PUT', `/agents/${ids[0]}/position`, { x: 1, y: 2, z: 3 });
    const deadline = Date.now() + 10_000;
    let behind = clients.length;
    while (Date.now() < deadline) {
      behind = clients.filter((c, i) => c.moved <= before[i]!).length;
      if (behind === 0) break;
      await sleep(50);
    }
    if (behind) errors.push(`${behind} of ${clients.length} WebSocket clients did not receive agent.moved within 10 s`);

    const rows: Row[] = [
      ...listRows('GET /agents?limit=100', agentsList),
      ...listRows('GET /tasks?status=queued&limit=100', tasksList),
      {
        section: SECTION,
        metric: `api RSS, ${n(clients.length)} WebSocket clients, ${n(seeded.agents)} agents`,
        value: mb(rss),
        unit: 'MB',
        target: '< 300 MB',
        pass: mb(rss) < 300,
        note: `under tsx; max of 5 samples over 2 s; ${mb(rssBefore).toFixed(0)} MB before the clients (every agent moved once)${
          rss > rssBefore
            ? ` → ≈ ${((rss - rssBefore) / Math.max(1, clients.length) / 1024).toFixed(1)} KB per connection`
            : ': no growth measurable above the heap’s own swings'
        }`,
      },
    ];
    rows.push({
      section: SECTION,
      metric: 'non-2xx, socket errors, lost events',
      value: errors.length,
      unit: '',
      target: '0',
      pass: errors.length === 0,
      note:
        errors.join('; ') ||
        `seeded ${n(seeded.agents)} agents, ${n(Object.values(seeded.tasks).reduce((a, b) => a + b, 0))} tasks (${seeded.tasks.queued} queued); every response 2xx; every client got the move`,
    });
    if (errors.length) throw Object.assign(new Error(`scale bench: ${errors.join('; ')}`), { rows });
    return rows;
  } finally {
    await scope.close();
  }
}

function listRows(route: string, f: ListFigures): Row[] {
  return [
    {
      section: SECTION,
      metric: `${route} p99`,
      value: f.first.p99,
      unit: 'ms',
      target: 'p99 < 20 ms',
      pass: f.first.p99 < 20,
      note: `steady ${RATE} req/s (≤ ${CONNECTIONS} connections); p50 ${ms(f.first.p50)}; unpaced ${n(f.unpaced.okPerS)} req/s, p99 ${ms(f.unpaced.p99)}, api CPU ${n(f.cpuPerReqUs)} µs/req`,
    },
    {
      section: SECTION,
      metric: `${route}, pages 1–${f.pages} by cursor, p99`,
      value: f.deep.p99,
      unit: 'ms',
      note: `steady ${RATE} req/s, each of the first ${f.pages} keyset pages in turn; p50 ${ms(f.deep.p50)}`,
    },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runScale().then(
    (rows) => console.log(markdownTable(rows)),
    (err: Error & { rows?: Row[] }) => {
      if (err.rows) console.log(markdownTable(err.rows));
      console.error(err.message);
      process.exit(1);
    },
  );
}
