/**
 * Strata in its production shape, for real, on this machine: PostgreSQL (test/helpers/postgres.ts), the
 * Temporal server (not the dev server) built by `provision --temporal-server`, its schema set up with its
 * sql tool, started from the repository's deploy/temporal/strata.yaml with mTLS on every port
 * (certificates made here with openssl), the namespace and Strata's search attributes created with the
 * Temporal CLI; then Strata's worker processes (`node --import tsx src/worker.ts`), each with its own
 * data folder, sharing only Temporal, PostgreSQL and the warehouse folder. Every process started here
 * dies with the test process (`setpriv --pdeathsig KILL`), even when that is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { execa } from 'execa';
import { projectRoot } from '../../src/config.js';
import { temporalCliPath } from '../../src/temporal/cli.js';
import { searchAttributeCliTypes } from '../../src/temporal/searchAttributes.js';
import { freePort, type Postgres } from './postgres.js';
import { tempDir, waitFor } from './stack.js';
import { startStrataProcess, withParent, type StrataProcess } from './processes.js';


/** The folder `provision --temporal-server` built the server into (building it when missing: minutes the first time). */
export async function temporalServerTools(): Promise<{ dir: string; server: string; sqlTool: string; schema: string }> {
  const { stdout } = await execa(process.execPath, [path.join(projectRoot, 'scripts', 'provision.mjs'), '--temporal-server'], { stderr: 'inherit' });
  const dir = stdout.trim().split('\n').at(-1)!;
  return { dir, server: path.join(dir, 'temporal-server'), sqlTool: path.join(dir, 'temporal-sql-tool'), schema: path.join(dir, 'schema', 'postgresql', 'v12') };
}

