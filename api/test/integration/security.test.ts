import { randomBytes } from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scope } from '../../src/contract/common.js';
import type { Access } from '../../src/lib/access.js';
import { consoleDir } from '../../src/plugins/console.js';
import { buildTestApp, DEV_KEY, driver, type TestApp } from '../helpers/build-app.js';
import { insertAgent } from '../helpers/fixtures.js';

/**
 * The security suite (issue #11): an auth matrix generated from the routes the app registers,
 * hostile input at the HTTP layer, and the rate limits. Figures are printed as `[security]` lines.
 */

type Json = Record<string, any>;
interface Res {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

const figures = { routes: 0, credentials: 0, matrixRequests: 0, inputs: 0, requests: 0, fiveXX: 0 };

/** What an error body must never carry: stack frames, source paths, SQL. */
const LEAKS: RegExp[] = [
  /\n\s+at /,
  /\bat [\w.<>$]+ \((?:\/|file:|node:)/,
  /node_modules/,
  /file:\/\//,
  /\.[jt]s:\d+/,
  /\bselect\b[^"]*\bfrom\b/i,
  /\binsert into\b/i,
  /\bupdate \w+ set\b/i,
  /\bdelete from\b/i,
];

/** Every answer: below 500, no leak; a JSON 4xx in the contract's error shape (unless `shapeless`: a known non-JSON answer). */
function check(res: Res, what: string, opts: { shapeless?: boolean } = {}): void {
  figures.requests++;
  if (res.statusCode >= 500) {
    figures.fiveXX++;
    throw new Error(`${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  }
  // Success bodies hold the caller's own data; error bodies must hold nothing of the server's insides.
  if (res.statusCode >= 400) for (const leak of LEAKS) expect(res.body, `${what}: the body leaks ${leak}`).not.toMatch(leak);
  if (res.statusCode >= 400 && !opts.shapeless && res.body.length > 0) expectErrorShape(res, what);
}

function expectErrorShape(res: Res, what: string, code?: string): Json {
  let body: Json;
  try {
    body = JSON.parse(res.body) as Json;
  } catch {
    throw new Error(`${what}: ${res.statusCode} is not JSON: ${res.body.slice(0, 200)}`);
  }
  expect(typeof body.error?.code, `${what}: error.code in ${res.body.slice(0, 200)}`).toBe('string');
  expect(typeof body.error?.message, `${what}: error.message`).toBe('string');
  expect(typeof body.request_id, `${what}: request_id`).toBe('string');
  if (code) expect(body.error.code, `${what}: ${res.body.slice(0, 200)}`).toBe(code);
  return body;
}

/** Sends raw bytes (for what an HTTP client refuses to send) and parses the answer; the request must say `Connection: close`. */
function rawHttp(baseUrl: string, data: Buffer | string): Promise<Res> {
  const { port, hostname } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer is fine
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      if (!status) return reject(new Error(`no HTTP answer: ${JSON.stringify(raw.slice(0, 200))}`));
      const split = raw.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of raw.slice(0, split).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ statusCode: Number(status[1]), headers, body: raw.slice(split + 4) });
    });
    socket.write(data);
  });
}

const request = (head: string, extra = '', body: Buffer | string = ''): Buffer =>
  Buffer.concat([Buffer.from(`${head} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`, 'latin1'), Buffer.from(body)]);

// ---------------------------------------------------------------------------------------------
// The access matrix: every route the app registers must have an entry, and every entry a route.

type Rule = { access: Access; queryKey?: boolean; note?: string } | { access: 'preflight'; note: string };

const DOCS_ROUTES = [
  'GET /docs',
  'GET /docs/json',
  'GET /docs/yaml',
  'GET /docs/static/index.html',
  'GET /docs/static/swagger-initializer.js',
  'GET /docs/static/*',
  'GET /openapi.json',
];
const CONSOLE_ROUTES = ['GET /console', 'GET /console/*'];

const MATRIX: Record<string, Rule> = {
  'GET /health': { access: 'public' },
  'GET /': { access: 'public', note: 'a redirect to /console/ or /docs; no data' },
  ...Object.fromEntries(DOCS_ROUTES.map((r) => [r, { access: 'public', queryKey: true, note: 'http.public_docs (on by default)' }])),
  ...(consoleDir()
    ? Object.fromEntries(CONSOLE_ROUTES.map((r) => [r, { access: 'public', note: 'static assets; the page asks for a key' }]))
    : {}),
  'OPTIONS /*': { access: 'preflight', note: '@fastify/cors' },
  'GET /ready': { access: 'read' },
  'GET /system/status': { access: 'read' },
  'GET /metrics': { access: 'read' },
  'GET /auth/whoami': { access: 'read' },
  'POST /admin/api-keys': { access: 'admin' },
  'GET /admin/api-keys': { access: 'admin' },
  'DELETE /admin/api-keys/:key_id': { access: 'admin' },
  'POST /runtime/claim': { access: 'runtime' },
  'POST /runtime/tasks/:task_id/heartbeat': { access: 'runtime' },
  'POST /runtime/tasks/:task_id/complete': { access: 'runtime' },
  'POST /runtime/tasks/:task_id/fail': { access: 'runtime' },
  'GET /agents': { access: 'read' },
  'POST /agents/create': { access: 'write' },
  'PUT /agents/positions': { access: 'write' },
  'GET /agents/:agent_id': { access: 'read' },
  'PATCH /agents/:agent_id': { access: 'write' },
  'DELETE /agents/:agent_id': { access: 'write' },
  'PUT /agents/:agent_id/position': { access: 'write' },
  'POST /agent/run': { access: 'write' },
  'GET /agent/status/:task_id': { access: 'read' },
  'POST /agent/cancel/:task_id': { access: 'write' },
  'GET /analytics/agents': { access: 'read' },
  'POST /game/connect': { access: 'write' },
  'POST /game/disconnect': { access: 'write' },
  'PUT /game/scene/:scene_id': { access: 'write' },
  'GET /game/scene/:scene_id': { access: 'read' },
  'GET /game/scenes': { access: 'read' },
  'GET /game/sessions': { access: 'read' },
  'GET /game/agents/:game_id': { access: 'read' },
  'GET /games': { access: 'read' },
  'GET /ws': { access: 'read', queryKey: true },
  'GET /events': { access: 'read' },
  'GET /events/catalog': { access: 'read' },
  'GET /tasks': { access: 'read' },
  'POST /tasks/assign': { access: 'write' },
  'POST /tasks/collaborative': { access: 'write' },
  'GET /tasks/:task_id': { access: 'read' },
  'GET /tasks/:task_id/status': { access: 'read' },
  'POST /tasks/:task_id/cancel': { access: 'write' },
};

/** Which scopes DESIGN.md lets through each access level. */
const MAY: Record<Exclude<Access, 'public'>, Scope[]> = {
  read: ['admin', 'game', 'runtime', 'read'],
  write: ['admin', 'game'],
  runtime: ['admin', 'runtime'],
  admin: ['admin'],
};

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Every (method, url) the router holds, read from its printed trees (one per method), each confirmed with hasRoute. */
function registeredRoutes(t: TestApp): string[] {
  const routes: string[] = [];
  for (const method of METHODS) {
    const tree = t.app.printRoutes({ method });
    const stack: string[] = [];
    for (const line of tree.split('\n')) {
      const m = /^((?:[│ ] {3})*)[├└]── (.*)$/.exec(line);
      if (!m) continue;
      const depth = m[1]!.length / 4;
      const node = /^(.*) \(([A-Z, ]+)\)$/.exec(m[2]!);
      stack.length = depth;
      stack.push(node ? node[1]! : m[2] === '(empty root node)' ? '' : m[2]!);
      if (node && node[2]!.split(', ').includes(method)) {
        const url = stack.join('').replace(/^(?!\/)/, '/');
        expect(t.app.hasRoute({ method, url }), `parsed ${method} ${url} from printRoutes, but hasRoute denies it`).toBe(true);
        routes.push(`${method} ${url}`);
      }
    }
  }
  return routes;
}

interface Credential {
  name: string;
  headers: Record<string, string>;
  /** Scopes of a valid key; null for no key or a key the server must refuse (401). */
  scopes: Scope[] | null;
  /** The key goes in ?api_key=, which only routes with queryKey accept. */
  query?: string;
}

describe(`security (${driver})`, () => {
  let t: TestApp;
  const GAME = 'sec-a';
  const OTHER = 'sec-b';
  let agentId = '';
  let taskId = '';
  let keyId = '';
  const credentials: Credential[] = [];
  const routes: string[] = [];

  const admin = (method: string, url: string, body?: unknown) => t.request({ method, url, ...(body !== undefined ? { body } : {}) });
  const newKey = async (scopes: Scope[], gameId?: string) => {
    const res = await admin('POST', '/admin/api-keys', { name: `sec-${scopes.join('-')}`, scopes, ...(gameId ? { game_id: gameId } : {}) });
    expect(res.statusCode).toBe(201);
    return res.json<{ key: string; id: string }>();
  };

  beforeAll(async () => {
    t = await buildTestApp({ listen: true });
    agentId = (await admin('POST', '/agents/create', { agent_type: 'remote', game_id: GAME })).json().id;
    taskId = (await admin('POST', '/tasks/assign', { description: 'security target', agent_id: agentId })).json().id;
    expect((await admin('PUT', '/game/scene/lobby', { game_id: GAME })).statusCode).toBe(200);
    expect((await admin('POST', '/game/connect', { game_id: GAME })).statusCode).toBe(201);
    const revoked = await newKey(['admin']);
    expect((await admin('DELETE', `/admin/api-keys/${revoked.id}`)).statusCode).toBe(204);
    const createdAdmin = await newKey(['admin']);
    const read = await newKey(['read']);
    keyId = read.id;
    const game = await newKey(['game'], GAME);
    const otherGame = await newKey(['game'], OTHER);
    const runtime = await newKey(['runtime']);
    const readRuntime = await newKey(['read', 'runtime']);
    const bad = (name: string, headers: Record<string, string>): Credential => ({ name, headers, scopes: null });
    credentials.push(
      bad('no key', {}),
      bad('empty Bearer', { authorization: 'Bearer ' }),
      bad('Basic auth', { authorization: `Basic ${Buffer.from(`admin:${DEV_KEY}`).toString('base64')}` }),
      bad('malformed key', { 'x-api-key': 'not a key; drop table api_keys' }),
      bad('over-long key', { 'x-api-key': `avm_${'a'.repeat(600)}` }),
      bad('unknown key', { 'x-api-key': `avm_${randomBytes(32).toString('base64url')}` }),
      bad('revoked admin key', { 'x-api-key': revoked.key }),
      { name: 'admin key in ?api_key=', headers: {}, scopes: ['admin'], query: DEV_KEY },
      { name: 'bootstrap admin', headers: { 'x-api-key': DEV_KEY }, scopes: ['admin'] },
      { name: 'admin (Bearer)', headers: { authorization: `Bearer ${createdAdmin.key}` }, scopes: ['admin'] },
      { name: 'read', headers: { 'x-api-key': read.key }, scopes: ['read'] },
      { name: 'game (this game)', headers: { 'x-api-key': game.key }, scopes: ['game'] },
      { name: 'game (another game)', headers: { authorization: `bearer ${otherGame.key}` }, scopes: ['game'] },
      { name: 'runtime', headers: { 'x-api-key': runtime.key }, scopes: ['runtime'] },
      { name: 'read + runtime', headers: { 'x-api-key': readRuntime.key }, scopes: ['read', 'runtime'] },
    );
    routes.push(...registeredRoutes(t));
  });
  afterAll(async () => {
    await t?.close();
    console.log(`[security] routes in the auth matrix: ${figures.routes} (${driver})`);
    console.log(`[security] credentials per route: ${figures.credentials}; matrix requests: ${figures.matrixRequests}`);
    console.log(`[security] hostile inputs tried: ${figures.inputs}; requests checked: ${figures.requests}`);
    console.log(`[security] 5xx seen: ${figures.fiveXX}`);
  });

  /** A concrete URL for a route pattern: real ids of game sec-a; deletions get a fresh victim each. */
  async function concrete(method: string, pattern: string): Promise<string> {
    let url = pattern;
    if (url.includes(':agent_id'))
      url = url.replace(':agent_id', method === 'DELETE' ? (await insertAgent(t.app, { gameId: GAME })).id : agentId);
    if (url.includes(':key_id')) url = url.replace(':key_id', method === 'DELETE' ? (await newKey(['read'])).id : keyId);
    url = url.replace(':task_id', taskId).replace(':scene_id', 'lobby').replace(':game_id', GAME);
    url = url.replace(/^\/docs\/static\/\*$/, '/docs/static/swagger-ui.css').replace(/^\/console\/\*$/, '/console/index.html');
    if (/[:*]/.test(url)) throw new Error(`no value for the path parameters of ${method} ${pattern}: add one to concrete()`);
    return url;
  }

  it('covers every registered route: a route without an entry in the matrix fails here', () => {
    const missing = routes.filter((r) => !r.startsWith('HEAD ') && !(r in MATRIX));
    expect(missing, 'routes with no access rule in MATRIX (add each with the access DESIGN.md gives it)').toEqual([]);
    const stale = Object.keys(MATRIX).filter((r) => !routes.includes(r));
    expect(stale, 'MATRIX entries the app does not register').toEqual([]);
    // HEAD is Fastify's automatic twin of a GET: same hooks, same rule.
    const orphanHeads = routes.filter((r) => r.startsWith('HEAD ') && !routes.includes(r.replace(/^HEAD /, 'GET ')));
    expect(orphanHeads).toEqual([]);
    // Exactly these answer without a key.
    const open = Object.entries(MATRIX)
      .filter(([, rule]) => rule.access === 'public')
      .map(([r]) => r);
    expect(open.sort()).toEqual(['GET /health', 'GET /', ...DOCS_ROUTES, ...(consoleDir() ? CONSOLE_ROUTES : [])].sort());
    figures.routes = routes.length;
    figures.credentials = credentials.length;
  });

  it('route × credential: 401 for no key or a bad one, 403 without the scope, never refused with it', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const [method, pattern] = route.split(' ') as [string, string];
      const rule = MATRIX[route.replace(/^HEAD /, 'GET ')];
      if (!rule || rule.access === 'preflight') continue;
      for (const cred of credentials) {
        let url = await concrete(method, pattern);
        if (cred.query) url += `${url.includes('?') ? '&' : '?'}api_key=${encodeURIComponent(cred.query)}`;
        const res = await t.app.inject({ method: method as 'GET', url, headers: cred.headers });
        figures.matrixRequests++;
        const what = `${route} with ${cred.name} (${res.statusCode})`;
        check(res, what, { shapeless: method === 'HEAD' });
        let expected: 'ok' | 401 | 403;
        if (rule.access === 'public') expected = 'ok';
        else if (!cred.scopes || (cred.query && !rule.queryKey)) expected = 401;
        else expected = cred.scopes.some((s) => MAY[rule.access as keyof typeof MAY].includes(s)) ? 'ok' : 403;
        if (expected === 'ok') {
          if (res.statusCode === 401 || res.statusCode === 403) failures.push(`${what}: refused ${res.body.slice(0, 120)}`);
        } else if (res.statusCode !== expected) {
          failures.push(`${what}: expected ${expected}, got ${res.body.slice(0, 120)}`);
        } else if (method !== 'HEAD') {
          expectErrorShape(res, what, expected === 401 ? 'unauthorized' : 'forbidden');
        }
      }
    }
    expect(failures).toEqual([]);
    expect(figures.matrixRequests).toBeGreaterThan(routes.length * 10);
  });

  it('unknown paths need a key too (no probing for routes without one); CORS preflights answer without one and carry nothing', async () => {
    for (const url of ['/nope', '/agents/x/y/z', '/admin', '/.env', '/wss', '/agents/create/']) {
      const anon = await t.app.inject({ method: 'GET', url });
      check(anon, `GET ${url} without a key`);
      expect(anon.statusCode, url).toBe(401);
      const keyed = await t.request({ method: 'GET', url });
      check(keyed, `GET ${url}`);
      expect([400, 404], `${url}: ${keyed.statusCode}`).toContain(keyed.statusCode);
    }
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/admin/api-keys',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.body).toBe('');
    const foreign = await t.app.inject({
      method: 'OPTIONS',
      url: '/agents',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'DELETE' },
    });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    // Not a preflight: an empty 204 all the same, never data.
    const bare = await t.app.inject({ method: 'OPTIONS', url: '/agents' });
    check(bare, 'bare OPTIONS');
    expect(bare.statusCode).toBe(204);
    expect(bare.body).toBe('');
    figures.inputs += 13;
  });

  it('with http.public_docs off, the docs and the OpenAPI document need a key as well', async () => {
    const closed = await buildTestApp({ config: { http: { public_docs: false } } });
    try {
      for (const route of DOCS_ROUTES) {
        const [method, pattern] = route.split(' ') as [string, string];
        const url = pattern.replace('*', 'swagger-ui.css');
        const anon = await closed.app.inject({ method: method as 'GET', url });
        check(anon, `${route} without a key`);
        expect(anon.statusCode, route).toBe(401);
        const keyed = await closed.app.inject({ method: method as 'GET', url: `${url}?api_key=${DEV_KEY}` });
        expect(keyed.statusCode, route).toBeLessThan(400);
      }
      expect((await closed.request({ method: 'GET', url: '/health', key: null })).statusCode).toBe(200);
    } finally {
      await closed.close();
    }
  });

  it('with no CORS origins (production’s default), no CORS headers at all, and OPTIONS is an unknown route needing a key', async () => {
    const closed = await buildTestApp({ config: { http: { cors_origins: [] } } });
    try {
      const res = await closed.app.inject({ method: 'GET', url: '/health', headers: { origin: 'http://localhost:5173' } });
      expect(res.statusCode).toBe(200);
      expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-') || h === 'vary')).toEqual([]);
      const preflight = await closed.app.inject({
        method: 'OPTIONS',
        url: '/agents',
        headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'GET' },
      });
      check(preflight, 'OPTIONS without CORS');
      expect(preflight.statusCode).toBe(401);
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect((await closed.request({ method: 'OPTIONS', url: '/agents' })).statusCode).toBe(404);
    } finally {
      await closed.close();
    }
  });

  it('refuses WebSocket upgrades without a key, with a bad or revoked one (401 in the error shape); accepts every scope', async () => {
    const upgrade = (query: string, headers: Record<string, string>) =>
      new Promise<{ open: true } | { status: number; body: string }>((resolve, reject) => {
        const socket = new WebSocket(`${t.url.replace('http', 'ws')}/ws${query}`, { headers });
        socket.once('open', () => {
          socket.close();
          resolve({ open: true });
        });
        socket.once('unexpected-response', (req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, body });
          });
        });
        socket.once('error', reject);
      });
    for (const cred of credentials) {
      const query = cred.query ? `?api_key=${encodeURIComponent(cred.query)}` : '';
      const result = await upgrade(query, cred.headers);
      figures.requests++;
      if (cred.scopes) expect(result, cred.name).toEqual({ open: true });
      else {
        expect(result, cred.name).toMatchObject({ status: 401 });
        const res = result as { status: number; body: string };
        expectErrorShape({ statusCode: res.status, headers: {}, body: res.body }, `ws upgrade with ${cred.name}`, 'unauthorized');
      }
    }
    for (const query of ['?api_key=', `?api_key=${'x'.repeat(600)}`, '?api_key=avm_nope&api_key=avm_nope2']) {
      const result = await upgrade(query, {});
      expect(result, query).toMatchObject({ status: expect.any(Number) });
      expect((result as { status: number }).status, query).toBeGreaterThanOrEqual(400);
      expect((result as { status: number }).status, query).toBeLessThan(500);
    }
  });

  // ------------------------------------------------------------------------------ hostile input

  const bodyRoutes = () => routes.filter((r) => /^(POST|PUT|PATCH) /.test(r));
  const send = async (method: string, url: string, payload: string | Buffer, headers: Record<string, string> = {}) => {
    figures.inputs++;
    return t.app.inject({
      method: method as 'POST',
      url,
      headers: { 'x-api-key': DEV_KEY, 'content-type': 'application/json', ...headers },
      payload,
    });
  };

  it('oversize bodies get 413 payload_too_large on every route that takes a body, also when only Content-Length says so', async () => {
    const limit = t.config.http.body_limit_bytes;
    const big = JSON.stringify({ metadata: { pad: 'x'.repeat(limit + 1024) } });
    for (const route of bodyRoutes()) {
      const [method, pattern] = route.split(' ') as [string, string];
      const res = await send(method, await concrete(method, pattern), big);
      check(res, `${route} oversize`);
      expect(res.statusCode, route).toBe(413);
      expectErrorShape(res, route, 'payload_too_large');
    }
    // A Content-Length past the limit is refused before the body is read.
    const declared = await rawHttp(
      t.url,
      request(
        'POST /agents/create',
        `x-api-key: ${DEV_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${limit * 50}\r\n`,
        '{"a":',
      ),
    );
    check(declared, 'declared oversize');
    expect(declared.statusCode).toBe(413);
    // Chunked past the limit.
    const chunk = `{"agent_type":"aider","metadata":{"pad":"${'y'.repeat(limit + 10)}"}}`;
    const chunked = await rawHttp(
      t.url,
      request(
        'POST /agents/create',
        `x-api-key: ${DEV_KEY}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n`,
        `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
      ),
    );
    check(chunked, 'chunked oversize');
    expect(chunked.statusCode).toBe(413);
    figures.inputs += 2;
  });

  it('deeply nested JSON (10,000 and 100,000 levels) anywhere in a body is a 4xx, never a crash', async () => {
    const arrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const objects = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const fields = [
      'metadata',
      'result',
      'error',
      'position',
      'bounds',
      'spawn_points',
      'capabilities',
      'positions',
      'scopes',
      'depends_on',
    ];
    for (const route of bodyRoutes()) {
      const [method, pattern] = route.split(' ') as [string, string];
      const url = await concrete(method, pattern);
      const payloads = [arrays(10_000), objects(10_000), ...fields.map((f) => `{"${f}":{"deep":${arrays(10_000)}}}`)];
      for (const payload of payloads) {
        const res = await send(method, url, payload);
        check(res, `${route} with ${payload.slice(0, 40)}…`);
        // /agent/cancel/{id} takes no body: it never reads one.
        if (route !== 'POST /agent/cancel/:task_id') expect(res.statusCode, `${route} ${payload.slice(0, 40)}`).toBeGreaterThanOrEqual(400);
      }
    }
    // Valid bodies otherwise, the depth in a free-form field: refused, naming the field.
    const cases: Array<[string, string, Json, string]> = [
      ['POST', '/agents/create', { agent_type: 'aider', game_id: GAME }, 'metadata'],
      ['PATCH', `/agents/${agentId}`, {}, 'metadata'],
      ['POST', '/tasks/assign', { description: 'deep', game_id: GAME }, 'metadata'],
      ['POST', '/game/connect', { game_id: GAME }, 'metadata'],
      ['PUT', '/game/scene/deep', { game_id: GAME }, 'metadata'],
    ];
    for (const [method, url, valid, field] of cases) {
      for (const depth of [100, 5_000, 100_000]) {
        const payload = `${JSON.stringify(valid).slice(0, -1)}${Object.keys(valid).length ? ',' : ''}"${field}":{"x":${arrays(depth)}}}`;
        const res = await send(method, url, payload);
        check(res, `${method} ${url} ${field} at depth ${depth}`);
        expect(res.statusCode, `${method} ${url} depth ${depth}: ${res.body.slice(0, 200)}`).toBe(400);
        expect(res.json().error.details[0].field).toBe(field);
      }
      // 60 levels is fine
      const shallow = `${JSON.stringify(valid).slice(0, -1)}${Object.keys(valid).length ? ',' : ''}"${field}":{"x":${arrays(60)}}}`;
      const ok = await send(method, url, shallow);
      check(ok, `${method} ${url} at depth 60`);
      expect(ok.statusCode, `${method} ${url} depth 60: ${ok.body.slice(0, 200)}`).toBeLessThan(300);
    }
    expect((await t.request({ method: 'GET', url: '/health', key: null })).statusCode).toBe(200);
  });

  it('invalid UTF-8 in bodies, paths, query strings and keys: 4xx (or accepted as U+FFFD text), never 5xx', async () => {
    const ff = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]);
    const bodies = [
      Buffer.concat([Buffer.from('{"agent_type":"aider","name":"x'), ff, Buffer.from('"}')]),
      Buffer.concat([Buffer.from('{"agent_type":"aider","metadata":{"'), ff, Buffer.from('":"'), ff, Buffer.from('"}}')]),
      Buffer.concat([Buffer.from('{"agent_type":"aider",'), ff, Buffer.from('}')]),
      Buffer.concat([Buffer.from('{"agent_type":"aider","'), ff, Buffer.from('":1}')]),
      Buffer.from('{"agent_type":"aider","name":"a\\ud800b","metadata":{"\\udfff":"\\ud800"}}'),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"agent_type":"aider"}')]),
      ff,
    ];
    for (const route of ['POST /agents/create', 'POST /tasks/assign', 'POST /game/connect', `PATCH /agents/${agentId}`]) {
      const [method, url] = route.split(' ') as [string, string];
      for (const body of bodies) {
        const res = await send(method, url, body);
        check(res, `${route} with invalid UTF-8 ${body.toString('hex').slice(0, 40)}`);
        const raw = await rawHttp(
          t.url,
          request(
            `${method} ${url}`,
            `x-api-key: ${DEV_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n`,
            body,
          ),
        );
        figures.inputs++;
        check(raw, `raw ${route} with invalid UTF-8`);
      }
    }
    // Raw bytes in the request line: Node's parser refuses them before any route, in the contract's shape.
    for (const target of ['/agents/', '/agents?game_id=', '/game/scene/']) {
      const res = await rawHttp(
        t.url,
        Buffer.concat([
          Buffer.from(`GET ${target}`),
          ff,
          Buffer.from(` HTTP/1.1\r\nHost: x\r\nx-api-key: ${DEV_KEY}\r\nConnection: close\r\n\r\n`),
        ]),
      );
      figures.inputs++;
      check(res, `raw bytes in ${target}`);
      expect(res.statusCode, target).toBe(400);
      expectErrorShape(res, target, 'bad_request');
    }
    // Percent-encoded invalid UTF-8.
    for (const url of ['/agents/%FF%FE', '/agents/%ZZ', '/game/agents/%C3%28', '/game/scene/%ED%A0%80', '/tasks/%00']) {
      const res = await t.request({ method: 'GET', url });
      figures.inputs++;
      check(res, url);
      expect(res.statusCode, url).toBe(400);
    }
    for (const url of ['/agents?game_id=%FF%FE', '/events?types=%C3%28', '/game/sessions?game_id=%ZZ', '/tasks?cursor=%ED%A0%80']) {
      const res = await t.request({ method: 'GET', url });
      figures.inputs++;
      check(res, url);
    }
  });

  it('prototype-pollution keys are refused or ignored, and pollute nothing', async () => {
    const payloads = [
      '{"agent_type":"aider","__proto__":{"polluted":"yes"}}',
      '{"agent_type":"aider","constructor":{"prototype":{"polluted":"yes"}}}',
      '{"agent_type":"aider","metadata":{"__proto__":{"polluted":"yes"}}}',
      '{"agent_type":"aider","metadata":{"a":[{"__proto__":{"polluted":"yes"}}]}}',
      '{"agent_type":"aider","metadata":{"constructor":{"prototype":{"polluted":"yes"}}}}',
      '{"agent_type":"aider","\\u005f_proto__":{"polluted":"yes"}}',
      '{"agent_type":"aider","metadata":{"prototype":{"polluted":"yes"},"toString":"x","valueOf":1,"hasOwnProperty":2}}',
      '{"description":"x","__proto__":{"polluted":"yes"}}',
      '{"positions":[{"agent_id":"00000000-0000-4000-8000-000000000000","x":1,"y":1,"z":1,"__proto__":{"polluted":"yes"}}]}',
      '{"game_id":"sec-a","metadata":{"__proto__":{"isAdmin":true}}}',
    ];
    const urls = ['/agents/create', '/tasks/assign', '/game/connect', `/agents/${agentId}`, '/agents/positions', '/admin/api-keys'];
    for (const payload of payloads) {
      for (const url of urls) {
        const method = url === '/agents/positions' ? 'PUT' : url === `/agents/${agentId}` ? 'PATCH' : 'POST';
        const res = await send(method, url, payload);
        check(res, `${method} ${url} ${payload}`);
        if (res.statusCode < 300) {
          // Accepted: then the hostile key is plain data (or dropped), never a prototype.
          const stored = res.json<Json>();
          expect(Object.getPrototypeOf(stored.metadata ?? {})).toBe(Object.prototype);
        }
      }
    }
    for (const query of [
      '__proto__[polluted]=yes',
      'constructor[prototype][polluted]=yes',
      '__proto__.polluted=yes',
      '__proto__=x&limit=1',
    ]) {
      for (const path of ['/agents', '/tasks', '/events', '/game/sessions']) {
        const res = await t.request({ method: 'GET', url: `${path}?${query}` });
        figures.inputs++;
        check(res, `${path}?${query}`);
        expect(res.statusCode, `${path}?${query}`).toBe(400);
      }
    }
    expect(({} as Json).polluted).toBeUndefined();
    expect(({} as Json).isAdmin).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    // the server still answers normally
    expect((await t.request({ method: 'GET', url: `/agents/${agentId}` })).statusCode).toBe(200);
  });

  it('bodies that are not JSON: 415 unsupported_media_type (or 400), in the error shape', async () => {
    const types = [
      'text/html',
      'application/xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      'application/jsonx',
      'image/png',
      ';;;',
      'x'.repeat(2000),
      'text/plain',
    ];
    for (const type of types) {
      for (const url of ['/agents/create', '/tasks/assign', '/admin/api-keys']) {
        const res = await send('POST', url, '{"agent_type":"aider"}', { 'content-type': type });
        check(res, `${url} as ${type.slice(0, 40)}`);
        expect(res.statusCode, `${url} as ${type.slice(0, 40)}: ${res.body.slice(0, 120)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
      }
    }
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded']) {
      const res = await send('POST', '/agents/create', '{"agent_type":"aider"}', { 'content-type': type });
      expect(res.statusCode, type).toBe(415);
      expectErrorShape(res, type, 'unsupported_media_type');
    }
    // A plain GET /ws (no Upgrade) is told to use a WebSocket client.
    const plainWs = await t.request({ method: 'GET', url: '/ws' });
    expect(plainWs.statusCode).toBe(426);
    expectErrorShape(plainWs, 'GET /ws without Upgrade', 'upgrade_required');
    expect(plainWs.headers.upgrade).toBe('websocket');
    // JSON with parameters Fastify tolerates: parsed as JSON (or refused), never a 5xx.
    for (const type of ['application/json; charset=latin1', 'application/json, text/html', 'APPLICATION/JSON', 'application/json;;']) {
      const res = await send('POST', '/agents/create', '{"agent_type":"aider"}', { 'content-type': type });
      check(res, `as ${type}`);
    }
    const none = await t.app.inject({
      method: 'POST',
      url: '/agents/create',
      headers: { 'x-api-key': DEV_KEY },
      payload: '{"agent_type":"aider"}',
    });
    check(none, 'no content-type');
    expect(none.statusCode).toBe(415);
    expectErrorShape(none, 'no content-type', 'unsupported_media_type');
  });

  it('duplicate, conflicting, huge and control-character headers: a 4xx in the error shape, never a 5xx', async () => {
    const cases: Array<[string, string, number | number[]]> = [
      ['duplicate X-API-Key', `x-api-key: ${DEV_KEY}\r\nx-api-key: ${DEV_KEY}\r\n`, 401],
      ['two Authorization headers', `authorization: Bearer nope\r\nauthorization: Bearer ${DEV_KEY}\r\n`, 401],
      ['Bearer and X-API-Key disagree', `authorization: Bearer nope\r\nx-api-key: ${DEV_KEY}\r\n`, 401],
      ['control character in X-API-Key', `x-api-key: ${DEV_KEY}\x01\r\n`, 400],
      ['DEL in X-API-Key', `x-api-key: dev\x7felopment-key\r\n`, 400],
      ['NUL in X-API-Key', `x-api-key: dev\x00elopment-key\r\n`, 400],
      ['CR in X-API-Key', `x-api-key: ${DEV_KEY}\rx-injected: 1\r\n`, 400],
      ['Latin-1 bytes in X-API-Key', `x-api-key: \xff\xfe\xc3\x28\r\n`, 401],
      ['tabs around the key (optional whitespace)', `x-api-key: \t${DEV_KEY}\t\r\n`, 200],
      ['huge header', `x-api-key: ${DEV_KEY}\r\nx-junk: ${'a'.repeat(20_000)}\r\n`, 431],
      ['huge key', `x-api-key: ${'k'.repeat(10_000)}\r\n`, 401],
      ['a thousand headers', `x-api-key: ${DEV_KEY}\r\n${Array.from({ length: 1000 }, (_, i) => `x-h${i}: ${i}\r\n`).join('')}`, 200],
      ['header without a colon', `x-api-key: ${DEV_KEY}\r\nthis is not a header\r\n`, 400],
      ['obsolete line folding', `x-api-key: ${DEV_KEY}\r\nx-fold: a\r\n b\r\n`, [200, 400]],
      ['invalid header name', `x-api-key: ${DEV_KEY}\r\nx(y): 1\r\n`, 400],
      ['huge query string', `x-api-key: ${DEV_KEY}\r\n`, 431],
    ];
    for (const [name, headers, expected] of cases) {
      const target = name === 'huge query string' ? `/agents?cursor=${'c'.repeat(20_000)}` : '/auth/whoami';
      const res = await rawHttp(t.url, request(`GET ${target}`, headers));
      figures.inputs++;
      check(res, name);
      expect([expected].flat(), `${name}: ${res.statusCode} ${res.body.slice(0, 200)}`).toContain(res.statusCode);
      if (res.statusCode >= 400) expectErrorShape(res, name);
    }
    const bodies: Array<[string, string]> = [
      ['two different Content-Length', 'content-length: 2\r\ncontent-length: 3\r\n'],
      ['Content-Length and chunked', 'content-length: 2\r\ntransfer-encoding: chunked\r\n'],
      ['negative Content-Length', 'content-length: -1\r\n'],
      ['non-numeric Content-Length', 'content-length: 2x\r\n'],
      ['unknown Transfer-Encoding', 'transfer-encoding: gzip, zstd\r\n'],
    ];
    for (const [name, headers] of bodies) {
      const res = await rawHttp(
        t.url,
        request('POST /agents/create', `x-api-key: ${DEV_KEY}\r\ncontent-type: application/json\r\n${headers}`, '{}'),
      );
      figures.inputs++;
      check(res, name);
      expect(res.statusCode, name).toBeGreaterThanOrEqual(400);
      expectErrorShape(res, name);
    }
  });

  it('query strings with arrays, huge and odd numbers, junk cursors: a 4xx or a page, never a 5xx', async () => {
    const lists = [
      '/agents',
      '/tasks',
      '/events',
      '/game/sessions',
      '/games',
      '/game/scenes',
      '/admin/api-keys',
      '/analytics/agents',
      '/game/scene/lobby',
    ];
    const queries = [
      'limit=1&limit=2',
      'limit[]=1',
      'limit[0]=1',
      'limit=1e309',
      'limit=99999999999999999999999',
      'limit=-1',
      'limit=0',
      'limit=0x10',
      'limit=NaN',
      'limit=Infinity',
      'limit=',
      'limit=1.5',
      'limit=%201',
      `cursor=${'A'.repeat(5000)}`,
      'cursor=%00',
      `cursor=${Buffer.from('{"x":1}').toString('base64url')}`,
      `cursor=${Buffer.from('["2024-01-01",1,2,3]').toString('base64url')}`,
      `cursor=${Buffer.from('[null,{"a":1}]').toString('base64url')}`,
      'cursor=eyJ',
      'game_id[]=a',
      'game_id=a&game_id=b',
      `game_id=${'g'.repeat(300)}`,
      'game_id=',
      'since=1e400',
      'since=-5',
      'since=99999999999999999999',
      `types=${','.repeat(500)}`,
      'types=*.*.*',
      'status=__proto__',
      'status=idle&status=busy',
      'agent_id=not-a-uuid',
      'window_s=-1',
      'window_s=1e20',
      'unknown=1',
      '&&&==&=',
    ];
    for (const path of lists) {
      for (const query of queries) {
        const res = await t.request({ method: 'GET', url: `${path}?${query}` });
        figures.inputs++;
        check(res, `${path}?${query.slice(0, 60)}`);
      }
    }
  });
});

describe(`rate limits (${driver})`, () => {
  let t: TestApp;
  let agentId = '';
  const PER_MINUTE = 5;
  const POSITIONS = 3;
  beforeAll(async () => {
    t = await buildTestApp({ config: { rate_limit: { enabled: true, per_minute: PER_MINUTE, positions_per_minute: POSITIONS } } });
    agentId = (await insertAgent(t.app, { gameId: 'rl' })).id;
  });
  afterAll(async () => t?.close());

  const expect429 = (res: Res, what: string) => {
    check(res, what);
    expect(res.statusCode, what).toBe(429);
    expectErrorShape(res, what, 'rate_limited');
    const retryAfter = String(res.headers['retry-after']);
    expect(retryAfter, `${what}: Retry-After`).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
  };

  it('replicas share one budget through Redis: hits counted on one are refused on the other after a flush', async () => {
    // Two replicas of one deployment (same Redis prefix). Counting is in process and written
    // behind every 100 ms, so B sees A's hits once A has flushed.
    const prefix = `agentvm-test:${randomBytes(6).toString('hex')}:`;
    const config = { rate_limit: { enabled: true, per_minute: 10 } };
    const a = await buildTestApp({ redis: true, redisPrefix: prefix, config });
    const b = await buildTestApp({ redis: true, redisPrefix: prefix, config });
    try {
      const whoami = (r: TestApp) => r.request({ method: 'GET', url: '/auth/whoami' });
      for (let i = 0; i < 6; i++) expect((await whoami(a)).statusCode, `A, request ${i + 1}`).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const onB: number[] = [];
      for (let i = 0; i < 5; i++) onB.push((await whoami(b)).statusCode);
      expect(onB).toEqual([200, 200, 200, 200, 429]);
      // A learns B's hits when it next writes its own: the first request after may still pass
      // (the documented overshoot: what a replica lets through within one flush interval).
      await new Promise((resolve) => setTimeout(resolve, 400));
      await whoami(a);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await whoami(a)).statusCode, 'A after B spent the rest').toBe(429);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a key past per_minute gets 429 rate_limited with Retry-After (integer seconds); other keys keep their budget', async () => {
    const { key } = await t.app.apiKeys.create({ name: 'rl-read', scopes: ['read'] }, null as never);
    for (let i = 0; i < PER_MINUTE; i++) {
      const res = await t.request({ method: 'GET', url: '/auth/whoami' });
      check(res, `whoami ${i}`);
      expect(res.statusCode, `request ${i + 1}`).toBe(200);
    }
    expect429(await t.request({ method: 'GET', url: '/auth/whoami' }), 'request 6 with the admin key');
    expect429(await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider' } }), 'a write past the budget');
    expect((await t.request({ method: 'GET', url: '/auth/whoami', key })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/health', key: null })).statusCode).toBe(200);
  });

  it('positions have their own budget, spent separately and answered the same way', async () => {
    for (let i = 0; i < POSITIONS; i++) {
      const res = await t.request({ method: 'PUT', url: `/agents/${agentId}/position`, body: { x: i, y: 0, z: 0 } });
      expect(res.statusCode, `position ${i + 1}: ${res.body}`).toBe(200);
    }
    expect429(await t.request({ method: 'PUT', url: `/agents/${agentId}/position`, body: { x: 9, y: 0, z: 0 } }), 'position 4');
  });

  it('requests without a key, or with a wrong key, are counted too (per IP / per presented key): the flood gets 429, not endless 401s', async () => {
    const codes: number[] = [];
    for (let i = 0; i <= PER_MINUTE; i++) codes.push((await t.request({ method: 'GET', url: '/agents', key: null })).statusCode);
    expect(codes).toEqual([...Array<number>(PER_MINUTE).fill(401), 429]);
    expect429(await t.request({ method: 'GET', url: '/agents', key: null }), 'no key, past the budget');
    const wrong = `avm_${randomBytes(16).toString('hex')}`;
    const wrongCodes: number[] = [];
    for (let i = 0; i <= PER_MINUTE; i++)
      wrongCodes.push((await t.request({ method: 'GET', url: '/system/status', key: wrong })).statusCode);
    expect(wrongCodes).toEqual([...Array<number>(PER_MINUTE).fill(401), 429]);
    const positions: number[] = [];
    for (let i = 0; i <= POSITIONS; i++) {
      positions.push((await t.request({ method: 'PUT', url: '/agents/positions', key: wrong, body: { positions: [] } })).statusCode);
    }
    expect(positions).toEqual([...Array<number>(POSITIONS).fill(401), 429]);
    expect((await t.request({ method: 'GET', url: '/health', key: null })).statusCode).toBe(200);
  });
});
