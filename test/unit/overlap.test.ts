import { matchPattern, parsePattern } from '../../src/engine/partitions.js';
import { describeConflicts, literalAlternatives, ownershipConflicts, patternsOverlap } from '../../src/engine/overlap.js';

const out = (pattern: string, vars: Record<string, string> = {}) => ({ pattern: parsePattern(pattern), vars });
const overlap = (a: string, b: string, va: Record<string, string> = {}, vb: Record<string, string> = {}) => [
  patternsOverlap(out(a, va), out(b, vb)),
  patternsOverlap(out(b, vb), out(a, va)),
];

describe('patternsOverlap', () => {
  test.each([
    ['the same pattern', 'sales/region={region}/date={date}', 'sales/region={region}/date={date}'],
    ['other variable names', 'sales/region={region}/date={date}', 'sales/region={r}/date={d}'],
    ['a fixed dimension the other leaves open', 'sales/region={region}/date={date}', 'sales/region=eu/date={date}'],
    ['the same fixed partition', 'fx/date=2026-01-01', 'fx/date=2026-01-01'],
    ['fixed on different dimensions', 'x/a=1/b={b}', 'x/a={a}/b=2'],
    ['a variable used twice against distinct variables', 'x/a={v}/b={v}', 'x/a={p}/b={q}'],
  ])('%s overlap', (_what, a, b) => {
    expect(overlap(a, b)).toEqual([true, true]);
  });

  test.each([
    ['another dataset', 'sales/region={region}/date={date}', 'orders/region={region}/date={date}'],
    ['another key', 'sales/region={region}/date={date}', 'sales/country={region}/date={date}'],
    ['another depth', 'sales/region={region}', 'sales/region={region}/date={date}'],
    ['dimensions in another order', 'x/a={a}/b={b}', 'x/b={b}/a={a}'],
    ['different fixed values', 'clean/region=eu/date={date}', 'clean/region=us/date={date}'],
    ['a literal path segment against a dimension', 'x/daily/d={d}', 'x/region={r}/d={d}'],
    ['a variable used twice against two different fixed values', 'x/a={v}/b={v}', 'x/a=1/b=2'],
  ])('%s do not overlap', (_what, a, b) => {
    expect(overlap(a, b)).toEqual([false, false]);
  });

  test('a fixed value overlaps a variable only when its vars regex accepts it', () => {
    expect(overlap('x/k={a}', 'x/k=eu', { a: '^(eu|us)$' })).toEqual([true, true]);
    expect(overlap('x/k={a}', 'x/k=apac', { a: '^(eu|us)$' })).toEqual([false, false]);
    expect(overlap('x/d={d}', 'x/d=2026-11-01', { d: '^\\d{4}-\\d{2}-\\d{2}$' })).toEqual([true, true]);
    expect(overlap('x/d={d}', 'x/d=yesterday', { d: '^\\d{4}-\\d{2}-\\d{2}$' })).toEqual([false, false]);
  });

  test('alternations of literals are compared exactly', () => {
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^(eu|us)$' }, { b: '^(apac)$' })).toEqual([false, false]);
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^(eu|us)$' }, { b: '^(?:us|apac)$' })).toEqual([true, true]);
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^eu$' }, { b: '^(eu)$' })).toEqual([true, true]);
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^(v1\\.0|v2)$' }, { b: '^(v1.0)$' })).toEqual([true, true]);
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^(v1\\.0)$' }, { b: '^(v1x0)$' })).toEqual([false, false]);
  });

  test('an alternation against any other regex: its values are tried', () => {
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^(eu|us)$' }, { b: '^[a-z]{4}$' })).toEqual([false, false]);
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^(eu|apac)$' }, { b: '^[a-z]{4}$' })).toEqual([true, true]);
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^(eu|us)$' })).toEqual([true, true]);
  });

  test('two regexes that are not alternations of literals are taken to overlap', () => {
    expect(overlap('x/k={a}', 'x/k={b}', { a: '^\\d+$' }, { b: '^[a-z]+$' })).toEqual([true, true]);
  });

  test('every dimension must be satisfiable at once', () => {
    // region overlaps, but the dates never do.
    expect(overlap('s/region={r}/date={d}', 's/region={r}/date={d}', { d: '^(2026-01-01)$' }, { d: '^(2025-01-01)$' })).toEqual([false, false]);
    // One variable at two places binds one value: "eu" at a and "us" at b cannot both be it.
    expect(overlap('x/a={v}/b={v}', 'x/a={p}/b={q}', {}, { p: '^(eu)$', q: '^(us)$' })).toEqual([false, false]);
  });
});

