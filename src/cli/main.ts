/**
 * `strata`: the command line of the REST API. Human-readable output by default, `--json` for scripts;
 * the exit code says whether the work succeeded (see ExitCode).
 */
import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import type { BuildDetail } from '../api/builds.js';
import type { JobView, PartitionView } from '../api/catalog.js';
import { loadConfig } from '../config.js';
import { PartitionStatus } from '../generated/databuild.js';
import { FINISHED_BUILD_STATUSES } from '../engine/records.js';
import { ApiClient, CliError, ExitCode } from './client.js';
import { backfill } from './backfill.js';
import { dag } from './dag.js';
import { schedule } from './schedule.js';
import { deploy, pin, plugin, unpin } from './deploy.js';
import { describeBuild, describeEvent, formatTable, progressLine, type BuildEventView } from './format.js';

const USAGE = `strata: build data partitions and inspect builds through the Strata API

Usage:
  strata build <partition>... [--wait] [--concurrency N] [--rebuild]
                                                           start a build; --wait shows progress until it ends;
                                                           --rebuild builds them again even when live
  strata status <build>                                    a build, its partitions and its tasks
  strata events <build> [--follow]                         a build's events; --follow streams them until it ends
  strata jobs                                              the jobs you can run
  strata partitions [prefix] [--status S] [--limit N]      the partition catalog (--status stale: what read a rebuilt one)
  strata deploy --team T --job J --repo URL [--commit C | --branch B] [--folder F] [--wait]
                                                           deploy a job from git (--repo . for this checkout)
  strata dag run <file.json|file.yaml> [--wait] [--team T] [--name N] [--max-concurrent N]
                                                           start a DAG run of deployed jobs (meta-jobs format; the
                                                           file may be the bare jobs list); --wait shows each job
  strata schedule create (--name N --partition TEMPLATE... (--cron EXPR | --every D) [schedule flags] | -f FILE)
                                                           a schedule: its templates built at each tick (FILE: YAML
                                                           or JSON with the fields of POST /api/v1/schedules)
  strata schedule update <team>/<name> [schedule flags | -f FILE]
                                                           change it: the flags given, or the whole file
  strata schedule list                                     your team's schedules (administrators: all)
  strata schedule show <team>/<name>                       its definition, state, next ticks and recent runs
  strata schedule pause|unpause <team>/<name> [--note T]   stop or resume its ticks
  strata schedule trigger <team>/<name> [--overlap P]      start a tick now
  strata schedule delete <team>/<name>                     delete it (running builds go on)
  strata schedule backfill <team>/<name> --from D --to D [--mode M] [--dry-run] [--wait]
                                                           its own ticks over a past range, as one backfill
  strata backfill create --partition TEMPLATE... --from D --to D [--step S] [--timezone Z] [--mode missing|failed|all]
                  [--concurrency N] [--order oldest|newest] [--dry-run] [--wait]
                                                           build a range of partitions as one backfill; --wait shows
                                                           done / building / failed / pending, rate and ETA
  strata backfill status|cancel|retry <backfill-id> [--wait]
                                                           its progress; cancel it; build again what failed
  strata pin --team T --job J --commit C                    builds run the job's deployment at C (a rollback)
  strata unpin --team T --job J                            builds run the job's current deployment again
  strata plugin bundle <dir> [--out DIR]                   make a job-type plugin ZIP (honours .racetrackignore)
  strata plugin render <dir> --manifest job.yaml [--git-version X]
                                                           print the Dockerfile a plugin renders for a job
  strata plugin install <zip>                              install a plugin (administrators)
  strata plugin list                                       job types and their versions
  strata token create (--team T | --admin) [--name N]      issue an API token (administrators)
  strata token list                                        list tokens (administrators)
  strata token revoke <token-id>                           revoke a token (administrators)

Schedule flags: --team T --timezone ZONE --overlap skip|buffer_one|buffer_all|cancel_other|allow_all
  --catchup-window D --pause-on-failure --jitter D --concurrency N --lookback N --deadline D

Options:
  --api URL      the Strata API (default $STRATA_API, else http://$STRATA_HOST:$STRATA_PORT of a local npm start)
  --token T      the bearer token (default $STRATA_TOKEN, else the admin token file of a local npm start)
  --json         machine-readable output
  -h, --help     this help

Exit codes: 0 success, 1 the build or deployment failed or was cancelled, 2 a usage error or a request the API refused,
3 the API is unreachable or failed.`;

