import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, driver, type TestApp } from '../helpers/build-app.js';

/**
 * Random bodies to every write endpoint: valid-looking shapes with hostile values, wrong types,
 * deep nesting and junk. Whatever arrives, the answer is 2xx or 4xx in the contract's error
 * shape — never a 5xx, never a stack trace.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 250);

const hostileString = fc.oneof(
  fc.string(),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '../../etc/passwd',
    "'; drop table agents; --",
    '$(rm -rf /)',
    'NaN',
    '1e999',
    '🙂'.repeat(50),
    'a'.repeat(70_000),
  ),
);
const hostileNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 0.5, 1.5));
/** Keys that reach for prototypes (fast-check writes `__proto__` as an own key, so JSON carries it). */
const hostileKey = fc.oneof(
  fc.string(),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'polluted'),
);
const value = fc.oneof(
  hostileString,
  hostileNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 5 }),
  fc.dictionary(fc.string(), hostileString, { maxKeys: 4 }),
  fc.dictionary(hostileKey, fc.oneof(hostileString, fc.dictionary(hostileKey, fc.constant('polluted'), { maxKeys: 2 })), { maxKeys: 4 }),
);
const figures = { inputs: 0, fiveXX: 0 };
const uuidish = fc.oneof(fc.uuid(), hostileString);

/** Objects built from the endpoint's own field names, each value hostile or plausible. */
const shaped = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(Object.fromEntries(Object.entries(fields).map(([k, arb]) => [k, fc.oneof(arb, value)])), { requiredKeys: [] });

