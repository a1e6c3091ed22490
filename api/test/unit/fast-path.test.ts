import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batchPositionsBody, MAX_BATCH_POSITIONS, positionBody } from '../../src/contract/agents.js';
import { fastPathOf, withFastPath } from '../../src/contract/fast-path.js';
import { volatileLine, type VolatileEvent } from '../../src/modules/events/outbox.js';
import { zodValidatorCompiler } from '../../src/plugins/validation.js';

/**
 * The hand-written checks of the hot routes may only ever say yes to what zod says yes to, and
 * zod must hand such input back unchanged (the validator then passes the parsed JSON on as is).
 * Bodies are generated near the valid shape — every field right or wrong in a few ways, extra
 * keys, wrong containers — so both answers are exercised often.
 */
const UUIDS = ['01900000-0000-7000-8000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'C56A4180-65AA-42EC-A945-5FD21DEC0538'];
const notUuids = ['01900000-0000-7000-c000-000000000000', '01900000000070008000000000000000', 'x', '', 7];
const numbers = fc.oneof(
  fc.double({ noNaN: false }),
  fc.constantFrom(0, -0, 5e-324, 1e308, -1e21, 12.34, Number.NaN, Number.POSITIVE_INFINITY),
  fc.constantFrom<unknown>('1', null, true, [], {}),
);
const scenes = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.constantFrom<unknown>(
    '',
    'lobby',
    'a'.repeat(128),
    'a'.repeat(129),
    'nul\u0000',
    '\u{1F600}'.repeat(64),
    '\u{1F600}'.repeat(65),
    3,
    null,
  ),
);
/** Every field right or wrong in a few ways, any of them absent, sometimes an unknown key. */
const item = (withAgent: boolean) =>
  fc.record(
    {
      x: numbers,
      y: numbers,
      z: numbers,
      rotation_y: numbers,
      scene_id: scenes,
      ...(withAgent ? { agent_id: fc.constantFrom<unknown>(...UUIDS, ...notUuids) } : {}),
      extra: fc.constantFrom<unknown>(1, 'x', null),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<Record<string, unknown>>;
const valid = (withAgent: boolean) =>
  fc.record(
    {
      x: fc.double({ noNaN: true, noDefaultInfinity: true }),
      y: fc.double({ noNaN: true, noDefaultInfinity: true }),
      z: fc.double({ noNaN: true, noDefaultInfinity: true }),
      rotation_y: fc.double({ noNaN: true, noDefaultInfinity: true }),
      scene_id: fc.string({ minLength: 1, maxLength: 128 }).filter((s) => !s.includes('\u0000')),
      ...(withAgent ? { agent_id: fc.constantFrom(...UUIDS) } : {}),
    },
    { requiredKeys: withAgent ? ['x', 'y', 'z', 'agent_id'] : ['x', 'y', 'z'] },
  ) as fc.Arbitrary<Record<string, unknown>>;

/** A JSON round trip: what a request body can actually be (no undefined, -0 becomes 0, …). */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null');

function agrees(schema: z.ZodType, data: unknown): void {
  const fast = fastPathOf(schema)!;
  if (!fast(data)) return;
  const parsed = schema.safeParse(data);
  expect(parsed.success, JSON.stringify(data)).toBe(true);
  expect(parsed.data).toEqual(data);
}

describe('fast paths of the position bodies', () => {
  it('are registered on the schemas the routes use', () => {
    expect(fastPathOf(positionBody)).toBeTypeOf('function');
    expect(fastPathOf(batchPositionsBody)).toBeTypeOf('function');
  });

  it('take only what zod takes, unchanged (position body)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(item(false), valid(false), fc.jsonValue()), (raw) => {
        const data = asJson(raw);
        if (fastPathOf(positionBody)!(data)) accepted++;
        agrees(positionBody, data);
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(300); // the valid shape is generated a third of the time
  });

  it('take only what zod takes, unchanged (batch)', () => {
    let accepted = 0;
    const batch = fc.oneof(
      fc.record({ positions: fc.array(fc.oneof(valid(true), item(true)), { maxLength: 5 }) }),
      fc.record({ positions: fc.array(valid(true), { minLength: 1, maxLength: 5 }) }),
      fc.record({ positions: fc.array(valid(true), { minLength: 1, maxLength: 2 }), extra: fc.constant(1) }),
      fc.constantFrom<unknown>({}, [], null, 'x', { positions: {} }, { positions: [] }),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(batch, (raw) => {
        const data = asJson(raw);
        if (fastPathOf(batchPositionsBody)!(data)) accepted++;
        agrees(batchPositionsBody, data);
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(200);
    const one = { agent_id: UUIDS[0], x: 0, y: 0, z: 0 };
    expect(fastPathOf(batchPositionsBody)!({ positions: Array.from({ length: MAX_BATCH_POSITIONS }, () => one) })).toBe(true);
    expect(fastPathOf(batchPositionsBody)!({ positions: Array.from({ length: MAX_BATCH_POSITIONS + 1 }, () => one) })).toBe(false);
  });

  it('is consulted first by the validator; what it refuses gets zod’s answer', () => {
    // A schema whose fast path says yes to something zod refuses: only the fast path can pass it.
    const schema = withFastPath(z.object({ n: z.number() }).strict(), (data) => (data as { n?: unknown }).n === 'fast');
    const validate = zodValidatorCompiler({ schema, httpPart: 'body', method: 'PUT', url: '/x' }) as (d: unknown) => {
      value?: unknown;
      error?: Error & { details?: unknown };
    };
    expect(validate({ n: 'fast' })).toEqual({ value: { n: 'fast' } });
    expect(validate({ n: 1 })).toEqual({ value: { n: 1 } });
    const refused = validate({ n: 'slow' });
    expect(refused.error?.message).toBe('n: expected number, received string');
  });
});

describe('volatileLine', () => {
  const ts = '2026-12-04T11:00:00.123Z';
  const generic = (e: VolatileEvent) => JSON.stringify({ seq: null, type: e.type, ts, game_id: e.gameId, data: e.data });
  const text = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }), // lone surrogates, control characters
    fc.constantFrom('quote"', 'back\\slash', 'tab\t', 'nul\u0000', '\u007f', '\u2028', 'é', '\u{1F600}'),
  );
  const moved = fc.record({
    gameId: fc.oneof(fc.constant(null), text),
    agentId: fc.oneof(fc.uuid(), text),
    x: fc.double(),
    y: fc.double(),
    z: fc.double(),
    rotation: fc.oneof(fc.double(), fc.constantFrom(-0, 1e21, 1e-7, 123456789012345680000)),
    scene: fc.oneof(fc.constant(null), text),
  });

  it('writes agent.moved with the same bytes as JSON.stringify, for every value', () => {
    fc.assert(
      fc.property(moved, (m) => {
        const e: VolatileEvent<'agent.moved'> = {
          type: 'agent.moved',
          gameId: m.gameId,
          data: { agent_id: m.agentId, position: { x: m.x, y: m.y, z: m.z }, rotation_y: m.rotation, scene_id: m.scene },
        };
        expect(volatileLine(ts, e)).toBe(generic(e));
      }),
      { numRuns: 5000 },
    );
  });

  it('writes other volatile events generically', () => {
    const e: VolatileEvent<'task.progress'> = {
      type: 'task.progress',
      gameId: 'g',
      data: { task_id: UUIDS[0]!, agent_id: null, progress: 0.5, message: 'half "way"' },
    };
    expect(volatileLine(ts, e)).toBe(generic(e));
  });
});
