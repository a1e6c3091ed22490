import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { commonErrors, errorBody } from '../../contract/common.js';
import { EVENT_CATALOG, eventEnvelope, type EventType } from '../../contract/events.js';
import { clientFrame, eventsQuery, WS_CLOSE_CODES, wsQuery } from '../../contract/ws.js';
import { canSeeGame, resolveReadGame } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { VERSION } from '../../lib/version.js';
import { issuesToDetails } from '../../plugins/validation.js';
import { rowToLine } from './events.repository.js';
import { parseTypes } from './filters.js';
import type { HubClient } from './hub.js';

export const eventsRoutes: FastifyPluginAsyncZod = async (app) => {
  const hub = app.hub;
  const repo = app.eventLog;

  app.get(
    '/ws',
    {
      websocket: true,
      config: { access: 'read', queryKey: true },
      // A plain HTTP GET (no Upgrade) would get @fastify/websocket's bodiless 404: say what to do instead.
      preHandler: async (request) => {
        if (!request.ws) {
          throw new AppError(
            426,
            'upgrade_required',
            'GET /ws is the WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket), e.g. ws://host/ws?game_id=…',
            [],
            { upgrade: 'websocket' },
          );
        }
      },
      schema: {
        tags: ['events'],
        summary: 'Live events (WebSocket). Frames: hello, then {seq,type,ts,game_id,data}; ops ping and subscribe',
        description: `Resume with since=<last seq>: missed events come first, then live, none missing or twice. Close codes: ${Object.entries(
          WS_CLOSE_CODES,
        )
          .map(([c, m]) => `${c} ${m}`)
          .join('; ')}. An error frame with code replay_gap means: refetch state.`,
        querystring: wsQuery,
      },
    },
    (socket: WebSocket, request) => {
      const actor = request.actor;
      const query = request.query;
      const control = (frame: Record<string, unknown>) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
      };
      let types;
      try {
        types = parseTypes(query.types);
      } catch (err) {
        control({ type: 'error', code: 'validation_failed', message: (err as Error).message });
        socket.close(1008, 'bad types filter');
        return;
      }
      // A game key is held to its own game; asking for another game is refused, not widened.
      const requested = query.game_id ?? null;
      if (requested !== null && !canSeeGame(actor, requested)) {
        control({ type: 'error', code: 'forbidden', message: `game_id: this key is bound to game "${actor.gameId}"` });
        socket.close(1008, 'game not allowed for this key');
        return;
      }
      const client: HubClient = {
        id: randomUUID(),
        socket,
        filter: { gameId: actor.gameId ?? requested, types },
        lastSeq: hub.lastSeq(),
        replaying: query.since !== undefined,
        queued: [],
        coalesced: new Map(),
        alive: true,
      };
      hub.add(client);
      app.runtimeStats.wsConnections = hub.clients();
      socket.on('pong', () => {
        client.alive = true;
      });
      socket.on('close', () => {
        hub.remove(client);
        app.runtimeStats.wsConnections = hub.clients();
      });
      socket.on('message', (raw: Buffer, isBinary: boolean) => {
        client.alive = true;
        let frame;
        try {
          if (isBinary) throw new Error('binary frames are not part of the protocol');
          const parsed = clientFrame.safeParse(JSON.parse(raw.toString('utf8')));
          if (!parsed.success) {
            const detail = issuesToDetails(parsed.error.issues, null)[0];
            control({
              type: 'error',
              code: 'bad_frame',
              message: `${detail?.field ?? 'frame'}: ${detail?.message ?? 'invalid'}; expected {"op":"ping"} or {"op":"subscribe",…}`,
            });
            return;
          }
          frame = parsed.data;
        } catch (err) {
          control({ type: 'error', code: 'bad_frame', message: `not a JSON frame: ${(err as Error).message.slice(0, 100)}` });
          return;
        }
        if (frame.op === 'ping') {
          control({ type: 'pong', ...(frame.id !== undefined ? { id: frame.id } : {}) });
          return;
        }
        try {
          const nextGame = frame.game_id === undefined ? client.filter.gameId : frame.game_id;
          if (nextGame !== null && !canSeeGame(actor, nextGame))
            throw new AppError(403, 'forbidden', `game_id: this key is bound to game "${actor.gameId}"`);
          hub.setFilter(client, {
            gameId: actor.gameId ?? nextGame,
            types: frame.types === undefined ? client.filter.types : parseTypes(frame.types),
          });
          control({ type: 'subscribed', game_id: client.filter.gameId, types: client.filter.types.patterns, last_seq: client.lastSeq });
        } catch (err) {
          control({ type: 'error', code: (err as AppError).code ?? 'bad_frame', message: (err as Error).message });
        }
      });
      control({
        type: 'hello',
        connection_id: client.id,
        last_seq: hub.lastSeq(),
        server_version: VERSION,
        game_id: client.filter.gameId,
        types: types.patterns,
        since: query.since ?? null,
        heartbeat_s: app.config.ws.ping_interval_s,
      });
      if (query.since !== undefined) {
        hub.replay(client, query.since, control).catch((err: Error) => {
          request.log.warn({ err: err.message }, 'replay failed');
          socket.close(1011, 'replay failed; reconnect with since');
        });
      }
    },
  );

  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'The event log over REST: events after since, oldest first (410 replay_gap when since is older than retention)',
        querystring: eventsQuery,
        response: {
          200: z.object({ items: z.array(eventEnvelope), next_cursor: z.string().nullable(), last_seq: z.number() }),
          410: errorBody,
          ...commonErrors,
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const types = parseTypes(q.types);
      const game = resolveReadGame(request.actor, q.game_id);
      const bounds = await repo.bounds();
      if (q.since > 0 && bounds.first !== null && q.since + 1 < bounds.first) {
        throw new AppError(
          410,
          'replay_gap',
          `events after ${q.since} are no longer retained (oldest kept: ${bounds.first}); refetch state and continue from last_seq ${bounds.last}`,
          [{ field: 'since', message: 'older than retention', oldest_seq: bounds.first, last_seq: bounds.last }],
        );
      }
      if (game.empty) return reply.send({ items: [], next_cursor: null, last_seq: bounds.last });
      const rows = await repo.after(q.since, q.limit, {
        gameId: game.gameId,
        agentId: q.agent_id,
        taskId: q.task_id,
        typePatterns: types.likePatterns(),
      });
      const items = rows.map((r) => JSON.parse(rowToLine(r)) as z.infer<typeof eventEnvelope>);
      const last = rows[rows.length - 1];
      return { items, next_cursor: rows.length === q.limit && last ? String(last.seq) : null, last_seq: bounds.last };
    },
  );

  app.get(
    '/events/catalog',
    {
      schema: {
        tags: ['events'],
        summary: 'Every event type: durable (logged, with seq) or volatile (live only), what it means, and the JSON schema of its data',
        response: {
          200: z.object({
            items: z.array(
              z.object({ type: z.string(), durable: z.boolean(), description: z.string(), data_schema: z.record(z.string(), z.unknown()) }),
            ),
          }),
          ...commonErrors,
        },
      },
    },
    async () => ({
      items: (Object.keys(EVENT_CATALOG) as EventType[]).map((type) => ({
        type,
        durable: EVENT_CATALOG[type].durable,
        description: EVENT_CATALOG[type].description,
        data_schema: z.toJSONSchema(EVENT_CATALOG[type].data, { unrepresentable: 'any' }) as Record<string, unknown>,
      })),
    }),
  );
};
