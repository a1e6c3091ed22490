import { describe, expect, it } from 'vitest';
import { findUnsafe, MAX_JSON_DEPTH } from '../../src/plugins/validation.js';

/** Nests `inner` `levels` arrays deep. */
const nest = (levels: number, inner: unknown = 1): unknown => {
  let v = inner;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
};

describe('findUnsafe (what every body, query and path is checked for before its schema)', () => {
  it('passes ordinary input, however wide', () => {
    expect(findUnsafe(undefined)).toBeNull();
    expect(findUnsafe('plain')).toBeNull();
    const positions = Array.from({ length: 1000 }, (_, i) => ({ agent_id: `a${i}`, x: i, y: 0, z: -i, scene_id: 'lobby' }));
    expect(findUnsafe({ positions })).toBeNull();
    expect(findUnsafe({ metadata: nest(MAX_JSON_DEPTH - 1) })).toBeNull();
  });

  it('names the top-level field that nests too deep, at any depth without exhausting the stack', () => {
    expect(findUnsafe({ name: 'x', metadata: nest(MAX_JSON_DEPTH) })).toEqual({
      field: 'metadata',
      message: `nested deeper than ${MAX_JSON_DEPTH} levels`,
    });
    expect(findUnsafe({ metadata: { a: nest(100_000) } })?.field).toBe('metadata');
    expect(findUnsafe(nest(200))?.field).toBe('0');
  });

  it('names the full path of a NUL character in a value or a key', () => {
    expect(findUnsafe({ agent: { tags: ['ok', 'b\u0000d'] } })).toEqual({
      field: 'agent.tags.1',
      message: 'must not contain the NUL character (\\u0000)',
    });
    expect(findUnsafe({ metadata: { 'k\u0000ey': 1 } })?.field).toBe('metadata.k\\0ey');
    expect(findUnsafe('\u0000')?.field).toBe('(body)');
  });
});
