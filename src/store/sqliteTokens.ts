/** API tokens on SQLite: the `tokens` table (only each token's SHA-256 is kept); the store exposes it as `tokens`. */
import type Database from 'better-sqlite3';
import { toToken, type TokenRow } from './rows.js';
import type { TokenRecord, TokenStore } from './tokens.js';

// The same table as src/store/migrations/postgres/001_initial.sql's tokens, in SQLite's dialect: two dialects of one schema.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,
  team TEXT,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
`;

export class SqliteTokens implements TokenStore {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  async save(token: TokenRecord, sha256: string): Promise<void> {
    this.db
      .prepare(`INSERT INTO tokens (id, sha256, team, name, created_at) VALUES (?, ?, ?, ?, ?)`)
      .run(token.id, sha256, token.team ?? null, token.name, token.createdAtMs);
  }

  async find(sha256: string): Promise<TokenRecord | undefined> {
    const row = this.db.prepare(`SELECT * FROM tokens WHERE sha256 = ?`).get(sha256) as TokenRow | undefined;
    return row && toToken(row);
  }

  async list(): Promise<TokenRecord[]> {
    return (this.db.prepare(`SELECT * FROM tokens ORDER BY created_at, id`).all() as TokenRow[]).map(toToken);
  }

  async revoke(id: string): Promise<'revoked' | 'not_found' | 'last_admin'> {
    // One statement, so two revocations at once cannot remove the last two administrators' tokens.
    const deleted = this.db
      .prepare(`DELETE FROM tokens WHERE id = ? AND (team IS NOT NULL OR (SELECT count(*) FROM tokens WHERE team IS NULL) > 1)`)
      .run(id).changes;
    if (deleted > 0) return 'revoked';
    return this.db.prepare(`SELECT 1 FROM tokens WHERE id = ?`).get(id) ? 'last_admin' : 'not_found';
  }
}
