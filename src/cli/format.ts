/** How the CLI shows builds, events and tables to a person. */
import type { BuildDetail } from '../api/builds.js';

export interface BuildEventView {
  eventId: number;
  buildId: string;
  timestampMs: number;
  type: string;
  job: string;
  taskId: string;
  partitions: string[];
  payload: Record<string, unknown>;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return minutes < 60 ? `${minutes}m${String(seconds).padStart(2, '0')}s` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** "build X executing: 3/10 done · 2 running · 1 failed · 4 waiting" */
export function progressLine(build: BuildDetail): string {
  const c = build.taskCounts;
  const done = c.succeeded + c.delegated + c.skipped;
  const parts = [`${done}/${c.total} done`, `${c.running} running`, `${c.failed} failed`];
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  const waiting = c.pending + c.scheduled;
  if (waiting) parts.push(`${waiting} waiting`);
  return `build ${build.buildId} ${build.status}: ${build.status === 'planning' ? 'planning' : parts.join(' · ')}`;
}

const TASK_ROWS = 25;

export function describeBuild(build: BuildDetail): string {
  const lines = [
    `build ${build.buildId}: ${build.status}${build.team ? ` (team ${build.team})` : ''}`,
    `  created ${build.createdAt}, last change ${build.updatedAt}; Temporal workflow ${build.workflowId}`,
  ];
  if (build.failure) lines.push(`  failure (${build.failure.kind} error, ${build.failure.type}): ${build.failure.message}`);
  lines.push('  partitions:');
  for (const p of build.partitions) lines.push(`    ${p.partition}  ${p.status}`);
  const c = build.taskCounts;
  lines.push(`  tasks: ${progressLine(build).replace(/^[^:]*: /, '')}`);
  if (build.tasks.length > 0) {
    // What needs attention first; a 10,000-task build shows its first rows only (--json has them all).
    const order = ['failed', 'running', 'cancelled', 'scheduled', 'delegated', 'pending', 'succeeded', 'skipped'];
    const shown = [...build.tasks].sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status)).slice(0, TASK_ROWS);
    const rows = shown.map((t) => [
      t.job,
      t.status + (t.skippedBecause ? ` (by ${t.skippedBecause.buildId})` : t.delegatedToBuild ? ` (to ${t.delegatedToBuild})` : ''),
      String(t.attempts),
      t.startedAt && t.endedAt ? formatDuration(Date.parse(t.endedAt) - Date.parse(t.startedAt)) : t.startedAt ? 'running' : '',
      t.partitions.join(' '),
    ]);
    lines.push(
      formatTable(['JOB', 'STATUS', 'ATTEMPTS', 'TOOK', 'PARTITIONS'], rows)
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n'),
    );
    if (c.total > shown.length) lines.push(`    (${c.total - shown.length} more tasks: strata status ${build.buildId} --json lists them all)`);
  }
  return lines.join('\n');
}

export function describeEvent(event: BuildEventView): string {
  const time = new Date(event.timestampMs).toISOString().slice(11, 23);
  const shown = event.partitions.slice(0, 2).join(',') + (event.partitions.length > 2 ? ` +${event.partitions.length - 2}` : '');
  const p = event.payload;
  const failure = p.failure as { type?: string; message?: string } | undefined;
  const detail = failure?.message
    ? `${failure.type}: ${failure.message}`
    : typeof p.reason === 'string'
      ? p.reason
      : compact(p);
  return [time, event.type.padEnd(22), event.job || '-', shown || '-', detail].join('  ').trimEnd();
}

function compact(payload: Record<string, unknown>): string {
  const text = Object.entries(payload)
    .filter(([, v]) => v !== '' && v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0) && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
