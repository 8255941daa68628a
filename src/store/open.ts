/** The store a process uses: PostgreSQL when STRATA_DATABASE_URL is set, else the SQLite file in the data folder. */
import type { StrataConfig } from '../config.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export async function openStore(config: Pick<StrataConfig, 'databaseFile' | 'databaseUrl'>): Promise<Store> {
  // Loaded only when used, so a SQLite worker does not carry the PostgreSQL client.
  if (config.databaseUrl) return (await import('./postgres.js')).PostgresStore.open(config.databaseUrl);
  return new SqliteStore(config.databaseFile);
}
