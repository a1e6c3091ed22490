import { describe, expect, it } from 'vitest';
import { allows, assertVisible, resolveReadGame, resolveWriteGame, type Actor } from '../../src/lib/access.js';
import { AppError } from '../../src/lib/errors.js';

const actor = (scopes: Actor['scopes'], gameId: string | null = null): Actor => ({ keyId: 'k', name: 'k', scopes, gameId });

describe('scopes', () => {
  it('admin may do everything; read only reads; game writes; runtime runs', () => {
    const table: Array<[Actor['scopes'], Record<string, boolean>]> = [
      [['admin'], { read: true, write: true, admin: true, runtime: true, public: true }],
      [['read'], { read: true, write: false, admin: false, runtime: false, public: true }],
      [['game'], { read: true, write: true, admin: false, runtime: false, public: true }],
      [['runtime'], { read: true, write: false, admin: false, runtime: true, public: true }],
      [['read', 'runtime'], { read: true, write: false, admin: false, runtime: true, public: true }],
    ];
    for (const [scopes, expected] of table) {
      for (const [access, ok] of Object.entries(expected)) {
        expect(allows(actor(scopes), access as 'read'), `${scopes.join('+')} → ${access}`).toBe(ok);
      }
    }
  });

  it('a game-bound key sees only its game, as 404 for others', () => {
    const bound = actor(['game'], 'a');
    expect(assertVisible(bound, { gameId: 'a' }, 'agent', 'x')).toEqual({ gameId: 'a' });
    expect(() => assertVisible(bound, { gameId: 'b' }, 'agent', 'x')).toThrow(/agent x not found/);
    expect(() => assertVisible(bound, { gameId: null }, 'agent', 'x')).toThrow(AppError);
    expect(assertVisible(actor(['admin']), { gameId: 'b' }, 'agent', 'x')).toEqual({ gameId: 'b' });
  });

  it('a game-bound key writes into its own game only', () => {
    const bound = actor(['game'], 'a');
    expect(resolveWriteGame(bound, undefined)).toBe('a');
    expect(resolveWriteGame(bound, 'a')).toBe('a');
    expect(() => resolveWriteGame(bound, 'b')).toThrow(/bound to game "a"/);
    expect(resolveWriteGame(actor(['admin']), 'b')).toBe('b');
    expect(resolveReadGame(bound, 'b')).toEqual({ gameId: 'a', empty: true });
    expect(resolveReadGame(bound, undefined)).toEqual({ gameId: 'a', empty: false });
  });
});
