/**
 * `strata schedule …`: schedules through the REST API (/api/v1/schedules). A definition comes from flags or
 * from a YAML or JSON file holding the API's body (`-f`); the API validates it and its refusal is exit 2.
 */
import fs from 'node:fs';
import { parseYamlFile } from '../engine/yaml.js';
import { started } from './backfill.js';
import { ApiClient, CliError, ExitCode } from './client.js';
import { formatTable } from './format.js';

export interface ScheduleFlags {
  json: boolean;
  team?: string;
  name?: string;
  file?: string;
  partition?: string[];
  cron?: string;
  every?: string;
  timezone?: string;
  overlap?: string;
  'catchup-window'?: string;
  'pause-on-failure'?: boolean;
  jitter?: string;
  concurrency?: number;
  lookback?: number;
  deadline?: string;
  note?: string;
  /** strata schedule backfill */
  from?: string;
  to?: string;
  mode?: string;
  wait?: boolean;
  'dry-run'?: boolean;
}

/** A definition as the API shows it (src/engine/scheduleDefinition.ts). */
interface Definition {
  partitions: string[];
  cron?: string;
  every?: string;
  timezone: string;
  overlap: string;
  catchup_window: string;
  pause_on_failure: boolean;
  jitter?: string;
  concurrency?: number;
  lookback: number;
  deadline?: string;
}

interface ScheduleView {
  id: string;
  team: string;
  name: string;
  definition: Definition;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

interface ScheduleDetail extends ScheduleView {
  paused: boolean;
  note: string | null;
  next: { at: string; local: string; partitions: string[] }[];
  recent: { scheduledAt: string; buildId: string | null; status: string; skippedBecause?: string }[];
  skippedOverlap: number;
}

const print = (text: string) => process.stdout.write(`${text}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));
const usage = (message: string): never => {
  throw new CliError(`${message}\nRun \`strata --help\` for usage.`, ExitCode.usage);
};

