import { PassThrough } from 'node:stream';
import { sql } from 'drizzle-orm';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryBus } from '../../src/infra/bus.js';
import { outboxFor, withEvents } from '../../src/modules/events/outbox.js';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';
import { outboxSettled } from '../helpers/fixtures.js';
import { WsClient } from '../helpers/ws-client.js';

type Json = Record<string, any>;

describe(`websocket (${driver})`, () => {
  let t: TestApp;
  const logs = new PassThrough();
  const logLines: string[] = [];
  logs.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n')));
  beforeAll(async () => {
    t = await buildTestApp({ listen: true, logStream: logs, config: { ws: { max_buffered_bytes: 64 * 1024 } } });
  });
  afterAll(async () => t?.close());

  const create = async (body: Json, key?: string) =>
    (await t.request({ method: 'POST', url: '/agents/create', body, ...(key ? { key } : {}) })).json();

  it('says hello first, then streams agent.created, agent.state_changed and agent.deleted for REST changes', async () => {
    const ws = await WsClient.connect(t.url, { game_id: 'ws-a' });
    expect(ws.frames[0]).toMatchObject({ type: 'hello', game_id: 'ws-a', last_seq: expect.any(Number) });
    const agent = await create({ agent_type: 'aider', game_id: 'ws-a' });
    await ws.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === agent.id);
    const task = (await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'x', agent_id: agent.id } })).json();
    await ws.waitFor((f) => f.type === 'task.completed' && f.data?.task_id === task.id);
    await ws.waitFor((f) => f.type === 'agent.state_changed' && f.data?.status === 'busy');
    await t.request({ method: 'DELETE', url: `/agents/${agent.id}` });
    const deleted = await ws.waitFor((f) => f.type === 'agent.deleted');
    expect(deleted).toMatchObject({ seq: expect.any(Number), game_id: 'ws-a', ts: expect.any(String), data: { agent_id: agent.id } });
    const seqs = ws.durable().map((f) => f.seq!);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(ws.events().map((f) => f.type)).toEqual(expect.arrayContaining(['task.created', 'task.assigned', 'task.started']));
    await ws.close();
  });

  it('filters by type wildcards and game; volatile agent.moved arrives with seq null', async () => {
    const agentsOnly = await WsClient.connect(t.url, { game_id: 'ws-f', types: 'agent.*' });
    const other = await WsClient.connect(t.url, { game_id: 'ws-other' });
    const agent = await create({ agent_type: 'aider', game_id: 'ws-f' });
    await t.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: 3, y: 0, z: 4 } });
    const moved = await agentsOnly.waitFor((f) => f.type === 'agent.moved');
    expect(moved).toMatchObject({ seq: null, game_id: 'ws-f', data: { agent_id: agent.id, position: { x: 3, y: 0, z: 4 } } });
    await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'x', agent_id: agent.id } });
    await agentsOnly.waitFor((f) => f.type === 'agent.state_changed');
    expect(agentsOnly.events().every((f) => f.type.startsWith('agent.'))).toBe(true);
    expect(other.events()).toEqual([]);
    agentsOnly.send({ op: 'subscribe', types: 'task.completed' });
    await agentsOnly.waitFor((f) => f.type === 'subscribed');
    await agentsOnly.close();
    await other.close();
  });

  it('follows a subscription to another game at once; a client of every game gets every game and events of none', async () => {
    // The hub indexes clients by their filter's game: a changed subscription must move the client.
    const hopper = await WsClient.connect(t.url, { game_id: 'ws-hop-a', types: 'agent.*' });
    const everyGame = await WsClient.connect(t.url, { types: 'agent.*' });
    const a = await create({ agent_type: 'aider', game_id: 'ws-hop-a' });
    await hopper.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === a.id);
    hopper.send({ op: 'subscribe', game_id: 'ws-hop-b' });
    expect(await hopper.waitFor((f) => f.type === 'subscribed')).toMatchObject({ game_id: 'ws-hop-b' });
    const b = await create({ agent_type: 'aider', game_id: 'ws-hop-b' });
    const a2 = await create({ agent_type: 'aider', game_id: 'ws-hop-a' });
    const none = await create({ agent_type: 'aider' }); // in no game
    await hopper.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === b.id);
    for (const id of [a.id, b.id, a2.id, none.id]) await everyGame.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === id);
    // In order, and nothing from the game it left or from no game.
    const created = (c: WsClient) =>
      c
        .durable()
        .filter((f) => f.type === 'agent.created')
        .map((f) => f.data?.agent.id as string);
    expect(created(hopper)).toEqual([a.id, b.id]);
    expect(created(everyGame)).toEqual([a.id, b.id, a2.id, none.id]);
    hopper.send({ op: 'subscribe', game_id: null });
    await hopper.waitFor((f) => f.type === 'subscribed' && f.game_id === null);
    const c = await create({ agent_type: 'aider', game_id: 'ws-hop-c' });
    await hopper.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === c.id);
    expect(created(hopper)).toEqual([a.id, b.id, c.id]);
    await hopper.close();
    await everyGame.close();
  });

  it('keeps game keys to their game, and accepts ?api_key= (redacted in the logs)', async () => {
    const key = await createKey(t, ['game'], 'ws-mine');
    const mine = await WsClient.connect(t.url, { api_key: key }, {});
    expect(mine.frames[0]).toMatchObject({ game_id: 'ws-mine' });
    await create({ agent_type: 'aider', game_id: 'ws-theirs' });
    const own = await create({ agent_type: 'aider', game_id: 'ws-mine' });
    await mine.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === own.id);
    expect(mine.events().every((f) => f.game_id === 'ws-mine')).toBe(true);
    mine.send({ op: 'subscribe', game_id: 'ws-theirs' });
    await mine.waitFor((f) => f.type === 'error' && f.code === 'forbidden');
    await mine.close();
    const widened = new WsClient_raw(t.url, `game_id=ws-theirs&api_key=${key}`);
    expect(await widened.closeCode()).toBe(1008);
    await expect(WsClient.connect(t.url, {}, {})).rejects.toThrow(/401/);
    await expect(WsClient.connect(t.url, { api_key: 'wrong' }, {})).rejects.toThrow(/401/);
    await expect.poll(() => logLines.some((l) => l.includes('/ws?api_key=[REDACTED]'))).toBe(true);
    expect(logLines.some((l) => l.includes(key))).toBe(false);
  });

  it('answers ping, and error frames for malformed input without closing', async () => {
    const ws = await WsClient.connect(t.url);
    ws.send({ op: 'ping', id: 'p1' });
    expect(await ws.waitFor((f) => f.type === 'pong')).toMatchObject({ id: 'p1' });
    ws.send('this is not json');
    ws.send({ op: 'teleport' });
    ws.send({ op: 'subscribe', types: 'bogus.type' });
    await expect.poll(() => ws.frames.filter((f) => f.type === 'error').length).toBe(3);
    ws.send({ op: 'ping', id: 2 });
    await ws.waitFor((f) => f.type === 'pong' && f.id === 2);
    expect(ws.closed).toBeNull();
    await ws.close();
  });

  it('resumes with since: the missed events first, in order, none twice, then live', async () => {
    const first = await WsClient.connect(t.url, { game_id: 'ws-r' });
    await create({ agent_type: 'aider', game_id: 'ws-r' });
    const seen = await first.waitFor((f) => f.type === 'agent.created');
    await first.close();
    const missed = [];
    for (let i = 0; i < 5; i++) missed.push(await create({ agent_type: 'aider', game_id: 'ws-r' }));
    const again = await WsClient.connect(t.url, { game_id: 'ws-r', since: seen.seq! });
    const live = await create({ agent_type: 'aider', game_id: 'ws-r' });
    await again.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === live.id);
    const created = again
      .durable()
      .filter((f) => f.type === 'agent.created')
      .map((f) => f.data!.agent.id);
    expect(created).toEqual([...missed.map((a) => a.id), live.id]);
    const seqs = again.durable().map((f) => f.seq!);
    expect(seqs[0]).toBeGreaterThan(seen.seq!);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    const rest = (await t.request({ method: 'GET', url: `/events?since=${seen.seq}&game_id=ws-r&types=agent.created` })).json();
    expect(rest.items.map((e: Json) => e.data.agent.id)).toEqual(created);
    await again.close();
  });

  it('tells a client whose since is older than retention to refetch (replay_gap)', async () => {
    await create({ agent_type: 'aider', game_id: 'ws-gap' });
    const { last } = await t.app.eventLog.bounds();
    await t.app.database.rows(sql`delete from events where seq < ${last}`);
    const ws = await WsClient.connect(t.url, { since: 1 });
    const gap = await ws.waitFor((f) => f.type === 'error');
    expect(gap).toMatchObject({ code: 'replay_gap' });
    const rest = await t.request({ method: 'GET', url: '/events?since=1' });
    expect(rest.statusCode).toBe(410);
    expect(rest.json().error.code).toBe('replay_gap');
    const live = await create({ agent_type: 'aider', game_id: 'ws-gap' });
    await ws.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === live.id);
    await ws.close();
  });

  it('delivers exactly the committed seqs, in order, to a reconnecting reader under concurrent writers', async () => {
    const game = 'ws-conc';
    const received: number[] = [];
    let since = (await t.app.eventLog.bounds()).last;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const ws = await WsClient.connect(t.url, { game_id: game, since });
        await new Promise((r) => setTimeout(r, 30 + Math.random() * 60));
        await ws.close();
        for (const f of ws.durable()) {
          received.push(f.seq!);
          since = f.seq!;
        }
      }
    })();
    // 200 transactions from 20 concurrent writers, some rolled back (their seqs never commit)
    await Promise.all(
      Array.from({ length: 20 }, async (_, w) => {
        for (let i = 0; i < 10; i++) {
          await withEvents(outboxFor(t.app.database, t.app.bus), null, async (_tx, emit) => {
            emit({ type: 'game.scene_updated', gameId: game, data: { scene: { writer: w, i } as never } });
            if (i === 5) throw new Error('rolled back');
          }).catch(() => undefined);
        }
      }),
    );
    const committed = (await t.app.database.rows<{ seq: string }>(sql`select seq from events where game_id = ${game} order by seq`)).map(
      (r) => Number(r.seq),
    );
    expect(committed).toHaveLength(180);
    await expect.poll(() => received.length >= 180 || received.includes(committed[committed.length - 1]!), { timeout: 20_000 }).toBe(true);
    stop = true;
    await reader;
    const final = await WsClient.connect(t.url, { game_id: game, since });
    await new Promise((r) => setTimeout(r, 200));
    await final.close();
    received.push(...final.durable().map((f) => f.seq!));
    expect(received).toEqual(committed);
  }, 60_000);

  it.runIf(driver === 'postgres')('sequences events a replica staged but never sequenced (it died): the sweep moves them', async () => {
    const ws = await WsClient.connect(t.url, { game_id: 'ws-orphan' });
    // What a replica leaves behind when it dies between its commit and its sequencing round.
    await t.app.database.rows(
      sql`insert into event_outbox (type, game_id, data) values ('game.scene_updated', 'ws-orphan', '{"scene":{"n":1}}'), ('game.scene_updated', 'ws-orphan', '{"scene":{"n":2}}')`,
    );
    const second = await ws.waitFor((f) => f.type === 'game.scene_updated' && f.data?.scene.n === 2, 5_000);
    const first = ws.durable().find((f) => f.type === 'game.scene_updated' && f.data?.scene.n === 1);
    expect(second.seq).toBe(first!.seq! + 1); // staging order kept, no gap
    expect(await t.app.database.rows(sql`select id from event_outbox`)).toEqual([]);
    await ws.close();
  });

  it.runIf(driver === 'postgres')(
    'a write made while no round runs is sequenced in its own transaction, after what others staged before it',
    async () => {
      const sequencer = outboxFor(t.app.database, t.app.bus).sequencer!;
      const ws = await WsClient.connect(t.url, { game_id: 'ws-inline' });
      // The once-a-second sweep may start a round just when the row below is staged; then the
      // write rightly stages too. Up to three tries for one where no round ran. The write is a
      // game connect (a transaction through withEvents; a PATCH or an agent create on Postgres
      // is one statement that always stages).
      let inline = false;
      for (let attempt = 0; attempt < 3 && !inline; attempt++) {
        await outboxSettled(t.app);
        // Committed to the outbox by another writer (not yet sequenced) before the connect below.
        await t.app.database.rows(
          sql`insert into event_outbox (type, game_id, data) values ('game.scene_updated', 'ws-inline', ${JSON.stringify({ scene: { staged: attempt } })}::jsonb)`,
        );
        const rounds = sequencer.stats().rounds;
        const res = await t.request({ method: 'POST', url: '/game/connect', body: { game_id: 'ws-inline', engine: `inline-${attempt}` } });
        expect(res.statusCode).toBe(201);
        const session = res.json();
        // Both are in the log at the answer, in commit order, with no gap.
        const connected = await ws.waitFor((f) => f.type === 'game.connected' && f.data?.session_id === session.session_id, 5_000);
        const staged = ws.durable().find((f) => f.type === 'game.scene_updated' && f.data?.scene.staged === attempt);
        expect(staged!.seq).toBe(connected.seq! - 1);
        inline = sequencer.stats().rounds === rounds;
        if (inline) {
          // The event row was written by the session insert's own transaction.
          const [event] = await t.app.database.rows<{ xmin: string }>(sql`select xmin::text from events where seq = ${connected.seq}`);
          const [row] = await t.app.database.rows<{ xmin: string }>(
            sql`select xmin::text from game_sessions where id = ${session.session_id}`,
          );
          expect(event!.xmin).toBe(row!.xmin);
        }
      }
      expect(inline).toBe(true);
      await ws.close();
    },
  );

  it('delivers an event whose bus message never arrived, from the log, within about a second', async () => {
    const ws = await WsClient.connect(t.url, { game_id: 'ws-lost' });
    // Logged, but published on a bus no hub listens to: what a lost Redis message looks like.
    await withEvents({ db: t.app.database.db, bus: memoryBus() }, null, async (_tx, emit) => {
      emit({ type: 'game.scene_updated', gameId: 'ws-lost', data: { scene: { lost: true } as never } });
    });
    const got = await ws.waitFor((f) => f.type === 'game.scene_updated' && f.data?.scene.lost === true, 5_000);
    expect(got.seq).toBeGreaterThan(0);
    await ws.close();
  });

  it('cuts off a consumer too slow to keep up (4008) instead of buffering without bound', async () => {
    const agent = await create({ agent_type: 'aider', game_id: 'ws-slow' });
    const slow = new WebSocket(`${t.url.replace('http', 'ws')}/ws?game_id=ws-slow`, { headers: { 'x-api-key': 'development-key' } });
    await new Promise((r) => slow.once('open', r));
    const closed = new Promise<number>((resolve) => slow.once('close', (code) => resolve(code)));
    // Stop reading: the server's send buffer for this socket can only grow.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    // Each agent.updated carries ~15 KB; kernel socket buffers absorb a few MB before the
    // server's own send buffer (bufferedAmount, limit 64 KB here) starts to grow.
    const pad = 'y'.repeat(15_000);
    let sent = 0;
    for (; sent < 3000 && t.app.hub.clients() > 0; sent++) {
      const res = await t.request({ method: 'PATCH', url: `/agents/${agent.id}`, body: { metadata: { pad, i: sent } } });
      if (res.statusCode !== 200) throw new Error(res.body);
    }
    expect(t.app.hub.clients()).toBe(0); // dropped from the hub: nothing more is buffered for it
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(4008);
  }, 60_000);
});

