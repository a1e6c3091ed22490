import { describe, expect, it } from 'vitest';
import { firstCharacters } from '../../src/lib/text.js';

describe('firstCharacters', () => {
  it('counts code points, like Postgres left()', () => {
    expect(firstCharacters('abc', 5)).toBe('abc');
    expect(firstCharacters('abcdef', 3)).toBe('abc');
    // Each emoji is two UTF-16 units: slice(0, 3) would cut the second one in half.
    expect(firstCharacters('😀😀😀', 2)).toBe('😀😀');
    expect(firstCharacters('a😀b', 2)).toBe('a😀');
    expect(firstCharacters('😀'.repeat(300), 200)).toHaveLength(400);
    expect(firstCharacters('', 3)).toBe('');
  });
});
