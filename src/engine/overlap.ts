/**
 * Output ownership: whether two output patterns can produce the same partition, and which jobs of other
 * teams a job collides with (by name, or by an output another team's job can produce). Pure: used by the
 * job repository at load, the deployments API and the deploy pipeline's validate and record steps.
 */
import { isPartitionValue, type PartitionPattern } from './partitions.js';

/** A job's variable constraints (job.yaml `vars`): a regular expression each value must match (RegExp.test). */
export type VarConstraints = Readonly<Record<string, RegExp | string>>;

export interface ConstrainedPattern {
  pattern: PartitionPattern;
  vars: VarConstraints;
}

/**
 * Whether some partition ref matches both patterns (as matchPattern matches) with values each job's
 * `vars` accept. Same depth, equal literal segments, the same key where either side has a variable, a
 * fixed value only against a variable whose regex accepts it, and variables bound together (one partition
 * gives them one value) only when their regexes can share a value. Two regexes are known disjoint only
 * when one is an anchored alternation of literals (`^(eu|us)$`) none of whose values the others accept;
 * any other pair is taken to overlap (conservative: a false overlap refuses a deployment, a missed one
 * breaks another team's builds).
 */
export function patternsOverlap(a: ConstrainedPattern, b: ConstrainedPattern): boolean {
  const sa = a.pattern.segments;
  const sb = b.pattern.segments;
  if (sa.length !== sb.length) return false;
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!;
    return root;
  };
  const union = (x: string, y: string) => {
    parent.set(x, find(x));
    parent.set(y, find(y));
    parent.set(find(x), find(y));
  };
  const fixed: [string, string][] = [];
  /** A fixed `key=value` segment against a variable segment: false when it can never match. */
  const fix = (id: string, key: string, text: string) => {
    const prefix = `${key}=`;
    fixed.push([id, text.slice(prefix.length)]);
    return text.startsWith(prefix) && text.length > prefix.length;
  };
  for (let i = 0; i < sa.length; i++) {
    const x = sa[i]!;
    const y = sb[i]!;
    if (x.kind === 'literal' && y.kind === 'literal') {
      if (x.text !== y.text) return false;
    } else if (x.kind === 'var' && y.kind === 'var') {
      if (x.key !== y.key) return false;
      union(`a.${x.name}`, `b.${y.name}`);
    } else if (x.kind === 'var' && y.kind === 'literal') {
      if (!fix(`a.${x.name}`, x.key, y.text)) return false;
    } else if (x.kind === 'literal' && y.kind === 'var') {
      if (!fix(`b.${y.name}`, y.key, x.text)) return false;
    }
  }

  // One class per set of variables a partition binds to one value: its fixed values and its regexes.
  const classes = new Map<string, { values: Set<string>; regexes: RegExp[] }>();
  const classOf = (id: string) => {
    const root = find(id);
    const c = classes.get(root) ?? { values: new Set<string>(), regexes: [] };
    classes.set(root, c);
    return c;
  };
  for (const [side, p, vars] of [['a', a.pattern, a.vars], ['b', b.pattern, b.vars]] as const)
    for (const name of p.vars) {
      const c = classOf(`${side}.${name}`);
      const regex = vars[name];
      if (regex !== undefined) c.regexes.push(typeof regex === 'string' ? new RegExp(regex) : regex);
    }
  for (const [id, value] of fixed) classOf(id).values.add(value);

  for (const { values, regexes } of classes.values()) {
    if (values.size > 1) return false;
    const finite = regexes.map(literalAlternatives).filter((s): s is string[] => s !== undefined);
    const candidates = values.size === 1 ? [...values] : finite.sort((x, y) => x.length - y.length)[0];
    if (candidates === undefined) continue; // cannot prove these regexes disjoint
    if (!candidates.some((v) => isPartitionValue(v) && regexes.every((r) => r.test(v)))) return false;
  }
  return true;
}

/** The values an anchored alternation of literals (`^eu$`, `^(eu|us)$`, `^(?:eu|us)$`) accepts, or undefined for any other regex. */
export function literalAlternatives(regex: RegExp): string[] | undefined {
  if (regex.flags !== '') return undefined;
  const m = /^\^(?:\((?:\?:)?([^()]*)\)|([^()|]*))\$$/.exec(regex.source);
  if (!m) return undefined;
  const alternatives = (m[1] ?? m[2]!).split('|');
  if (!alternatives.every((alt) => /^(?:[A-Za-z0-9_:@=,-]|\\[.+:@=,-])*$/.test(alt))) return undefined;
  return alternatives.map((alt) => alt.replace(/\\/g, ''));
}

/** A job as ownership sees it. JobDefinition is one. */
export interface OwnedJob {
  name: string;
  team: string;
  outputs: readonly PartitionPattern[];
  vars: VarConstraints;
}

/** How a job collides with one job of another team. */
export interface OwnershipConflict {
  job: string;
  team: string;
  /** Whether the other job has the same name. */
  sameName: boolean;
  /** Each pair of overlapping outputs: this job's pattern and the other job's. */
  overlaps: { pattern: string; theirs: string }[];
}

/** The jobs of other teams among `others` that `job` collides with, by name or by outputs. Jobs of its own team never conflict here. */
export function ownershipConflicts(job: OwnedJob, others: Iterable<OwnedJob>): OwnershipConflict[] {
  const conflicts: OwnershipConflict[] = [];
  for (const other of others) {
    if (other.team === job.team) continue;
    const overlaps = job.outputs.flatMap((mine) =>
      other.outputs
        .filter((theirs) => patternsOverlap({ pattern: mine, vars: job.vars }, { pattern: theirs, vars: other.vars }))
        .map((theirs) => ({ pattern: mine.source, theirs: theirs.source })),
    );
    const sameName = other.name === job.name;
    if (sameName || overlaps.length > 0) conflicts.push({ job: other.name, team: other.team, sameName, overlaps });
  }
  return conflicts;
}

/** One line per conflict: whose job, and which patterns overlap. */
export function describeConflicts(conflicts: readonly OwnershipConflict[]): string {
  return conflicts
    .map((c) => {
      const name = c.sameName ? `the name "${c.job}" belongs to team ${c.team}` : '';
      const pairs = c.overlaps.map((o) => `"${o.pattern}" overlaps "${o.theirs}"`).join(', ');
      const outputs = pairs ? `its outputs can produce partitions of team ${c.team}'s job "${c.job}": ${pairs}` : '';
      return [name, outputs].filter(Boolean).join('; ');
    })
    .join('; ');
}
