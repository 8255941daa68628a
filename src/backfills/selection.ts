/**
 * Which partitions a backfill names and which of them it builds: its templates enumerated over its range
 * (src/engine/timeTemplates.ts), then, by mode, against the catalog. Shared by the API (dry runs and
 * checks before anything starts) and the backfill's selection activity.
 */
import { enumerateTemplate, TemplateError } from '../engine/timeTemplates.js';
import type { BackfillSpec } from '../store/backfills.js';
import type { Store } from '../store/store.js';

/** The most partitions one backfill may name. */
export const MAX_BACKFILL_PARTITIONS = 100_000;

/**
 * Every partition the spec's templates name over its range, in time order (the templates' k-th steps
 * side by side), each once, newest first when the spec says so. Throws the TemplateError of a bad input.
 */
export function backfillPartitions(spec: Pick<BackfillSpec, 'partitions' | 'from' | 'to' | 'step' | 'timezone' | 'order'>): string[] {
  const lists = spec.partitions.map((template) =>
    enumerateTemplate(template, { from: spec.from, to: spec.to, zone: spec.timezone, limit: MAX_BACKFILL_PARTITIONS, ...(spec.step !== undefined ? { step: spec.step } : {}) }),
  );
  const refs = new Set<string>();
  const longest = Math.max(...lists.map((l) => l.length));
  for (let k = 0; k < longest; k++) for (const list of lists) if (k < list.length) refs.add(list[k]!);
  if (refs.size > MAX_BACKFILL_PARTITIONS) throw new TemplateError('to', `the templates name ${refs.size} partitions over this range; a backfill takes at most ${MAX_BACKFILL_PARTITIONS}`);
  const ordered = [...refs];
  return spec.order === 'newest' ? ordered.reverse() : ordered;
}

/** Whether the backfill builds each partition: `missing` what is not live, `failed` what failed last, `all` everything. */
export async function selectPartitions(store: Store, refs: string[], mode: BackfillSpec['mode']): Promise<boolean[]> {
  if (mode === 'all') return refs.map(() => true);
  const selected: boolean[] = [];
  for (let i = 0; i < refs.length; i += 1000) {
    const page = refs.slice(i, i + 1000);
    const catalog = await store.getPartitions(page);
    for (const ref of page) {
      const status = catalog.get(ref)?.status;
      selected.push(mode === 'missing' ? status !== 'live' : status === 'failed');
    }
  }
  return selected;
}