/** The definition's fields the flags give, in the API's names. */
function fromFlags(flags: ScheduleFlags): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    partitions: flags.partition,
    cron: flags.cron,
    every: flags.every,
    timezone: flags.timezone,
    overlap: flags.overlap,
    catchup_window: flags['catchup-window'],
    pause_on_failure: flags['pause-on-failure'],
    jitter: flags.jitter,
    concurrency: flags.concurrency,
    lookback: flags.lookback,
    deadline: flags.deadline,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** The body in `-f file` (YAML or JSON, the API's fields), with the flags given on top of it. */
function readBody(flags: ScheduleFlags): Record<string, unknown> {
  let body: Record<string, unknown> = {};
  if (flags.file) {
    let text: string;
    try {
      text = fs.readFileSync(flags.file, 'utf8');
    } catch (err) {
      return usage(`cannot read ${flags.file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYamlFile(flags.file, text); // JSON is YAML too
    } catch (err) {
      return usage((err as Error).message);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) usage(`${flags.file}: must hold a schedule (a mapping of its fields)`);
    body = { ...(parsed as Record<string, unknown>) };
  }
  if (flags.team) body.team = flags.team;
  if (flags.name) body.name = flags.name;
  const given = fromFlags(flags);
  // One of cron and every: the one given on the command line replaces the file's.
  if (given.cron !== undefined) delete body.every;
  if (given.every !== undefined) delete body.cron;
  return { ...body, ...given };
}

/** `<team>/<name>` as an argument, or --team and --name. */
function scheduleRef(args: string[], flags: ScheduleFlags, command: string): { team: string; name: string } {
  const [ref, ...extra] = args;
  if (extra.length > 0) usage(`strata schedule ${command} takes one schedule, <team>/<name>`);
  if (ref !== undefined) {
    const [team, name, ...rest] = ref.split('/');
    if (!team || !name || rest.length > 0) usage(`strata schedule ${command}: "${ref}" is not <team>/<name>`);
    return { team: team!, name: name! };
  }
  if (!flags.team || !flags.name) usage(`strata schedule ${command} needs <team>/<name> (or --team and --name)`);
  return { team: flags.team!, name: flags.name! };
}

const schedulePath = (ref: { team: string; name: string }) => `/api/v1/schedules/${encodeURIComponent(ref.team)}/${encodeURIComponent(ref.name)}`;

/** "cron 30 0 * * *" or "every 2s", with the zone. */
const when = (d: Definition) => `${d.cron !== undefined ? `cron "${d.cron}"` : `every ${d.every}`} in ${d.timezone}`;

function describeDefinition(d: Definition): string[] {
  const policies = [
    `overlap ${d.overlap}`,
    `catch-up window ${d.catchup_window}`,
    `pause on failure ${d.pause_on_failure ? 'yes' : 'no'}`,
    `lookback ${d.lookback}`,
    ...(d.jitter !== undefined ? [`jitter ${d.jitter}`] : []),
    ...(d.concurrency !== undefined ? [`concurrency ${d.concurrency}`] : []),
    ...(d.deadline !== undefined ? [`deadline ${d.deadline}`] : []),
  ];
  return [`  ${when(d)}`, `  ${policies.join(', ')}`, `  partitions: ${d.partitions.join(' ')}`];
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

export function describeSchedule(s: ScheduleDetail): string {
  const lines = [
    `schedule ${s.id}: ${s.paused ? `paused${s.note ? ` (${s.note})` : ''}` : 'active'}`,
    ...describeDefinition(s.definition),
    `  created by ${s.createdBy} at ${s.createdAt}, changed ${s.updatedAt}`,
  ];
  if (s.skippedOverlap > 0) lines.push(`  ${s.skippedOverlap} tick(s) skipped because the previous one was still running (overlap ${s.definition.overlap})`);
  lines.push('  next ticks:');
  if (s.next.length === 0) lines.push('    (none)');
  else lines.push(indent(formatTable(['LOCAL TIME', 'UTC', 'PARTITIONS'], s.next.map((t) => [t.local, t.at, t.partitions.join(' ')]))));
  lines.push('  recent runs:');
  if (s.recent.length === 0) lines.push('    (none yet)');
  else lines.push(indent(formatTable(['SCHEDULED AT', 'BUILD', 'STATUS'], s.recent.map((r) => [r.scheduledAt, r.buildId ?? '-', r.skippedBecause ? `skipped (${r.skippedBecause} was running)` : r.status]))));
  return lines.join('\n');
}

export async function schedule(api: ApiClient, args: string[], flags: ScheduleFlags): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'create') {
    if (rest.length > 0) usage('strata schedule create takes no arguments: give --name, --partition and --cron or --every, or -f <file>');
    const created = await api.post<ScheduleView>('/api/v1/schedules', readBody(flags));
    if (flags.json) printJson(created);
    else print(`created schedule ${created.id}: ${when(created.definition)}, builds ${created.definition.partitions.join(' ')}; see its next ticks with: strata schedule show ${created.id}`);
    return ExitCode.ok;
  }
  if (action === 'update') {
    const body = readBody(flags);
    const { team, name, ...definition } = body;
    const ref = scheduleRef(rest, { ...flags, team: typeof team === 'string' ? team : undefined, name: typeof name === 'string' ? name : undefined }, 'update');
    // From flags alone, what they do not say stays as it is; a file is the whole definition (PUT replaces it).
    const current = flags.file ? {} : (await api.get<ScheduleDetail>(schedulePath(ref))).definition;
    const merged: Record<string, unknown> = { ...current, ...definition };
    if (!flags.file && definition.cron !== undefined) delete merged.every;
    if (!flags.file && definition.every !== undefined) delete merged.cron;
    const updated = await api.put<ScheduleView>(schedulePath(ref), merged);
    if (flags.json) printJson(updated);
    else print(`updated schedule ${updated.id}: ${when(updated.definition)}, builds ${updated.definition.partitions.join(' ')}`);
    return ExitCode.ok;
  }
  if (action === 'list') {
    if (rest.length > 0) usage('strata schedule list takes no arguments');
    const listed = await api.get<{ schedules: ScheduleView[] }>('/api/v1/schedules');
    if (flags.json) printJson(listed);
    else if (listed.schedules.length === 0) print('(no schedules)');
    else print(formatTable(['SCHEDULE', 'WHEN', 'PARTITIONS', 'UPDATED'], listed.schedules.map((s) => [s.id, when(s.definition), s.definition.partitions.join(' '), s.updatedAt])));
    return ExitCode.ok;
  }
  if (action === 'show') {
    const detail = await api.get<ScheduleDetail>(schedulePath(scheduleRef(rest, flags, 'show')));
    if (flags.json) printJson(detail);
    else print(describeSchedule(detail));
    return ExitCode.ok;
  }
  if (action === 'pause' || action === 'unpause') {
    const ref = scheduleRef(rest, flags, action);
    await api.post(`${schedulePath(ref)}/${action}`, flags.note !== undefined ? { note: flags.note } : {});
    if (flags.json) printJson({ id: `${ref.team}/${ref.name}`, paused: action === 'pause' });
    else print(action === 'pause' ? `paused schedule ${ref.team}/${ref.name}: no tick starts until strata schedule unpause` : `unpaused schedule ${ref.team}/${ref.name}`);
    return ExitCode.ok;
  }
  if (action === 'trigger') {
    const ref = scheduleRef(rest, flags, 'trigger');
    await api.post(`${schedulePath(ref)}/trigger`, flags.overlap !== undefined ? { overlap: flags.overlap } : {});
    if (flags.json) printJson({ id: `${ref.team}/${ref.name}`, triggered: true });
    else print(`triggered schedule ${ref.team}/${ref.name}: a tick starts now; see it with: strata schedule show ${ref.team}/${ref.name}`);
    return ExitCode.ok;
  }
  if (action === 'backfill') {
    const ref = scheduleRef(rest, flags, 'backfill');
    if (!flags.from || !flags.to) usage('strata schedule backfill needs --from and --to (dates or local times in the schedule\'s zone, both ends inclusive)');
    const body = { from: flags.from, to: flags.to, ...(flags.mode ? { mode: flags.mode } : {}), ...(flags['dry-run'] ? { dry_run: true } : {}) };
    const res = await api.post<{ backfillId: string } | { dryRun: true; total: number; skipped: number; partitions: string[] }>(`${schedulePath(ref)}/backfill`, body);
    if ('dryRun' in res) {
      if (flags.json) printJson(res);
      else print([`would build ${res.partitions.length} of ${res.total} partitions (${res.skipped} skipped):`, ...res.partitions.map((p) => `  ${p}`)].join('\n'));
      return ExitCode.ok;
    }
    return started(api, res.backfillId, { json: flags.json, wait: flags.wait ?? false }, `backfill of schedule ${ref.team}/${ref.name}:`);
  }
  if (action === 'delete') {
    const ref = scheduleRef(rest, flags, 'delete');
    await api.delete(schedulePath(ref));
    if (flags.json) printJson({ id: `${ref.team}/${ref.name}`, deleted: true });
    else print(`deleted schedule ${ref.team}/${ref.name}`);
    return ExitCode.ok;
  }
  return usage(`strata schedule needs create, list, show, update, pause, unpause, trigger, backfill or delete${action ? `, not "${action}"` : ''}`);
}
