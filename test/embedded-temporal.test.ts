/**
 * `npm start`'s embedded Temporal: the dev server ends with the Strata process even when that is
 * killed outright, and a start whose ports are taken is refused naming the port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../bench/lib/proc.js';
import { projectRoot } from '../src/config.js';
import { makeJobsRepo } from './helpers/jobs.js';
import { tempDir, waitFor } from './helpers/stack.js';

let jobsDir: string;
/** Every process and data folder this file started, ended in afterAll if a test left one running. */
const started: number[] = [];
const dataDirs: string[] = [];

beforeAll(async () => {
  jobsDir = await makeJobsRepo({ a: { outputs: ['a/d={d}'], exec: ['true'] } });
});
afterAll(() => {
  for (const pid of [...started, ...dataDirs.map(devServerPid)]) if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
});

interface Strata {
  child: ChildProcess;
  dataDir: string;
  output(): string;
  exited: Promise<number | null>;
}

async function startStrata(ports: { api: number; temporal: number; ui: number }, extraEnv: Record<string, string> = {}): Promise<Strata> {
  const dataDir = tempDir('embedded');
  dataDirs.push(dataDir);
  const { STRATA_TEMPORAL_ADDRESS: _external, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/main.ts')], {
    cwd: projectRoot,
    env: {
      ...inherited,
      STRATA_DATA: dataDir,
      STRATA_JOBS: jobsDir,
      STRATA_PORT: String(ports.api),
      STRATA_TEMPORAL_PORT: String(ports.temporal),
      STRATA_UI_PORT: String(ports.ui),
      STRATA_TASK_QUEUE: `strata-${path.basename(dataDir)}`,
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child.pid!);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, dataDir, output: () => output, exited };
}

const freePorts = async () => ({ api: await freePort(), temporal: await freePort(), ui: await freePort() });

/** A process that exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pid of the dev server persisting to this data folder's temporal.db, found in /proc. */
function devServerPid(dataDir: string): number | undefined {
  const marker = `--db-filename\0${path.join(dataDir, 'temporal.db')}\0`;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker) && alive(Number(entry))) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

test('kill -9 of Strata takes its Temporal dev server with it', async () => {
  const strata = await startStrata(await freePorts());
  await waitFor('Strata to be running or to end', () => strata.output().includes('Strata is running') || strata.child.exitCode !== null, 100_000);
  expect(strata.output()).toContain('Strata is running');
  const temporal = devServerPid(strata.dataDir);
  expect(temporal).toBeDefined();
  started.push(temporal!);

  strata.child.kill('SIGKILL');
  await strata.exited;
  await waitFor('the dev server to end', () => !alive(temporal!), 30_000);
});

test.each([
  ['temporal', 'the Temporal frontend'],
  ['ui', 'the Temporal Web UI'],
  ['api', 'the REST API'],
] as const)('a start whose %s port is taken is refused naming the port', async (which, what) => {
  const ports = await freePorts();
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(ports[which], '127.0.0.1', resolve));
  try {
    const strata = await startStrata(ports);
    const code = await strata.exited;
    expect(code).not.toBe(0);
    expect(strata.output()).toContain(`port ${ports[which]} is in use (${what}`);
    expect(strata.output()).not.toContain('Strata is running');
    expect(devServerPid(strata.dataDir)).toBeUndefined();
  } finally {
    squatter.close();
  }
});

test('a dev server that exits while starting fails the start with the end of temporal.log', async () => {
  const cli = path.join(tempDir('fake-temporal'), 'temporal');
  fs.writeFileSync(cli, '#!/bin/sh\necho "starting"\necho "fatal: the frontend could not start (as this test asks)" >&2\nexit 3\n', { mode: 0o755 });
  const strata = await startStrata(await freePorts(), { TEMPORAL_CLI_PATH: cli });
  expect(await strata.exited).not.toBe(0);
  expect(strata.output()).toContain('the Temporal dev server exited with code 3');
  expect(strata.output()).toContain('fatal: the frontend could not start (as this test asks)');
  expect(strata.output()).not.toContain('Strata is running');
});