export interface Certificates {
  dir: string;
  /** The CA that signed the server's and the clients' certificates. */
  ca: string;
  /** The server's: names 127.0.0.1 and localhost, for serving and for the services' client side. */
  serverCert: string;
  serverKey: string;
  /** Strata's client certificate. */
  clientCert: string;
  clientKey: string;
  /** A client certificate from a CA the server does not trust. */
  strangerCert: string;
  strangerKey: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and one from another CA, made with openssl. */
export async function makeCertificates(dir = tempDir('certs')): Promise<Certificates> {
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execa('openssl', args, { cwd: dir });
  const ca = async (name: string) => {
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  };
  const issue = async (name: string, caName: string, ext: string) => {
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    fs.writeFileSync(f(`${name}.ext`), ext);
    await openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${caName}.pem`), '-CAkey', f(`${caName}.key`), '-CAcreateserial', '-days', '2',
      '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  await ca('ca');
  await ca('stranger-ca');
  await issue('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await issue('client', 'ca', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await issue('stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  for (const name of fs.readdirSync(dir)) fs.chmodSync(f(name), 0o600);
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    strangerCert: f('stranger.pem'),
    strangerKey: f('stranger.key'),
  };
}

const taken = new Set<number>();
/** A free loopback port below 32768 (Temporal stores membership ports in a smallint column). */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
}

export interface TemporalCluster {
  /** host:port of the frontend. */
  address: string;
  /** host:port of the frontend's HTTP API (the same mTLS). */
  httpAddress: string;
  namespace: string;
  certs: Certificates;
  /** What a Strata process needs in its environment to reach this server: address, namespace and mTLS. */
  strataEnv: Record<string, string>;
  /** The Temporal CLI's connection flags (address, namespace, mTLS). */
  cliArgs: string[];
  logFile: string;
  /** A Temporal CLI command against this server. */
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The Temporal server on `postgres`: creates the databases `temporal` and `temporal_visibility`, sets up
 * and updates their schema with the sql tool, starts the server from deploy/temporal/strata.yaml with
 * mTLS, and creates the namespace and Strata's search attributes.
 */
export async function startTemporalCluster(postgres: Postgres, opts: { certs?: Certificates; namespace?: string } = {}): Promise<TemporalCluster> {
  const tools = await temporalServerTools();
  const certs = opts.certs ?? (await makeCertificates());
  const namespace = opts.namespace ?? 'default';
  const work = tempDir('temporal');

  const sql = (db: string, ...args: string[]) =>
    execa(tools.sqlTool, ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgres.port), '-u', 'strata', '--db', db, ...args], { all: true }).catch(
      (err: { all?: string; message: string }) => {
        throw new Error(`temporal-sql-tool ${args.join(' ')} on ${db} failed: ${err.all ?? err.message}`);
      },
    );
  for (const [db, folder] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    await sql(db, 'create-database');
    await sql(db, 'setup-schema', '-v', '0.0');
    await sql(db, 'update-schema', '-d', path.join(tools.schema, folder, 'versioned'));
  }

  const frontendPort = await freePort();
  const ports = {
    TEMPORAL_FRONTEND_PORT: frontendPort,
    TEMPORAL_FRONTEND_HTTP_PORT: await freePort(),
    TEMPORAL_HISTORY_PORT: await freePort(),
    TEMPORAL_MATCHING_PORT: await freePort(),
    TEMPORAL_WORKER_PORT: await freePort(),
    TEMPORAL_FRONTEND_MEMBERSHIP_PORT: await freeLowPort(),
    TEMPORAL_HISTORY_MEMBERSHIP_PORT: await freeLowPort(),
    TEMPORAL_MATCHING_MEMBERSHIP_PORT: await freeLowPort(),
    TEMPORAL_WORKER_MEMBERSHIP_PORT: await freeLowPort(),
  };
  const serverEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TEMPORAL_DB_HOST: '127.0.0.1',
    TEMPORAL_DB_PORT: String(postgres.port),
    TEMPORAL_DB_USER: 'strata',
    TEMPORAL_LOG_LEVEL: 'warn',
    // Four services, each with a pool per store: keep within the test PostgreSQL's 200 connections.
    TEMPORAL_DB_MAX_CONNS: '10',
    TEMPORAL_TLS_CERT: certs.serverCert,
    TEMPORAL_TLS_KEY: certs.serverKey,
    TEMPORAL_TLS_CA: certs.ca,
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
  };
  const logFile = path.join(work, 'temporal.log');
  const log = fs.openSync(logFile, 'a');
  const [file, ...argv] = withParent([tools.server, '--root', projectRoot, '--config', 'deploy/temporal', '--env', 'strata', '--allow-no-auth', 'start']);
  const child: ChildProcess = spawn(file!, argv, { cwd: work, env: serverEnv, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const logTail = () => fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');

  const address = `127.0.0.1:${frontendPort}`;
  const tls = {
    clientCertPair: { crt: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) },
    serverRootCACertificate: fs.readFileSync(certs.ca),
    serverNameOverride: 'localhost',
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      'the Temporal server to answer on its frontend',
      async () => {
        if (child.exitCode !== null) throw new Error(`the Temporal server exited with ${child.exitCode}:\n${logTail()}`);
        try {
          const connection = await Connection.connect({ address, tls, connectTimeout: 1000 });
          try {
            await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
            return true;
          } finally {
            await connection.close();
          }
        } catch {
          return false;
        }
      },
      120_000,
    );

    const cliArgs = ['--address', address, '--namespace', namespace, '--tls-cert-path', certs.clientCert, '--tls-key-path', certs.clientKey, '--tls-ca-path', certs.ca, '--tls-server-name', 'localhost'];
    const cli = async (args: string[]) => {
      const r = await execa(temporalCliPath(), [...args, ...cliArgs], { all: true, reject: false, env: { ...process.env, TEMPORAL_ENV: '' } });
      if (r.exitCode !== 0) throw new Error(`temporal ${args.join(' ')} failed: ${r.all}`);
      return r.stdout;
    };
    await cli(['operator', 'namespace', 'create', '--retention', '24h']);
    // The frontend learns of a new namespace when it refreshes its namespace cache (every 10 s); one
    // attribute per call (the CLI creates only the first --name of a call).
    for (const [name, type] of searchAttributeCliTypes())
      await waitFor(
        `the namespace to take the search attribute ${name}`,
        () => cli(['operator', 'search-attribute', 'create', '--name', name, '--type', type]).then(() => true, () => false),
        60_000,
      );
    const connection = await Connection.connect({ address, tls });
    try {
      await waitFor(
        "Strata's search attributes to be listed",
        async () => {
          const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
          return searchAttributeCliTypes().every(([name]) => customAttributes?.[name] !== undefined);
        },
        60_000,
      );
    } finally {
      await connection.close();
    }
    return {
      address,
      httpAddress: `127.0.0.1:${ports.TEMPORAL_FRONTEND_HTTP_PORT}`,
      namespace,
      certs,
      strataEnv: {
        STRATA_TEMPORAL_ADDRESS: address,
        STRATA_NAMESPACE: namespace,
        STRATA_TEMPORAL_TLS_CERT: certs.clientCert,
        STRATA_TEMPORAL_TLS_KEY: certs.clientKey,
        STRATA_TEMPORAL_TLS_CA: certs.ca,
        STRATA_TEMPORAL_TLS_SERVER_NAME: 'localhost',
      },
      cliArgs,
      logFile,
      cli,
      async stop() {
        await stop();
        fs.rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface WorkerProcess extends StrataProcess {
  name: string;
  dataDir: string;
  logFile: string;
}

/**
 * `node --import tsx src/worker.ts` (what `npm run worker` runs) with `env`, its own data folder, its
 * output in a log file there; resolves once it polls.
 */
export async function startWorkerProcess(name: string, env: Record<string, string>, dataDir = tempDir(`worker-${name}`)): Promise<WorkerProcess> {
  const logFile = path.join(dataDir, 'worker.log');
  fs.mkdirSync(dataDir, { recursive: true });
  const worker = startStrataProcess('worker', { STRATA_LOG_FORMAT: 'json', ...env, STRATA_DATA: dataDir }, { logFile });
  const tail = () => worker.output().split('\n').slice(-30).join('\n');
  try {
    await waitFor(
      `worker ${name} to poll`,
      () => {
        if (worker.child.exitCode !== null) throw new Error(`worker ${name} exited with ${worker.child.exitCode}:\n${tail()}`);
        return worker.output().includes('worker polling');
      },
      180_000,
    );
  } catch (err) {
    worker.child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\nthe end of ${logFile}:\n${tail()}`);
  }
  return { ...worker, name, dataDir, logFile };
}
