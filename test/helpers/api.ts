/** Strata's REST API on a free loopback port, over a test stack, with an administrator's token. */
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { apiDepsFor } from '../../src/api/deps.js';
import { createApp } from '../../src/api/app.js';
import { ensureAdminToken, issueToken } from '../../src/api/auth.js';
import type { Stack } from './stack.js';

export interface TestApi {
  app: ReturnType<typeof createApp>;
  url: string;
  adminToken: string;
  adminTokenFile: string;
  /** A new token acting for `team`. */
  tokenFor(team: string): Promise<string>;
  close(): Promise<void>;
}

export async function startApi(stack: Stack): Promise<TestApi> {
  const app = createApp(apiDepsFor(stack.config, stack.workers, stack.env.client));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const adminTokenFile = path.join(stack.config.dataDir, 'admin.token');
  await ensureAdminToken(stack.store, adminTokenFile);
  return {
    app,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    adminToken: fs.readFileSync(adminTokenFile, 'utf8').trim(),
    adminTokenFile,
    tokenFor: async (team) => (await issueToken(stack.store, { team, name: `test token for ${team}` })).token,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
