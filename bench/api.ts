/**
 * Section e: the REST API under load from a second process on loopback. Strata runs as `npm start`
 * does (src/main.ts: workers and API in one process) against the shared dev server; autocannon runs in
 * its own processes: GET /api/v1/builds/:id at a fixed 500 req/s, then POST /api/v1/builds with new and
 * duplicate partitions at the same time.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { count, millis } from './lib/stats.js';
import { startStrata, writeJobs } from './lib/strata.js';
import type { BenchContext, Section } from './lib/types.js';

const GET_RATE = 500;
const GET_SECONDS = 20;
const POST_SECONDS = 10;
const TARGET_P99_MS = 50;

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}

const run$ = promisify(execFile);

/** Runs autocannon as a separate process and returns its JSON summary. */
async function autocannon(ctx: BenchContext, args: string[]): Promise<AutocannonResult> {
  const bin = path.join(ctx.root, 'node_modules', 'autocannon', 'autocannon.js');
  const { stdout } = await run$(process.execPath, [bin, '--json', ...args], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as AutocannonResult;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const jobsDir = writeJobs(ctx.tempDir('api-jobs'), { load: { manifest: { outputs: ['bench/load/id={id}'], exec: ['true'] } } });
  const { url, adminToken } = await startStrata(ctx, { name: 'api', jobsDir });
  const auth = `Authorization=Bearer ${adminToken}`;

  // One finished build to read.
  const started = await fetch(`${url}/api/v1/builds`, {
    method: 'POST',
    headers: { Authorization: auth.slice('Authorization='.length), 'Content-Type': 'application/json' },
    body: JSON.stringify({ partitions: ['bench/load/id=read-me'] }),
  });
  const { buildId } = (await started.json()) as { buildId: string };
  for (;;) {
    const res = await fetch(`${url}/api/v1/builds/${buildId}`, { headers: { Authorization: auth.slice('Authorization='.length) } });
    if (((await res.json()) as { status: string }).status === 'completed') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  ctx.log(`GET /api/v1/builds/${buildId} at ${GET_RATE} req/s for ${GET_SECONDS} s`);
  const get = await autocannon(ctx, ['-c', '10', '-R', String(GET_RATE), '-d', String(GET_SECONDS), '-H', auth, `${url}/api/v1/builds/${buildId}`]);

  ctx.log(`POST /api/v1/builds, new and duplicate partitions at once, for ${POST_SECONDS} s`);
  const post = (body: string) =>
    autocannon(ctx, ['-c', '5', '-d', String(POST_SECONDS), '-m', 'POST', '-H', auth, '-H', 'Content-Type=application/json', '-I', '-b', body, `${url}/api/v1/builds`]);
  const [fresh, duplicate] = await Promise.all([post('{"partitions": ["bench/load/id=[<id>]"]}'), post('{"partitions": ["bench/load/id=dup"]}')]);

  const failures = (r: AutocannonResult) => r.non2xx + r.errors + r.timeouts;
  const row = (metric: string, r: AutocannonResult, target = '—', met?: boolean) => [
    { metric: `${metric}: throughput`, measured: `${r.requests.average.toFixed(0)} req/s (${count(r.requests.total)} requests, ${failures(r)} failed)`, target: '—' },
    { metric: `${metric}: p50 latency`, measured: millis(r.latency.p50), target: '—' },
    { metric: `${metric}: p99 latency`, measured: millis(r.latency.p99), target, ...(met !== undefined ? { met } : {}) },
  ];
  const getMet = get.latency.p99 <= TARGET_P99_MS && failures(get) === 0 && get.requests.average >= GET_RATE * 0.95;
  return {
    title: 'e) The REST API under load',
    rows: [
      ...row(`GET /api/v1/builds/:id at ${GET_RATE} req/s`, get, `≤ ${TARGET_P99_MS} ms at ${GET_RATE} req/s`, getMet),
      ...row('POST /api/v1/builds, new partitions', fresh),
      ...row('POST /api/v1/builds, a duplicate partition', duplicate),
    ],
    note: [
      `Strata runs as \`npm start\` runs it (src/main.ts: both workers and the API in one Node process, SQLite store) against the`,
      `benchmark's dev server; the load comes from autocannon in separate processes on loopback, with an administrator's token`,
      `(each request looks its token up in the store). GET: ${GET_SECONDS} s at a fixed ${GET_RATE} req/s over 10 connections, reading a`,
      `finished one-task build. POST: two autocannon processes for ${POST_SECONDS} s at once, 5 connections each, as fast as the API`,
      `answers: one asks for a new partition per request (\`[<id>]\` replaced by a random id), the other for the same partition`,
      `every time. Every POST starts a real build workflow, and the worker in the same process plans and runs them meanwhile,`,
      `so the POST numbers include that competition for the 2 cores.`,
    ].join(' '),
  };
}