/** A raw socket whose upgrade succeeds but which the server closes at once. */
class WsClient_raw {
  private socket: WebSocket;
  constructor(base: string, query: string) {
    this.socket = new WebSocket(`${base.replace('http', 'ws')}/ws?${query}`);
  }
  closeCode(): Promise<number> {
    return new Promise((resolve) => this.socket.once('close', (code) => resolve(code)));
  }
}

describe.runIf(driver === 'postgres')('two api replicas sharing Postgres and Redis', () => {
  it('a change made through one reaches a client of the other, with the same seq', async () => {
    const a = await buildTestApp({ listen: true });
    const b = await buildTestApp({ listen: true, databaseUrl: a.databaseUrl!, redisPrefix: a.redisPrefix! });
    try {
      const ws = await WsClient.connect(b.url, { game_id: 'replicas' });
      const agent = (await a.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: 'replicas' } })).json();
      const frame = await ws.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === agent.id);
      const [row] = await a.app.database.rows<{ seq: string }>(
        sql`select seq from events where agent_id = ${agent.id} and type = 'agent.created'`,
      );
      expect(frame.seq).toBe(Number(row!.seq));
      await a.request({ method: 'PUT', url: `/agents/${agent.id}/position`, body: { x: 9, y: 9, z: 9 } });
      await ws.waitFor((f) => f.type === 'agent.moved' && f.data?.position.x === 9);
      // resume on the other replica after a disconnect: nothing missed, nothing twice
      await ws.close();
      const later = (await b.request({ method: 'POST', url: '/agents/create', body: { agent_type: 'aider', game_id: 'replicas' } })).json();
      const resumed = await WsClient.connect(a.url, { game_id: 'replicas', since: frame.seq! });
      await resumed.waitFor((f) => f.type === 'agent.created' && f.data?.agent.id === later.id);
      expect(resumed.durable().filter((f) => f.type === 'agent.created')).toHaveLength(1);
      await resumed.close();
    } finally {
      await b.app.close();
      await a.close();
    }
  });
});
