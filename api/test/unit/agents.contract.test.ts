import { describe, expect, it } from 'vitest';
import { serializerCompiler } from 'fastify-type-provider-zod';
import {
  batchPositionsBody,
  createAgentBody,
  listAgentsQuery,
  patchAgentBody,
  positionBody,
  positionJson,
  positionResponse,
  type PositionResponse,
} from '../../src/contract/agents.js';
import { connectBody, disconnectBody, sceneBody, sceneIdParam } from '../../src/contract/games.js';
import { issuesToDetails } from '../../src/plugins/validation.js';

/** The fields a rejected body is blamed on, as the API names them. */
function blamed(schema: { safeParse: (v: unknown) => { success: boolean; error?: { issues: unknown[] } } }, body: unknown): string[] {
  const result = schema.safeParse(body);
  if (result.success) return [];
  return issuesToDetails(result.error!.issues as Parameters<typeof issuesToDetails>[0], body).map((d) => `${d.field}: ${d.message}`);
}

describe('agent contract', () => {
  it('takes names of 1–64 characters, trimmed', () => {
    expect(createAgentBody.parse({ agent_type: 'aider', name: '  Ada  ' }).name).toBe('Ada');
    expect(createAgentBody.safeParse({ agent_type: 'aider', name: 'x'.repeat(64) }).success).toBe(true);
    expect(blamed(createAgentBody, { agent_type: 'aider', name: 'x'.repeat(65) })).toEqual(['name: must be 1–64 characters']);
    expect(blamed(createAgentBody, { agent_type: 'aider', name: '   ' })).toEqual(['name: must be 1–64 characters']);
  });

  it('takes finite numbers only for coordinates and rotation', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(blamed(positionBody, { x: bad, y: 0, z: 0 })[0]).toMatch(/^x: /);
      expect(blamed(positionBody, { x: 0, y: 0, z: 0, rotation_y: bad })[0]).toMatch(/^rotation_y: /);
      expect(blamed(createAgentBody, { agent_type: 'aider', position: { x: 0, y: bad, z: 0 } })[0]).toMatch(/^position\.y: /);
    }
    expect(blamed(positionBody, { x: '1', y: 0, z: 0 })[0]).toMatch(/^x: /);
    expect(blamed(positionBody, { x: 1, y: 0 })).toEqual(['z: Required']);
    expect(positionBody.parse({ x: -1e308, y: 5e-324, z: 0 })).toEqual({ x: -1e308, y: 5e-324, z: 0 });
  });

  it('limits metadata to 16 KiB of JSON', () => {
    // {"k":"…"} is 8 bytes around the value
    const fits = { k: 'x'.repeat(16 * 1024 - 8) };
    expect(createAgentBody.safeParse({ agent_type: 'aider', metadata: fits }).success).toBe(true);
    const over = { k: 'x'.repeat(16 * 1024 - 7) };
    expect(blamed(createAgentBody, { agent_type: 'aider', metadata: over })).toEqual(['metadata: must be at most 16384 bytes as JSON']);
    // bytes, not characters
    expect(createAgentBody.safeParse({ agent_type: 'aider', metadata: { k: 'é'.repeat(8190) } }).success).toBe(false);
  });

  it('refuses unknown fields, naming each, at every level', () => {
    expect(blamed(createAgentBody, { agent_type: 'aider', colour: 'red', size: 2 })).toEqual([
      'colour: unknown field',
      'size: unknown field',
    ]);
    expect(blamed(createAgentBody, { agent_type: 'aider', position: { x: 0, y: 0, z: 0, w: 1 } })).toEqual(['position.w: unknown field']);
    expect(blamed(patchAgentBody, { status: 'busy' })[0]).toBe('status: unknown field');
    expect(
      blamed(batchPositionsBody, { positions: [{ agent_id: '01900000-0000-7000-8000-000000000000', x: 0, y: 0, z: 0, v: 1 }] }),
    ).toEqual(['positions.0.v: unknown field']);
  });

  it('needs at least one field in a patch, and a UUID per batch entry, at most 1,000', () => {
    expect(patchAgentBody.safeParse({}).success).toBe(false);
    expect(patchAgentBody.parse({ scene_id: null })).toEqual({ scene_id: null });
    expect(blamed(batchPositionsBody, { positions: [{ agent_id: 'nope', x: 0, y: 0, z: 0 }] })).toEqual([
      'positions.0.agent_id: must be a UUID',
    ]);
    const entry = { agent_id: '01900000-0000-7000-8000-000000000000', x: 0, y: 0, z: 0 };
    expect(batchPositionsBody.safeParse({ positions: Array(1000).fill(entry) }).success).toBe(true);
    expect(blamed(batchPositionsBody, { positions: Array(1001).fill(entry) })).toEqual(['positions: at most 1000 agents per call']);
    expect(batchPositionsBody.safeParse({ positions: [] }).success).toBe(false);
  });

  it('caps list pages at 500', () => {
    expect(listAgentsQuery.parse({}).limit).toBe(100);
    expect(listAgentsQuery.parse({ limit: '500' }).limit).toBe(500);
    expect(blamed(listAgentsQuery, { limit: '501' })[0]).toMatch(/^limit: /);
    expect(blamed(listAgentsQuery, { status: 'sleeping' })[0]).toMatch(/^status: /);
  });
});

describe('game contract', () => {
  it('takes URL-safe game ids and scene ids', () => {
    expect(connectBody.safeParse({ game_id: 'demo-1.v2:main_0' }).success).toBe(true);
    for (const bad of ['', '-lead', 'has space', 'a/b', 'x'.repeat(129)]) {
      expect(blamed(connectBody, { game_id: bad })[0], bad).toMatch(/^game_id: /);
    }
    expect(sceneIdParam.safeParse('levels/office-1').success).toBe(true);
    expect(sceneIdParam.safeParse('../etc').success).toBe(false);
  });

  it('refuses unknown fields and malformed session ids', () => {
    expect(blamed(connectBody, { game_id: 'g', token: 'x' })).toEqual(['token: unknown field']);
    expect(blamed(disconnectBody, { session_id: '42' })).toEqual(['session_id: must be a UUID']);
    expect(blamed(sceneBody, { game_id: 'g', bounds: { min: { x: 0, y: 0, z: 0 } } })).toEqual(['bounds.max: Required']);
  });

  it('writes the move route’s 200 exactly as the zod response serializer would, extra fields left out', () => {
    const zodJson = serializerCompiler({ schema: positionResponse, method: 'PUT', url: '/agents/:agent_id/position', httpStatus: '200' });
    const samples = [
      { agent_id: '6f1c2d3e-4b5a-4c6d-8e7f-8091a2b3c4d5', position: { x: 1.5, y: -2, z: 0 }, rotation_y: 0.25, scene_id: null },
      {
        agent_id: '6f1c2d3e-4b5a-4c6d-8e7f-8091a2b3c4d5',
        position: { x: 1e21, y: -0.000001, z: 3 },
        rotation_y: -3.14,
        scene_id: 'town "square"',
      },
    ];
    for (const sample of samples) {
      const withExtras: PositionResponse = Object.assign({}, sample, { game_id: 'secret', version: 7 });
      expect(positionJson(withExtras)).toBe(zodJson(withExtras));
      expect(JSON.parse(positionJson(withExtras))).toEqual(sample);
    }
  });
});
