/** The store a process uses: PostgreSQL when STRATA_DATABASE_URL is set, else the SQLite file in the data folder. */
import type { StrataConfig } from '../config.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export async function openStore(config: Pick<StrataConfig, 'databaseFile' | 'databaseUrl'>): Promise<Store> {
  if (config.databaseUrl) throw new Error('STRATA_DATABASE_URL is set, but this build of Strata has no PostgreSQL store yet');
  return new SqliteStore(config.databaseFile);
}
