/** The store a process uses: PostgreSQL when STRATA_DATABASE_URL is set, else the SQLite file in the data folder. */
import type { StrataConfig } from '../config.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export async function openStore(config: Pick<StrataConfig, 'databaseFile' | 'databaseUrl'>): Promise<Store> {
  if (config.databaseUrl) return PostgresStore.open(config.databaseUrl);
  return new SqliteStore(config.databaseFile);
}
