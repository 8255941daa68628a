/**
 * Partition refs and the patterns jobs declare. A ref is `dataset/path/key=value/key2=value2`; a pattern
 * is the same with `{var}` in place of values (`sales/region={region}/date={date}`) and may fix some
 * dimensions (`clean/region=eu/date={date}`). Pure: used by the planner, the API and workflows.
 */

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const VALUE = /^[A-Za-z0-9_.:+@-]+$/;
const VAR = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Why `ref` is not a valid partition ref, or undefined when it is. */
export function partitionRefProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'is empty';
  if (ref.length > 512) return 'is longer than 512 characters';
  for (const segment of ref.split('/')) {
    if (segment === '') return 'has an empty path segment';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
    const eq = segment.indexOf('=');
    if (eq === -1) {
      if (!NAME.test(segment)) return `has an invalid segment "${segment}" (letters, digits, "_", "." and "-" only)`;
    } else {
      const key = segment.slice(0, eq);
      const value = segment.slice(eq + 1);
      if (!NAME.test(key)) return `has an invalid key "${key}" in "${segment}"`;
      if (!VALUE.test(value)) return `has an invalid value "${value}" in "${segment}" (letters, digits and "_.:+@-" only)`;
    }
  }
  return undefined;
}

/** The refs partitionRefProblem accepts (up to 512 characters), as one regular expression for the OpenAPI document. */
const SEGMENT = '[A-Za-z0-9_][A-Za-z0-9_.-]*(=[A-Za-z0-9_.:+@-]+)?';
export const PARTITION_REF_PATTERN = `^${SEGMENT}(/${SEGMENT})*$`;

export function isPartitionRef(ref: string): boolean {
  return partitionRefProblem(ref) === undefined;
}

/** Whether `value` may stand after `key=` in a partition ref. */
export function isPartitionValue(value: string): boolean {
  return VALUE.test(value);
}

type Segment = { kind: 'literal'; text: string } | { kind: 'var'; key: string; name: string };

export interface PartitionPattern {
  readonly source: string;
  readonly segments: readonly Segment[];
  /** Variable names in order of first appearance. */
  readonly vars: readonly string[];
}

export class PatternError extends Error {}

export function parsePattern(source: string): PartitionPattern {
  if (source.length === 0) throw new PatternError('is empty');
  const segments: Segment[] = [];
  const vars: string[] = [];
  for (const segment of source.split('/')) {
    const eq = segment.indexOf('=');
    const value = eq === -1 ? '' : segment.slice(eq + 1);
    const varMatch = VAR.exec(value);
    if (varMatch) {
      const key = segment.slice(0, eq);
      if (!NAME.test(key)) throw new PatternError(`has an invalid key "${key}" in "${segment}"`);
      const name = varMatch[1]!;
      if (!vars.includes(name)) vars.push(name);
      segments.push({ kind: 'var', key, name });
    } else {
      if (segment.includes('{') || segment.includes('}'))
        throw new PatternError(`has "${segment}": a variable must be a whole value, as in "key={name}"`);
      segments.push({ kind: 'literal', text: segment });
    }
  }
  const problem = partitionRefProblem(instantiate({ source, segments, vars }, Object.fromEntries(vars.map((v) => [v, 'x']))));
  if (problem) throw new PatternError(problem);
  return { source, segments, vars };
}

/** The variable bindings under which `pattern` produces `ref`, or undefined when it does not. */
export function matchPattern(pattern: PartitionPattern, ref: string): Record<string, string> | undefined {
  const parts = ref.split('/');
  if (parts.length !== pattern.segments.length) return undefined;
  const bindings: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const seg = pattern.segments[i]!;
    const part = parts[i]!;
    if (seg.kind === 'literal') {
      if (seg.text !== part) return undefined;
      continue;
    }
    const prefix = `${seg.key}=`;
    if (!part.startsWith(prefix) || part.length === prefix.length) return undefined;
    const value = part.slice(prefix.length);
    const bound = bindings[seg.name];
    if (bound !== undefined && bound !== value) return undefined;
    bindings[seg.name] = value;
  }
  return bindings;
}

/** The ref `pattern` produces under `bindings`; every variable of the pattern must be bound. */
export function instantiate(pattern: PartitionPattern, bindings: Record<string, string>): string {
  return pattern.segments
    .map((seg) => {
      if (seg.kind === 'literal') return seg.text;
      const value = bindings[seg.name];
      if (value === undefined) throw new PatternError(`variable {${seg.name}} of "${pattern.source}" is not bound`);
      return `${seg.key}=${value}`;
    })
    .join('/');
}

/** Replaces every `{var}` in `text` from `bindings`; unknown variables are left as they are. */
export function substitute(text: string, bindings: Record<string, string>): string {
  return text.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => bindings[name] ?? whole);
}

/**
 * A job's exec for a task's outputs: an argument with variables becomes one argument per distinct value
 * it takes over the outputs, in their order, so a task of several partitions (a backfill's group) gets
 * them all (`--date={date}` → `--date=2026-01-01 --date=2026-01-02`); a task of one partition, one each.
 */
export function execArgv(exec: readonly string[], bindings: readonly Record<string, string>[]): string[] {
  return exec.flatMap((arg) => {
    if (varsIn(arg).length === 0) return [arg];
    return [...new Set((bindings.length > 0 ? bindings : [{}]).map((b) => substitute(arg, b)))];
  });
}

/** Variables `{name}` used in a piece of text (an exec argument). */
export function varsIn(text: string): string[] {
  return [...text.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);
}

/** Key of the first literal segment: lets the planner find candidate producers without trying every pattern. */
export function firstSegment(refOrPattern: string): string {
  const slash = refOrPattern.indexOf('/');
  return slash === -1 ? refOrPattern : refOrPattern.slice(0, slash);
}
