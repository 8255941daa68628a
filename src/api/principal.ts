/** Who calls the API and what a route asks of them: the one home of Principal and Access. Pure. */
import { StrataError } from '../errors.js';

/** What a route needs: nothing, any valid token, or an administrator's token. */
export type Access = 'public' | 'token' | 'admin';

/** Who is calling: a team, or an administrator (no team). */
export interface Principal {
  tokenId: string;
  /** The token's name, as records of who did what show it. */
  tokenName: string;
  team?: string;
}

export const isAdmin = (principal: Principal): boolean => principal.team === undefined;

/** Who did something, as records show it: the token's name and id. */
export const actorOf = (principal: Principal): string => `${principal.tokenName} (${principal.tokenId})`;

/** Refuses a resource of another team; administrators see everything. */
export function checkTeam(principal: Principal, owner: string | undefined, what: string): void {
  if (isAdmin(principal) || owner === principal.team) return;
  throw new StrataError('forbidden', `${what} belongs to ${owner === undefined ? 'the administrators' : `team "${owner}"`}, not to team "${principal.team}"`);
}
