import type { Scope } from '../contract/common.js';
import { ForbiddenError, NotFoundError } from './errors.js';

/** Who is calling: the API key behind the request. Services take this, never the request. */
export interface Actor {
  keyId: string;
  name: string;
  scopes: Scope[];
  /** Set for keys bound to one game: they see and change only that game. */
  gameId: string | null;
}

/** What a route needs. GET routes default to read; others to write. */
export type Access = 'public' | 'read' | 'write' | 'admin' | 'runtime';

export function isAdmin(actor: Actor): boolean {
  return actor.scopes.includes('admin');
}

export function allows(actor: Actor, access: Access): boolean {
  if (access === 'public') return true;
  if (isAdmin(actor)) return true;
  switch (access) {
    case 'read':
      return actor.scopes.length > 0;
    case 'write':
      return actor.scopes.includes('game');
    case 'runtime':
      return actor.scopes.includes('runtime');
    case 'admin':
      return false;
  }
}

export function describeAccess(access: Access): string {
  switch (access) {
    case 'public':
      return 'no key';
    case 'read':
      return 'any key';
    case 'write':
      return 'an admin or game key';
    case 'runtime':
      return 'an admin or runtime key';
    case 'admin':
      return 'an admin key';
  }
}

/** True when the actor may see a resource of this game (null: not in any game). */
export function canSeeGame(actor: Actor, gameId: string | null | undefined): boolean {
  return actor.gameId === null || actor.gameId === gameId;
}

/**
 * A game-bound key gets 404 for other games' resources: never a hint that they exist.
 * Returns the resource so callers can chain it.
 */
export function assertVisible<T extends { gameId: string | null }>(actor: Actor, row: T | undefined | null, what: string, id: string): T {
  if (!row || !canSeeGame(actor, row.gameId)) throw new NotFoundError(what, id);
  return row;
}

/** The game a write goes to: a bound key may only write into its own game (its game by default). */
export function resolveWriteGame(actor: Actor, requested: string | null | undefined): string | null {
  if (actor.gameId === null) return requested ?? null;
  if (requested !== undefined && requested !== null && requested !== actor.gameId) {
    throw new ForbiddenError(`game_id: this key is bound to game "${actor.gameId}" and cannot act in another game`);
  }
  return actor.gameId;
}

/** The game filter of a list: a bound key is limited to its game; asking for another yields nothing. */
export function resolveReadGame(actor: Actor, requested: string | undefined): { gameId: string | undefined; empty: boolean } {
  if (actor.gameId === null) return { gameId: requested, empty: false };
  if (requested !== undefined && requested !== actor.gameId) return { gameId: actor.gameId, empty: true };
  return { gameId: actor.gameId, empty: false };
}
