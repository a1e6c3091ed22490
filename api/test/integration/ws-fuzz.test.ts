import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE_CODES } from '../../src/contract/ws.js';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';
import { WsClient, type Frame } from '../helpers/ws-client.js';

/**
 * Property-based fuzzing of the WebSocket protocol (issue #11): schema-derived, hostile and
 * garbage frames, binary frames, frames over the payload limit, invalid UTF-8. Every frame gets
 * exactly one answer — pong, subscribed or an error frame in the contract's shape — or, for
 * oversize and invalid UTF-8, a close with a documented code; the server never crashes, and the
 * connection (or a new one) still subscribes and receives events afterwards.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 250);
const MAX_PAYLOAD = 4096;
const CONTROL = new Set(['hello', 'pong', 'subscribed', 'error']);
const figures = { frames: 0, answers: 0, closes: 0, fiveXX: 0 };

/** Sends one frame, then a marker ping, and returns the control frames that answered the first. */
async function exchange(ws: WsClient, frame: string | Buffer, binary = false): Promise<Frame[]> {
  const marker = `m-${figures.frames}-${Math.random().toString(36).slice(2)}`;
  const from = ws.frames.length;
  ws.socket.send(frame, { binary });
  ws.send({ op: 'ping', id: marker });
  figures.frames++;
  const pong = await ws.waitFor((f) => f.type === 'pong' && f.id === marker, 5000);
  const answers = ws.frames.slice(from, ws.frames.indexOf(pong)).filter((f) => CONTROL.has(f.type));
  figures.answers += answers.length;
  return answers;
}

function expectOneAnswer(answers: Frame[], sent: string): Frame {
  expect(answers, `answers to ${sent.slice(0, 200)}`).toHaveLength(1);
  const answer = answers[0]!;
  expect(['pong', 'subscribed', 'error'], sent.slice(0, 200)).toContain(answer.type);
  if (answer.type === 'error') {
    if (answer.code === 'internal') figures.fiveXX++;
    expect(answer.code, `a server error for ${sent.slice(0, 200)}`).not.toBe('internal');
    expect(typeof answer.code, `error.code for ${sent.slice(0, 200)}`).toBe('string');
    expect(typeof answer.message).toBe('string');
    expect(JSON.stringify(answer)).not.toMatch(/\n\s+at |node_modules|\.[jt]s:\d+/);
  }
  return answer;
}

