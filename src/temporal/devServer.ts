/** The embedded Temporal: `temporal server start-dev` persisted to a SQLite file in the data folder. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { StrataConfig } from '../config.js';
import { temporalCliPath } from './cli.js';
import { devServerSearchAttributeArgs } from './searchAttributes.js';

export interface DevServer {
  address: string;
  uiUrl: string;
  logFile: string;
  stop(): Promise<void>;
}

export async function startDevServer(config: StrataConfig): Promise<DevServer> {
  const { port, uiPort, namespace, databaseFile } = config.temporal;
  fs.mkdirSync(path.dirname(databaseFile), { recursive: true });
  const logFile = path.join(config.dataDir, 'temporal.log');
  const log = fs.openSync(logFile, 'a');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    databaseFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--http-port',
    '0',
    '--metrics-port',
    '0',
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...devServerSearchAttributeArgs(),
  ];
  const child: ChildProcess = spawn(temporalCliPath(config.temporal.cliPath), args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited: number | null | undefined;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`the Temporal dev server exited with code ${exited}; see ${logFile}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.describeNamespace({ namespace });
      await connection.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the Temporal dev server did not come up on ${address} within 60 s (${(err as Error).message}); see ${logFile}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    logFile,
    async stop() {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
