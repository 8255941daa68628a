/**
 * The embedded Temporal: `temporal server start-dev` persisted to a SQLite file in the data folder. It
 * ends with the process that started it (on Linux `setpriv --pdeathsig KILL`, so even a `kill -9` of
 * Strata leaves no orphan), and a start whose ports are taken is refused rather than using whatever
 * answers there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { StrataConfig } from '../config.js';
import { log as logger } from '../log.js';
import { temporalCliPath } from './cli.js';
import { devServerSearchAttributeArgs } from './searchAttributes.js';

export interface DevServer {
  address: string;
  uiUrl: string;
  logFile: string;
  stop(): Promise<void>;
}

const SETPRIV = '/usr/bin/setpriv';

/** Whether something listens on host:port already (binding it fails with EADDRINUSE). */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(true) : reject(err)));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/** Throws `port N is in use (what)` for the first of these ports that something listens on. */
export async function assertPortsFree(ports: { host: string; port: number; what: string }[]): Promise<void> {
  for (const { host, port, what } of ports)
    if (await portInUse(host, port))
      throw new Error(`port ${port} is in use (${what} on ${host}): another Strata or Temporal may still be running; stop it or choose another port`);
}

/** The last lines of a log, from `offset` on (what this run wrote). */
function tail(file: string, offset: number, lines = 20): string {
  const text = fs.readFileSync(file).subarray(offset).toString('utf8').trimEnd();
  return text.split('\n').slice(-lines).join('\n');
}

export async function startDevServer(config: StrataConfig): Promise<DevServer> {
  const { port, uiPort, namespace, databaseFile } = config.temporal;
  await assertPortsFree([
    { host: '127.0.0.1', port, what: 'the Temporal frontend, STRATA_TEMPORAL_PORT' },
    { host: '127.0.0.1', port: uiPort, what: 'the Temporal Web UI, STRATA_UI_PORT' },
  ]);
  fs.mkdirSync(path.dirname(databaseFile), { recursive: true });
  const logFile = path.join(config.dataDir, 'temporal.log');
  const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
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
  const cli = temporalCliPath(config.temporal.cliPath);
  const withParent = process.platform === 'linux' && fs.existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : [];
  const [file, ...argv] = [...withParent, cli, ...args];
  const child: ChildProcess = spawn(file!, argv, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited: string | undefined;
  let ready = false;
  let stopping = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `code ${code}`;
      if (ready && !stopping) logger.error({ logFile, logTail: tail(logFile, logStart) }, `the Temporal dev server exited with ${exited}; the end of ${logFile} is in logTail`);
      resolve();
    }),
  );

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`the Temporal dev server exited with ${exited}; the end of ${logFile}:\n${tail(logFile, logStart)}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.describeNamespace({ namespace });
      await connection.close();
      if (exited !== undefined) continue; // something else answered on the port; say why this one ended
      ready = true;
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
      stopping = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
