/**
 * A real PostgreSQL server for tests: Debian's postgresql-15 (provisioned with apt-get when missing), a
 * fresh cluster in a temporary folder on a free loopback port, trust authentication for the user
 * `strata`. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user. It dies with
 * the test process (`setpriv --pdeathsig`), even when that process is killed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { projectRoot } from '../../src/config.js';

export interface Postgres {
  /** postgres://strata@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** A new, empty database; returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

function binDir(): string {
  return execFileSync(process.execPath, [path.join(projectRoot, 'scripts', 'provision.mjs'), '--postgres'], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-pg-'));
  const asRoot = process.getuid?.() === 0;
  // As root: run PostgreSQL as `postgres`, which must own its folder.
  const user = asRoot ? ['/usr/bin/setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups'] : [];
  if (asRoot) execFileSync('chown', ['postgres:postgres', root]);
  const data = path.join(root, 'data');
  execFileSync(user[0] ?? path.join(bin, 'initdb'), [...user.slice(1), ...(asRoot ? [path.join(bin, 'initdb')] : []), '-D', data, '-U', 'strata', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
    stdio: 'pipe',
  });
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-k', root, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'max_connections=200'];
  const logFile = path.join(root, 'postgres.log');
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn('/usr/bin/setpriv', [...user.slice(1), '--pdeathsig', 'KILL', '--', path.join(bin, 'postgres'), ...args], {
    stdio: ['ignore', log, log],
  });
  const url = `postgres://strata@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited with ${child.exitCode}: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within 30 s: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    port,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return `postgres://strata@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT'); // fast shutdown
        await exited;
      }
      fs.closeSync(log);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
