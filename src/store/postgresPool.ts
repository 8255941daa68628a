/**
 * The PostgreSQL store's connections: a pool, transactions on one pooled client, and the versioned
 * migrations (src/store/migrations/postgres/NNN_name.sql) applied at open.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const INT8 = 20;
const NUMERIC = 1700;

/** Times, ids and counts are BIGINTs; as JavaScript numbers they are exact up to 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 || oid === NUMERIC ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export function createPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, types, max: 10 });
  // An idle client whose server went away must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

/** The connection options the pool uses, for a client of its own (LISTEN). */
export const clientConfig = (url: string): pg.ClientConfig => ({ connectionString: url, types });

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** Runs `fn` in one transaction on one pooled client: it commits when `fn` resolves and rolls back when it throws. */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/postgres/', import.meta.url));
/** Any constant; every Strata process that migrates one database takes the same lock. */
const MIGRATION_LOCK = 0x5374_7261;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function migrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .map((file) => /^(\d+)_(.+)\.sql$/.exec(file))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: Number(m[1]), name: m[2]!, sql: fs.readFileSync(`${dir}/${m[0]}`, 'utf8') }))
    .sort((a, b) => a.version - b.version);
}

/**
 * Applies the migrations the database has not recorded, in order, in one transaction. The advisory lock
 * makes a second process starting at the same time wait, then find them recorded.
 */
export async function migrate(pool: pg.Pool, all = migrations()): Promise<void> {
  await transaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of all) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
    }
  });
}
