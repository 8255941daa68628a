/**
 * `strata backfill create|status|cancel|retry [--wait]`: backfills through the REST API (/api/v1/backfills);
 * --wait draws the progress (done / building / failed / pending, rate and ETA) until it ends.
 */
import { FINISHED_BACKFILL_STATUSES, type BackfillStatus } from '../store/backfills.js';
import { ApiClient, CliError, ExitCode } from './client.js';
import { formatDuration } from './format.js';

export interface BackfillFlags {
  json: boolean;
  wait: boolean;
  team?: string;
  partition?: string[];
  from?: string;
  to?: string;
  step?: string;
  timezone?: string;
  mode?: string;
  concurrency?: number;
  order?: string;
  'dry-run': boolean;
}

interface BackfillView {
  backfillId: string;
  status: BackfillStatus;
  total: number;
  live: number;
  skipped: number;
  building: number;
  failed: number;
  pending: number;
  startedAt: string;
  etaSeconds: number | null;
  builds: string[];
  partitions: { partition: string; state: string }[];
}

const print = (text: string) => process.stdout.write(`${text}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));
const usage = (message: string): never => {
  throw new CliError(`${message}\nRun \`strata --help\` for usage.`, ExitCode.usage);
};
const backfillPath = (id: string) => `/api/v1/backfills/${encodeURIComponent(id)}`;

/** "backfill bf-… running: 120/500 done · 16 building · 2 failed · 362 pending · 8.1/s · ETA 46s" */
export function backfillProgress(b: BackfillView, nowMs = Date.now()): string {
  const done = b.live + b.skipped;
  const seconds = (nowMs - Date.parse(b.startedAt)) / 1000;
  const parts = [`${done}/${b.total} done`, `${b.building} building`, `${b.failed} failed`, `${b.pending} pending`];
  if (b.live > 0 && seconds > 0) parts.push(`${(b.live / seconds).toFixed(1)}/s`);
  if (b.etaSeconds !== null) parts.push(`ETA ${formatDuration(b.etaSeconds * 1000)}`);
  return `backfill ${b.backfillId} ${b.status}: ${parts.join(' · ')}`;
}

function describeBackfill(b: BackfillView): string {
  const lines = [backfillProgress(b), `  started ${b.startedAt}; builds: ${b.builds.join(' ') || '(none yet)'}`];
  const failed = b.partitions.filter((p) => p.state === 'failed');
  if (failed.length > 0) lines.push(`  failed: ${failed.map((p) => p.partition).join(' ')}${b.failed > failed.length ? ` (+${b.failed - failed.length})` : ''}; strata backfill retry ${b.backfillId} builds them again`);
  return lines.join('\n');
}

const exitFor = (status: BackfillStatus) => (status === 'completed' ? ExitCode.ok : ExitCode.failed);

/** Polls the backfill until it ends, one line rewritten on a terminal, a line per change otherwise. */
async function waitForBackfill(api: ApiClient, id: string, show: boolean): Promise<BackfillView> {
  const tty = process.stderr.isTTY;
  let last = '';
  for (;;) {
    const b = await api.get<BackfillView>(`${backfillPath(id)}?state=failed&limit=20`);
    const finished = FINISHED_BACKFILL_STATUSES.includes(b.status);
    if (show) {
      const line = backfillProgress(b);
      // The rate changes every poll; a line per change of the counts when it is not a terminal.
      const key = tty ? line : line.replace(/ · [\d.]+\/s.*$/, '');
      if (key !== last) {
        process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
        last = key;
      }
    }
    if (finished) {
      if (show && tty) process.stderr.write('\n');
      return b;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function started(api: ApiClient, backfillId: string, flags: Pick<BackfillFlags, 'json' | 'wait'>, what: string): Promise<number> {
  if (!flags.wait) {
    if (flags.json) printJson({ backfillId });
    else print(`${what} ${backfillId}; follow it with: strata backfill status ${backfillId} --wait`);
    return ExitCode.ok;
  }
  if (!flags.json) print(`${what} ${backfillId}`);
  const b = await waitForBackfill(api, backfillId, !flags.json);
  if (flags.json) printJson(b);
  else print(describeBackfill(b));
  return exitFor(b.status);
}

export async function backfill(api: ApiClient, args: string[], flags: BackfillFlags): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'create') {
    if (rest.length > 0 || !flags.partition || !flags.from || !flags.to) usage('strata backfill create needs --partition TEMPLATE (repeatable), --from and --to');
    // The request's optional fields, each spread in when given (the shape src/store/rows.ts's records are read with too): alike in form only.
    const body = {
      partitions: flags.partition,
      from: flags.from,
      to: flags.to,
      ...(flags.team ? { team: flags.team } : {}),
      ...(flags.step ? { step: flags.step } : {}),
      ...(flags.timezone ? { timezone: flags.timezone } : {}),
      ...(flags.mode ? { mode: flags.mode } : {}),
      ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
      ...(flags.order ? { order: flags.order } : {}),
      ...(flags['dry-run'] ? { dry_run: true } : {}),
    };
    const res = await api.post<{ backfillId: string } | { dryRun: true; total: number; skipped: number; partitions: string[] }>('/api/v1/backfills', body);
    if ('dryRun' in res) {
      if (flags.json) printJson(res);
      else print([`would build ${res.partitions.length} of ${res.total} partitions (${res.skipped} skipped):`, ...res.partitions.map((p) => `  ${p}`)].join('\n'));
      return ExitCode.ok;
    }
    return started(api, res.backfillId, flags, 'backfill');
  }
  if (action === 'status' || action === 'cancel' || action === 'retry') {
    if (rest.length !== 1) usage(`strata backfill ${action} needs one backfill id`);
    const id = rest[0]!;
    if (action === 'cancel') {
      await api.post(`${backfillPath(id)}/cancel`);
      if (!flags.wait) {
        if (flags.json) printJson({ backfillId: id, status: 'cancelling' });
        else print(`cancelling backfill ${id}: no new task starts; its running tasks are cancelled`);
        return ExitCode.ok;
      }
    }
    if (action === 'retry') return started(api, (await api.post<{ backfillId: string }>(`${backfillPath(id)}/retry`)).backfillId, flags, 'retrying the failed partitions of backfill');
    if (flags.wait) {
      const b = await waitForBackfill(api, id, !flags.json);
      if (flags.json) printJson(b);
      else print(describeBackfill(b));
      return exitFor(b.status);
    }
    const b = await api.get<BackfillView>(`${backfillPath(id)}?state=failed&limit=20`);
    if (flags.json) printJson(b);
    else print(describeBackfill(b));
    return ExitCode.ok;
  }
  return usage(`strata backfill needs create, status, cancel or retry${action ? `, not "${action}"` : ''}`);
}