// node:util parseArgs's options, one an entry: alike by nature (a flag's name and type), not repeated logic.
const options = {
  api: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  wait: { type: 'boolean', default: false },
  follow: { type: 'boolean', short: 'f', default: false },
  concurrency: { type: 'string' },
  limit: { type: 'string' },
  team: { type: 'string' },
  admin: { type: 'boolean', default: false },
  name: { type: 'string' },
  job: { type: 'string' },
  repo: { type: 'string' },
  commit: { type: 'string' },
  branch: { type: 'string' },
  folder: { type: 'string' },
  manifest: { type: 'string' },
  'git-version': { type: 'string' },
  out: { type: 'string' },
  'max-concurrent': { type: 'string' },
  rebuild: { type: 'boolean', default: false },
  status: { type: 'string' },
  partition: { type: 'string', multiple: true },
  cron: { type: 'string' },
  every: { type: 'string' },
  timezone: { type: 'string' },
  overlap: { type: 'string' },
  'catchup-window': { type: 'string' },
  'pause-on-failure': { type: 'boolean' },
  jitter: { type: 'string' },
  lookback: { type: 'string' },
  deadline: { type: 'string' },
  note: { type: 'string' },
  file: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  step: { type: 'string' },
  mode: { type: 'string' },
  order: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
} satisfies ParseArgsConfig['options'];

const positiveInt = (flag: string) =>
  z
    .string()
    .regex(/^\d+$/, `${flag} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(1, `${flag} must be at least 1`));

/** Flags as the commands use them, validated once here. */
const FlagsSchema = z.object({
  api: z.url({ message: '--api must be a URL such as http://127.0.0.1:8080' }).optional(),
  token: z.string().min(1).optional(),
  json: z.boolean(),
  help: z.boolean(),
  wait: z.boolean(),
  follow: z.boolean(),
  concurrency: positiveInt('--concurrency').optional(),
  limit: positiveInt('--limit').optional(),
  team: z.string().min(1).optional(),
  admin: z.boolean(),
  name: z.string().min(1).optional(),
  job: z.string().min(1).optional(),
  repo: z.string().min(1).optional(),
  commit: z.string().min(1).optional(),
  branch: z.string().min(1).optional(),
  folder: z.string().min(1).optional(),
  manifest: z.string().min(1).optional(),
  'git-version': z.string().min(1).optional(),
  out: z.string().min(1).optional(),
  'max-concurrent': z.string().min(1).optional(),
  rebuild: z.boolean(),
  status: z.enum(PartitionStatus, { message: `--status must be one of ${PartitionStatus.join(', ')}` }).optional(),
  partition: z.array(z.string()).optional(),
  cron: z.string().optional(),
  every: z.string().optional(),
  timezone: z.string().optional(),
  overlap: z.string().optional(),
  'catchup-window': z.string().optional(),
  'pause-on-failure': z.boolean().optional(),
  jitter: z.string().optional(),
  lookback: z.string().regex(/^\d+$/, '--lookback must be a whole number').transform(Number).optional(),
  deadline: z.string().optional(),
  note: z.string().optional(),
  file: z.string().min(1).optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  step: z.string().optional(),
  mode: z.string().optional(),
  order: z.string().optional(),
  'dry-run': z.boolean(),
});
type Flags = z.infer<typeof FlagsSchema>;

function usage(message: string): never {
  throw new CliError(`${message}\nRun \`strata --help\` for usage.`, ExitCode.usage);
}

function parseCommandLine(argv: string[]): { command: string | undefined; args: string[]; flags: Flags } {
  let parsed;
  try {
    // -f is --file for strata schedule (a definition's file), --follow elsewhere.
    const command = parseArgs({ args: argv, options, allowPositionals: true, strict: false }).positionals[0];
    const shorts = command === 'schedule' ? { ...options, follow: { type: 'boolean', default: false }, file: { type: 'string', short: 'f' } } : options;
    parsed = parseArgs({ args: argv, options: shorts as typeof options, allowPositionals: true, strict: true });
  } catch (err) {
    usage((err as Error).message);
  }
  const flags = FlagsSchema.safeParse(parsed.values);
  if (!flags.success) usage(flags.error.issues.map((i) => i.message).join('; '));
  const [command, ...args] = parsed.positionals;
  return { command, args, flags: flags.data };
}

