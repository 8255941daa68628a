import type pg from 'pg';
import { transaction } from './postgresPool.js';
import { toToken, type TokenRow } from './rows.js';
import type { TokenRecord, TokenStore } from './tokens.js';

/** API tokens on PostgreSQL, as src/store/sqliteTokens.ts; the store exposes it as `tokens`. */
export class PostgresTokens implements TokenStore {
  constructor(private readonly pool: pg.Pool) {}

  async save(token: TokenRecord, sha256: string): Promise<void> {
    await this.pool.query(`INSERT INTO tokens (id, sha256, team, name, created_at) VALUES ($1, $2, $3, $4, $5)`, [
      token.id,
      sha256,
      token.team ?? null,
      token.name,
      token.createdAtMs,
    ]);
  }

  async find(sha256: string): Promise<TokenRecord | undefined> {
    const row = (await this.pool.query<TokenRow>(`SELECT * FROM tokens WHERE sha256 = $1`, [sha256])).rows[0];
    return row && toToken(row);
  }

  async list(): Promise<TokenRecord[]> {
    return (await this.pool.query<TokenRow>(`SELECT * FROM tokens ORDER BY created_at, id`)).rows.map(toToken);
  }

  async revoke(id: string): Promise<'revoked' | 'not_found' | 'last_admin'> {
    // The administrators' rows are locked first, so two revocations at once cannot remove the last two.
    return transaction(this.pool, async (c) => {
      await c.query(`SELECT id FROM tokens WHERE team IS NULL FOR UPDATE`);
      const deleted = await c.query(`DELETE FROM tokens WHERE id = $1 AND (team IS NOT NULL OR (SELECT count(*) FROM tokens WHERE team IS NULL) > 1)`, [id]);
      if ((deleted.rowCount ?? 0) > 0) return 'revoked';
      return (await c.query(`SELECT 1 FROM tokens WHERE id = $1`, [id])).rows.length > 0 ? 'last_admin' : 'not_found';
    });
  }
}