test('literalAlternatives recognises only anchored alternations of plain literals', () => {
  expect(literalAlternatives(/^(eu|us)$/)).toEqual(['eu', 'us']);
  expect(literalAlternatives(/^(?:eu|us)$/)).toEqual(['eu', 'us']);
  expect(literalAlternatives(/^eu$/)).toEqual(['eu']);
  expect(literalAlternatives(/^(v1\.0)$/)).toEqual(['v1.0']);
  expect(literalAlternatives(/eu|us/)).toBeUndefined(); // unanchored: "xeu" matches too
  expect(literalAlternatives(/^eu|us$/)).toBeUndefined(); // (^eu)|(us$)
  expect(literalAlternatives(/^(eu.)$/)).toBeUndefined();
  expect(literalAlternatives(/^(eu|us)$/i)).toBeUndefined();
  expect(literalAlternatives(/^\d+$/)).toBeUndefined();
});

describe('ownershipConflicts', () => {
  const job = (name: string, team: string, outputs: string[], vars: Record<string, string> = {}) => ({ name, team, outputs: outputs.map((o) => parsePattern(o)), vars });
  const owner = [job('daily-report', 'sales', ['reports/daily/region={region}/date={date}']), job('region-sales', 'sales', ['sales/region={region}/date={date}'])];

  test("another team's job of the same name is a conflict, whatever the outputs", () => {
    const conflicts = ownershipConflicts(job('daily-report', 'intruders', ['mine/d={d}']), owner);
    expect(conflicts).toEqual([{ job: 'daily-report', team: 'sales', sameName: true, overlaps: [] }]);
    expect(describeConflicts(conflicts)).toBe('the name "daily-report" belongs to team sales');
  });

  test('outputs that can produce partitions of another team are named pattern by pattern', () => {
    const conflicts = ownershipConflicts(job('eu-sales', 'intruders', ['mine/d={d}', 'sales/region=eu/date={date}']), owner);
    expect(conflicts).toEqual([{ job: 'region-sales', team: 'sales', sameName: false, overlaps: [{ pattern: 'sales/region=eu/date={date}', theirs: 'sales/region={region}/date={date}' }] }]);
    expect(describeConflicts(conflicts)).toBe(
      `its outputs can produce partitions of team sales's job "region-sales": "sales/region=eu/date={date}" overlaps "sales/region={region}/date={date}"`,
    );
  });

  test("a team's own jobs, and disjoint outputs, are no conflict", () => {
    expect(ownershipConflicts(job('daily-report', 'sales', ['sales/region={region}/date={date}']), owner)).toEqual([]);
    expect(ownershipConflicts(job('apac-sales', 'intruders', ['sales/region=apac/date={date}']), [job('region-sales', 'sales', ['sales/region={r}/date={d}'], { r: '^(eu|us)$' })])).toEqual([]);
  });
});

test('agrees with matchPattern and the vars on every partition of a small universe', () => {
  // Patterns of up to 3 segments over keys a and b, fixed values or variables, vars of literal
  // alternations (where patternsOverlap is exact): an overlap exists iff some ref of the universe is
  // matched by both patterns with values both jobs' vars accept.
  const values = ['eu', 'us', 'apac', 'zz'];
  const regexes = [undefined, '^(eu|us)$', '^(apac)$', '^(us|apac)$'];
  let seed = 42;
  const pick = <T>(xs: readonly T[]): T => xs[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % xs.length]!;
  const random = () => {
    const depth = pick([1, 2, 3]);
    const segs = Array.from({ length: depth }, () => `${pick(['a', 'b'])}=${pick(['{v}', '{w}', 'eu', 'us'])}`);
    const pattern = parsePattern(['x', ...segs].join('/'));
    const vars = Object.fromEntries(pattern.vars.flatMap((v) => { const r = pick(regexes); return r ? [[v, r]] : []; }));
    return { pattern, vars };
  };
  const refs = (depth: number): string[] => {
    if (depth === 0) return ['x'];
    return refs(depth - 1).flatMap((r) => ['a', 'b'].flatMap((k) => values.map((v) => `${r}/${k}=${v}`)));
  };
  const accepts = (p: ReturnType<typeof random>, ref: string) => {
    const bindings = matchPattern(p.pattern, ref);
    return bindings !== undefined && Object.entries(p.vars).every(([v, r]) => new RegExp(r).test(bindings[v]!));
  };
  let overlapping = 0;
  for (let i = 0; i < 3000; i++) {
    const [p, q] = [random(), random()];
    const universe = refs(p.pattern.segments.length - 1);
    const truth = universe.some((ref) => accepts(p, ref) && accepts(q, ref));
    if (truth) overlapping++;
    expect([p.pattern.source, p.vars, q.pattern.source, q.vars, patternsOverlap(p, q)]).toEqual([p.pattern.source, p.vars, q.pattern.source, q.vars, truth]);
  }
  expect(overlapping).toBeGreaterThan(100);
});
