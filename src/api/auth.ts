/**
 * Bearer tokens. A token acts for one team, or for the administrators. Tokens are random (256 bits), so a
 * plain SHA-256 is enough to store them: nothing in the store can be replayed as a token.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Request } from 'express';
import { StrataError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { TokenRecord } from '../store/tokens.js';
import { isAdmin, type Access, type Principal } from './principal.js';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export async function issueToken(store: Store, request: { team?: string; name: string }): Promise<{ token: string; record: TokenRecord }> {
  const token = `strata_${randomBytes(32).toString('base64url')}`;
  const record: TokenRecord = {
    id: `tok-${randomBytes(6).toString('hex')}`,
    name: request.name,
    createdAtMs: Date.now(),
    ...(request.team !== undefined ? { team: request.team } : {}),
  };
  await store.tokens.save(record, hashToken(token));
  return { token, record };
}

/**
 * The administrators' token of a local installation, kept in a file only its owner can read. Made on the
 * first start, and again if the store no longer knows the file's token (a data folder reset by hand).
 */
export async function ensureAdminToken(store: Store, file: string): Promise<{ created: boolean }> {
  if (fs.existsSync(file)) {
    const existing = fs.readFileSync(file, 'utf8').trim();
    const record = existing ? await store.tokens.find(hashToken(existing)) : undefined;
    if (record && record.team === undefined) return { created: false };
  }
  const { token } = await issueToken(store, { name: 'admin (made by npm start)' });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return { created: true };
}

/** The caller of a request, checked against what the route needs. */
export function authenticator(store: Store) {
  return async (req: Request, access: Access): Promise<Principal | undefined> => {
    if (access === 'public') return undefined;
    const header = req.get('authorization');
    if (!header) throw new StrataError('unauthenticated', 'this endpoint needs a bearer token: send "Authorization: Bearer <token>"');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new StrataError('unauthenticated', 'the Authorization header must be "Bearer <token>"');
    const record = await store.tokens.find(hashToken(match[1]!));
    if (!record) throw new StrataError('unauthenticated', 'unknown or revoked token');
    const principal: Principal = { tokenId: record.id, tokenName: record.name, ...(record.team !== undefined ? { team: record.team } : {}) };
    if (access === 'admin' && !isAdmin(principal))
      throw new StrataError('forbidden', `only an administrator may do this; the token acts for team "${principal.team}"`);
    return principal;
  };
}
