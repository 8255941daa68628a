/** Opens the store of STRATA_DATABASE_URL (or the data folder) once and closes it: a second process starting against the same database. */
import { loadConfig } from '../../src/config.js';
import { openStore } from '../../src/store/open.js';

const store = await openStore(loadConfig());
await store.close();
console.log('opened');