/** Opens a raw socket and resolves with the close code once the server closes it. */
function closeCodeAfter(url: string, key: string, send: (s: WebSocket) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`, { headers: { 'x-api-key': key } });
    socket.once('message', () => send(socket)); // after hello
    socket.once('close', (code) => resolve(code));
    socket.on('error', () => undefined); // the close that follows is what counts
    setTimeout(() => reject(new Error('the server did not close the socket within 5 s')), 5000).unref();
  });
}

// ------------------------------------------------------------------------------- arbitraries

const hostileString = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '__proto__',
    'constructor',
    '*',
    'agent.*',
    '*.*',
    'x'.repeat(2000),
    '🙂'.repeat(100),
    "'; drop table events; --",
  ),
);
const slug = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/);
const typePattern = fc.oneof(
  fc.constantFrom(
    'agent.*',
    'task.*',
    '*.completed',
    '*',
    'task.completed',
    'game.connected',
    'agent.moved',
    'bogus.type',
    'agent.',
    '.*',
    '**',
    'a.b.c',
  ),
  hostileString,
);
const jsonish = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 10 }), hostileString, { maxKeys: 3 }),
);

/** Frames shaped like the protocol's (ping, subscribe), with plausible and hostile values and stray keys. */
const schemaFrame = fc
  .record(
    {
      op: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('ping', 'subscribe') }, { weight: 1, arbitrary: jsonish }),
      id: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.double({ noNaN: true }), jsonish),
      game_id: fc.oneof(slug, fc.constant(null), jsonish, fc.constant('g'.repeat(200))),
      types: fc.oneof(typePattern, fc.array(typePattern, { maxLength: 60 }), jsonish),
      extra: jsonish,
    },
    { requiredKeys: ['op'] },
  )
  .chain((frame) =>
    fc.constantFrom(
      JSON.stringify(frame),
      // keys JSON.stringify would never write: prototype pollution attempts
      `${JSON.stringify(frame).slice(0, -1)},"__proto__":{"polluted":true}}`,
      `${JSON.stringify(frame).slice(0, -1)},"constructor":{"prototype":{"polluted":true}}}`,
    ),
  )
  // larger frames close the socket (1009): that has its own test below
  .filter((text) => Buffer.byteLength(text) <= MAX_PAYLOAD);

/** Anything at all as a text frame. */
const garbageFrame = fc
  .oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
    fc.constantFrom(
      '',
      ' ',
      'null',
      '[]',
      '{}',
      '"ping"',
      '{"op":null}',
      '{"op":"ping","id":1e999}',
      '{"op":"ping","id":-0}',
      '{"op":"ping","id":"' + 'i'.repeat(100) + '"}',
      '{"op":"ping","op":"subscribe"}',
      '{"op":"subscribe","types":"' + 'agent.*,'.repeat(200) + '"}',
      '{"op":"subscribe","types":' + JSON.stringify(Array.from({ length: 51 }, () => 'agent.*')) + '}',
      '['.repeat(2000) + ']'.repeat(2000),
      '{"a":'.repeat(500) + '1' + '}'.repeat(500),
      '{"op":"subscribe","game_id":' + '['.repeat(1000) + ']'.repeat(1000) + '}',
      '\u0000{"op":"ping"}',
      '{"op":"ping"}\n{"op":"ping"}',
      '{"op":"\\u0070ing"}',
      '{"op":"PING"}',
      '{"op":"unsubscribe"}',
      '{"op":"publish","type":"agent.deleted","data":{}}',
    ),
  )
  .filter((text) => Buffer.byteLength(text) <= MAX_PAYLOAD);

describe(`websocket fuzz (${driver})`, () => {
  let t: TestApp;
  let ws: WsClient;
  const GAME = 'wsfuzz';
  beforeAll(async () => {
    t = await buildTestApp({ listen: true, config: { ws: { max_payload_bytes: MAX_PAYLOAD } } });
    ws = await WsClient.connect(t.url);
  });
  afterAll(async () => {
    await ws?.close();
    await t?.close();
    console.log(
      `[security] ws fuzz (${driver}): ${figures.frames} frames sent, ${figures.answers} answers, ${figures.closes} deliberate closes, server errors seen: ${figures.fiveXX}, runs per property: ${RUNS}`,
    );
  });

  it('answers every schema-shaped frame with exactly one pong, subscribed or error frame', async () => {
    await fc.assert(
      fc.asyncProperty(schemaFrame, async (text) => {
        const answer = expectOneAnswer(await exchange(ws, text), text);
        const sent = JSON.parse(text) as Record<string, unknown>;
        if (answer.type === 'pong' && sent.id !== undefined) expect(answer.id).toEqual(sent.id);
        if (answer.type !== 'error') expect(sent.op, text).toBe(answer.type === 'pong' ? 'ping' : 'subscribe');
      }),
      { numRuns: RUNS },
    );
    expect(ws.closed).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 120_000);

  it('answers garbage text frames (not JSON, wrong shapes, deep nesting, odd numbers) with an error frame, and stays open', async () => {
    await fc.assert(
      fc.asyncProperty(garbageFrame, async (text) => {
        const answer = expectOneAnswer(await exchange(ws, text), text);
        if (answer.type === 'error') expect(answer.code).toBe('bad_frame');
      }),
      { numRuns: RUNS },
    );
    expect(ws.closed).toBeNull();
  }, 120_000);

  it('answers binary frames with bad_frame', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: MAX_PAYLOAD }), async (bytes) => {
        const answer = expectOneAnswer(await exchange(ws, Buffer.from(bytes), true), `binary ${bytes.length} bytes`);
        expect(answer).toMatchObject({ type: 'error', code: 'bad_frame' });
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
    // a valid command as a binary frame is still not the protocol
    const answer = expectOneAnswer(await exchange(ws, Buffer.from('{"op":"ping","id":1}'), true), 'binary ping');
    expect(answer).toMatchObject({ type: 'error', code: 'bad_frame' });
  }, 120_000);

  it('survives a burst of frames sent without waiting: every one answered, in order', async () => {
    const from = ws.frames.length;
    const burst = Math.max(50, RUNS);
    for (let i = 0; i < burst; i++)
      ws.send(i % 3 === 0 ? `junk ${i}` : i % 3 === 1 ? { op: 'ping', id: i } : { op: 'subscribe', types: 'nope.*' });
    ws.send({ op: 'ping', id: 'burst-end' });
    await ws.waitFor((f) => f.type === 'pong' && f.id === 'burst-end', 15_000);
    const answers = ws.frames.slice(from).filter((f) => CONTROL.has(f.type));
    expect(answers).toHaveLength(burst + 1);
    expect(answers.filter((f) => f.type === 'pong').map((f) => f.id)).toEqual([
      ...Array.from({ length: burst }, (_, i) => i).filter((i) => i % 3 === 1),
      'burst-end',
    ]);
    figures.frames += burst + 1;
    figures.answers += answers.length;
  }, 60_000);

  it('closes on frames over ws.max_payload_bytes (1009) and on invalid UTF-8 (1007), documented codes; the server lives on', async () => {
    const documented = Object.keys(WS_CLOSE_CODES).map(Number);
    const cases: Array<[string, (s: WebSocket) => void, number]> = [
      ['oversize text', (s) => s.send(`{"op":"ping","id":"${'x'.repeat(MAX_PAYLOAD)}"}`), 1009],
      ['oversize binary', (s) => s.send(Buffer.alloc(MAX_PAYLOAD + 1, 0x7b), { binary: true }), 1009],
      ['way oversize', (s) => s.send('y'.repeat(MAX_PAYLOAD * 64)), 1009],
      ['invalid UTF-8', (s) => s.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]), { binary: false }), 1007],
      ['lone surrogate bytes', (s) => s.send(Buffer.from([0xed, 0xa0, 0x80]), { binary: false }), 1007],
      ['overlong encoding', (s) => s.send(Buffer.from([0xc0, 0xaf]), { binary: false }), 1007],
    ];
    for (const [name, send, code] of cases) {
      const closed = await closeCodeAfter(t.url, 'development-key', send);
      figures.frames++;
      figures.closes++;
      expect(closed, name).toBe(code);
      expect(documented, `${name}: close code ${closed} is in WS_CLOSE_CODES`).toContain(closed);
    }
    // exactly at the limit is fine
    const padded = JSON.stringify({ op: 'ping', id: 'edge' }).padEnd(MAX_PAYLOAD, ' ');
    expect(Buffer.byteLength(padded)).toBe(MAX_PAYLOAD);
    expect(expectOneAnswer(await exchange(ws, padded), 'padded ping')).toMatchObject({ type: 'pong', id: 'edge' });
    expect((await t.request({ method: 'GET', url: '/health', key: null })).statusCode).toBe(200);
    const fresh = await WsClient.connect(t.url);
    fresh.send({ op: 'ping', id: 'alive' });
    await fresh.waitFor((f) => f.type === 'pong' && f.id === 'alive');
    await fresh.close();
  }, 60_000);

  it('a game key fuzzing subscribe never widens past its game, and its socket still delivers its own events', async () => {
    const key = await createKey(t, ['game'], GAME);
    const own = await WsClient.connect(t.url, {}, { 'x-api-key': key });
    const gameIds = fc.oneof(fc.constant(GAME), fc.constant('other-game'), fc.constant(null), slug, jsonish);
    await fc.assert(
      fc.asyncProperty(gameIds, fc.option(fc.oneof(typePattern, fc.array(typePattern, { maxLength: 3 }))), async (gameId, types) => {
        const frame = JSON.stringify({ op: 'subscribe', game_id: gameId, ...(types !== null ? { types } : {}) });
        // Over the frame limit the server closes the socket (1009, tested above); this property
        // needs its socket open. Four 2,000-character strings made one now and then (a CI flake).
        fc.pre(Buffer.byteLength(frame) <= MAX_PAYLOAD);
        const answer = expectOneAnswer(await exchange(own, frame), frame);
        if (answer.type === 'subscribed') expect(answer.game_id, frame).toBe(GAME);
        // another game: refused (forbidden, or bad_frame when another field is malformed too), never subscribed
        if (typeof gameId === 'string' && gameId !== GAME) expect(answer.type, frame).toBe('error');
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
    own.send({ op: 'subscribe', types: ['agent.*'] });
    await own.waitFor((f) => f.type === 'subscribed' && Array.isArray(f.types) && f.types.length === 1 && f.types[0] === 'agent.*');
    const theirs = (
      await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: 'other-game' } })
    ).json();
    const mine = (await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: GAME } })).json();
    await own.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === mine.id);
    expect(own.events().some((f) => f.game_id !== GAME || f.data?.agent?.id === theirs.id)).toBe(false);
    await own.close();
  }, 120_000);

  it('after all of it, the fuzzed connection still subscribes and receives a live event', async () => {
    expect(ws.closed).toBeNull();
    ws.send({ op: 'subscribe', game_id: GAME, types: ['agent.*'] });
    await ws.waitFor((f) => f.type === 'subscribed' && f.game_id === GAME && Array.isArray(f.types) && f.types[0] === 'agent.*');
    const agent = (await t.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: GAME } })).json();
    const created = await ws.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === agent.id);
    expect(created).toMatchObject({ game_id: GAME, seq: expect.any(Number) });
    await t.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: 1, y: 2, z: 3 } });
    await ws.waitFor((f) => f.type === 'agent.moved' && f.data?.agent_id === agent.id);
    expect(t.app.hub.clients()).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