describe(`fuzz: write endpoints never answer 5xx (${driver})`, () => {
  let t: TestApp;
  let agentId = '';
  let taskId = '';
  beforeAll(async () => {
    t = await buildTestApp({ config: { system: { max_agents: 100_000 } } });
    agentId = (await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'remote', game_id: 'fuzz' } })).json().id;
    taskId = (await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'fuzz target', agent_id: agentId } })).json().id;
  });
  afterAll(async () => {
    await t?.close();
    console.log(
      `[security] fuzz (${driver}): ${figures.inputs} random bodies and path ids to write endpoints, 5xx seen: ${figures.fiveXX}`,
    );
  });

  const endpoints: Array<[string, () => string, fc.Arbitrary<unknown>]> = [
    [
      'POST',
      () => '/agents/create',
      shaped({
        agent_type: fc.constantFrom('aider', 'claude', 'nope'),
        name: hostileString,
        game_id: hostileString,
        capabilities: fc.array(hostileString),
        personality: hostileString,
        position: fc.record({ x: hostileNumber, y: hostileNumber, z: hostileNumber }),
        metadata: fc.dictionary(fc.string(), value),
      }),
    ],
    [
      'PATCH',
      () => `/agents/${agentId}`,
      shaped({
        name: hostileString,
        capabilities: fc.array(hostileString),
        personality: hostileString,
        scene_id: hostileString,
        metadata: fc.dictionary(fc.string(), value),
      }),
    ],
    [
      'PUT',
      () => `/agents/${agentId}/position`,
      shaped({ x: hostileNumber, y: hostileNumber, z: hostileNumber, rotation_y: hostileNumber, scene_id: hostileString }),
    ],
    [
      'PUT',
      () => '/agents/positions',
      shaped({
        positions: fc.array(shaped({ agent_id: uuidish, x: hostileNumber, y: hostileNumber, z: hostileNumber }), { maxLength: 5 }),
      }),
    ],
    [
      'POST',
      () => '/tasks/assign',
      shaped({
        description: hostileString,
        prompt: hostileString,
        task_type: hostileString,
        agent_id: uuidish,
        priority: fc.oneof(hostileNumber, hostileString),
        preferred_type: hostileString,
        depends_on: fc.array(uuidish, { maxLength: 3 }),
        required_capabilities: fc.array(hostileString),
        game_id: hostileString,
        timeout_s: hostileNumber,
        max_attempts: hostileNumber,
      }),
    ],
    ['POST', () => '/tasks/collaborative', shaped({ description: hostileString, team_size: hostileNumber, game_id: hostileString })],
    ['POST', () => `/tasks/${taskId}/cancel`, shaped({ reason: hostileString })],
    [
      'POST',
      () => '/game/connect',
      shaped({
        game_id: hostileString,
        name: hostileString,
        engine: hostileString,
        engine_version: hostileString,
        scene_id: hostileString,
        metadata: fc.dictionary(fc.string(), value),
      }),
    ],
    ['POST', () => '/game/disconnect', shaped({ session_id: uuidish, reason: hostileString })],
    [
      'PUT',
      () => '/game/scene/lobby',
      shaped({ game_id: hostileString, name: hostileString, bounds: value, spawn_points: fc.array(value, { maxLength: 3 }) }),
    ],
    ['POST', () => '/runtime/claim', shaped({ agent_id: uuidish, wait_s: hostileNumber })],
    [
      'POST',
      () => `/runtime/tasks/${taskId}/heartbeat`,
      shaped({ lease_token: uuidish, progress: hostileNumber, message: hostileString, activity: hostileString }),
    ],
    ['POST', () => `/runtime/tasks/${taskId}/fail`, shaped({ lease_token: uuidish, error: value, retryable: value })],
    ['POST', () => '/admin/api-keys', shaped({ name: hostileString, scopes: fc.array(hostileString), game_id: hostileString })],
    [
      'POST',
      () => '/agent/run',
      shaped({
        agent: fc.constantFrom('aider', 'nope'),
        prompt: hostileString,
        repo_path: hostileString,
        timeout: hostileNumber,
        extra_args: fc.array(hostileString, { maxLength: 3 }),
      }),
    ],
  ];

  for (const [method, url, body] of endpoints) {
    it(`${method} ${url().replace(/[0-9a-f-]{36}/g, '{id}')}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: body }, { weight: 1, arbitrary: value }), async (payload) => {
          // /agent/run would wait for a real run: give it a one-second budget when it is valid.
          const sent = url() === '/agent/run' && payload && typeof payload === 'object' ? { ...(payload as object), timeout: 1 } : payload;
          const res = await t.app.inject({
            method: method as 'POST',
            url: url(),
            headers: { 'x-api-key': 'development-key', 'content-type': 'application/json' },
            payload: JSON.stringify(sent),
          });
          figures.inputs++;
          if (res.statusCode >= 500) {
            figures.fiveXX++;
            throw new Error(`${res.statusCode} for ${JSON.stringify(sent).slice(0, 300)}: ${res.body.slice(0, 300)}`);
          }
          if (res.statusCode >= 400) {
            const error = res.json().error;
            expect(typeof error.code).toBe('string');
            expect(typeof error.message).toBe('string');
            expect(res.body).not.toMatch(/\n\s+at .+:\d+|select .* from|insert into/i);
          }
        }),
        { numRuns: url() === '/agent/run' ? Math.ceil(RUNS / 10) : RUNS },
      );
    }, 120_000);
  }

  it('path ids: random agent ids, scene ids and game ids on every agent and game route', async () => {
    const routes: Array<[string, (id: string) => string, unknown]> = [
      ['GET', (id) => `/agents/${id}`, undefined],
      ['PATCH', (id) => `/agents/${id}`, { name: 'fuzzed' }],
      ['DELETE', (id) => `/agents/${id}`, undefined],
      ['PUT', (id) => `/agents/${id}/position`, { x: 1, y: 2, z: 3 }],
      ['PUT', (id) => `/game/scene/${id}`, { game_id: 'fuzz' }],
      ['GET', (id) => `/game/scene/${id}`, undefined],
      ['GET', (id) => `/game/agents/${id}`, undefined],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(uuidish, fc.string({ unit: 'binary', maxLength: 300 })), async (route, raw) => {
        const [method, path, body] = route;
        const res = await t.app.inject({
          method: method as 'GET',
          url: path(encodeURIComponent(raw)),
          headers: { 'x-api-key': 'development-key', ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { payload: JSON.stringify(body) } : {}),
        });
        figures.inputs++;
        if (res.statusCode >= 500) {
          figures.fiveXX++;
          throw new Error(`${res.statusCode} for ${method} ${path(encodeURIComponent(raw))}: ${res.body.slice(0, 300)}`);
        }
        if (res.statusCode >= 400) expect(typeof res.json().error.code).toBe('string');
      }),
      { numRuns: RUNS },
    );
    // the agent the other cases write to is still there
    expect((await t.request({ method: 'GET', url: `/agents/${agentId}` })).statusCode).toBe(200);
  }, 120_000);

  it('left no prototype polluted after every hostile key above', () => {
    const probe = {} as Record<string, unknown>;
    expect(probe.polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(typeof probe.toString).toBe('function');
    expect(typeof probe.hasOwnProperty).toBe('function');
  });
});