function connect(flags: Flags): ApiClient {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    usage((err as Error).message);
  }
  let token = flags.token ?? config.cli.token;
  if (!token && fs.existsSync(config.adminTokenFile)) token = fs.readFileSync(config.adminTokenFile, 'utf8').trim();
  return new ApiClient(flags.api ?? config.cli.api, token);
}

const print = (text: string) => process.stdout.write(`${text}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));
const exitFor = (status: string) => (status === 'completed' ? ExitCode.ok : ExitCode.failed);
const buildPath = (id: string) => `/api/v1/builds/${encodeURIComponent(id)}`;

async function build(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  if (args.length === 0) usage('strata build needs at least one partition, e.g. strata build reports/daily/date=2026-11-01');
  const { buildId } = await api.post<{ buildId: string }>('/api/v1/builds', {
    partitions: args,
    ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
    ...(flags.rebuild ? { rebuild: true } : {}),
  });
  if (!flags.wait) {
    if (flags.json) printJson({ buildId });
    else print(`build ${buildId} started; follow it with: strata status ${buildId}`);
    return ExitCode.ok;
  }
  if (!flags.json) print(`build ${buildId} started`);
  const detail = await waitForBuild(api, buildId, !flags.json);
  if (flags.json) printJson(detail);
  else print(describeBuild(detail));
  return exitFor(detail.status);
}

/**
 * Polls the build until it ends, drawing its progress (one line rewritten on a terminal, a line per
 * change otherwise). Polls fetch the counts only; the task list is fetched when a task has failed and at the end.
 */
async function waitForBuild(api: ApiClient, buildId: string, show: boolean): Promise<BuildDetail> {
  const tty = process.stderr.isTTY;
  const everything = `${buildPath(buildId)}?tasksLimit=10000`;
  let last = '';
  let failedSeen = 0;
  const reported = new Set<string>();
  for (;;) {
    const detail = await api.get<BuildDetail>(`${buildPath(buildId)}?tasksLimit=0`);
    const finished = FINISHED_BUILD_STATUSES.includes(detail.status);
    if (show) {
      const line = progressLine(detail);
      if (line !== last) {
        process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
        last = line;
      }
      if (detail.taskCounts.failed > failedSeen) {
        failedSeen = detail.taskCounts.failed;
        for (const t of (await api.get<BuildDetail>(everything)).tasks)
          if (t.status === 'failed' && !reported.has(t.taskId)) {
            reported.add(t.taskId);
            process.stderr.write(`${tty ? '\r\x1b[2K' : ''}task ${t.taskId} (${t.job}) failed after ${t.attempts} attempt(s)\n${tty ? line : ''}`);
          }
      }
    }
    if (finished) {
      if (show && tty) process.stderr.write('\n');
      return api.get<BuildDetail>(everything);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function status(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  if (args.length !== 1) usage('strata status needs one build id');
  const detail = await api.get<BuildDetail>(`${buildPath(args[0]!)}?tasksLimit=10000`);
  if (flags.json) printJson(detail);
  else print(describeBuild(detail));
  return ExitCode.ok;
}

async function events(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  if (args.length !== 1) usage('strata events needs one build id');
  const path = `${buildPath(args[0]!)}/events`;
  const show = (event: BuildEventView) => print(flags.json ? JSON.stringify(event) : describeEvent(event));
  if (!flags.follow) {
    let after = 0;
    for (;;) {
      const page = await api.get<{ events: BuildEventView[]; next: number }>(`${path}?after=${after}&limit=1000`);
      page.events.forEach(show);
      if (page.events.length < 1000) return ExitCode.ok;
      after = page.next;
    }
  }
  for await (const message of api.stream(`${path}?follow=1`)) {
    if (message.event === 'build_event') show(message.data as BuildEventView);
    if (message.event === 'end') {
      const end = message.data as { status: string; failure: { message: string } | null };
      if (flags.json) print(JSON.stringify({ end }));
      else print(`build ${end.status}${end.failure ? `: ${end.failure.message}` : ''}`);
      return exitFor(end.status);
    }
  }
  throw new CliError('the event stream ended before the build did', ExitCode.unavailable);
}

async function jobs(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  if (args.length > 0) usage('strata jobs takes no arguments');
  const { jobs, problems } = await api.get<{ jobs: JobView[]; problems: string[] }>('/api/v1/jobs');
  if (flags.json) printJson({ jobs, problems });
  else {
    print(
      formatTable(
        ['JOB', 'TEAM', 'DEPLOYED', 'OUTPUTS', 'INPUTS'],
        jobs.map((j) => [
          j.name,
          j.team,
          j.deployment ? j.deployment.commit.slice(0, 12) : '(folder)',
          j.outputs.join(' '),
          j.inputs.map((i) => i.partition + (i.depType === 'query' ? ' (query)' : '')).join(' '),
        ]),
      ),
    );
    if (jobs.length === 0) print('(no jobs)');
    for (const problem of problems) process.stderr.write(`invalid job: ${problem}\n`);
  }
  return ExitCode.ok;
}

async function partitions(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  if (args.length > 1) usage('strata partitions takes at most one prefix');
  const limit = flags.limit ?? Infinity;
  const found: PartitionView[] = [];
  let after: string | null = '';
  while (after !== null && found.length < limit) {
    const page: { partitions: PartitionView[]; nextAfter: string | null } = await api.get(
      `/api/v1/partitions?prefix=${encodeURIComponent(args[0] ?? '')}&limit=${Math.min(5000, limit - found.length)}${after ? `&after=${encodeURIComponent(after)}` : ''}${flags.status ? `&status=${flags.status}` : ''}`,
    );
    found.push(...page.partitions);
    after = page.nextAfter;
  }
  if (flags.json) printJson(found);
  else {
    const stale = found.some((p) => p.staleBecause);
    print(
      formatTable(
        ['PARTITION', 'STATUS', 'JOB', 'BUILD', 'UPDATED', ...(stale ? ['STALE BECAUSE'] : [])],
        found.map((p) => [p.partition, p.status, p.job ?? '', p.buildId ?? '', p.updatedAt, ...(stale ? [p.staleBecause ?? ''] : [])]),
      ),
    );
    if (found.length === 0) print('(no partitions)');
  }
  return ExitCode.ok;
}

interface TokenView {
  id: string;
  team: string | null;
  name: string;
  createdAt: string;
  token?: string;
}

async function token(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'create') {
    if (rest.length > 0) usage('strata token create takes no arguments, only --team or --admin');
    if (!flags.team === !flags.admin) usage('strata token create needs --team <team> or --admin');
    const created = await api.post<TokenView>('/api/v1/tokens', {
      ...(flags.team ? { team: flags.team } : { admin: true }),
      ...(flags.name ? { name: flags.name } : {}),
    });
    if (flags.json) printJson(created);
    else {
      print(created.token!);
      process.stderr.write(`token ${created.id} for ${created.team ? `team ${created.team}` : 'the administrators'}; it is shown only once\n`);
    }
    return ExitCode.ok;
  }
  if (action === 'list') {
    const { tokens } = await api.get<{ tokens: TokenView[] }>('/api/v1/tokens');
    if (flags.json) printJson(tokens);
    else print(formatTable(['ID', 'TEAM', 'NAME', 'CREATED'], tokens.map((t) => [t.id, t.team ?? '(admin)', t.name, t.createdAt])));
    return ExitCode.ok;
  }
  if (action === 'revoke') {
    if (rest.length !== 1) usage('strata token revoke needs one token id (see strata token list)');
    await api.delete(`/api/v1/tokens/${encodeURIComponent(rest[0]!)}`);
    if (!flags.json) print(`revoked ${rest[0]}`);
    return ExitCode.ok;
  }
  usage(`strata token needs create, list or revoke${action ? `, not "${action}"` : ''}`);
}

const commands: Record<string, (api: ApiClient, args: string[], flags: Flags) => Promise<number>> = { build, status, events, jobs, partitions, token, deploy, pin, unpin, plugin, dag, schedule, backfill };

async function main(argv: string[]): Promise<number> {
  const { command, args, flags } = parseCommandLine(argv);
  if (flags.help || command === 'help' || command === undefined) {
    print(USAGE);
    return command === undefined && !flags.help ? ExitCode.usage : ExitCode.ok;
  }
  const run = commands[command];
  if (!run) usage(`unknown command "${command}"`);
  return run(connect(flags), args, flags);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof CliError)) throw err;
  process.stderr.write(`strata: ${err.message}\n`);
  process.exitCode = err.exitCode;
}
