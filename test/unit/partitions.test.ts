import { partitionsForSearchAttribute } from '../../src/temporal/searchAttributes.js';
import { instantiate, matchPattern, parsePattern, partitionRefProblem, PatternError, substitute, execArgv } from '../../src/engine/partitions.js';

describe('partition patterns', () => {
  test('bind any number of dimensions and instantiate them back', () => {
    const p = parsePattern('sales/region={region}/date={date}');
    expect(p.vars).toEqual(['region', 'date']);
    expect(matchPattern(p, 'sales/region=eu/date=2026-11-01')).toEqual({ region: 'eu', date: '2026-11-01' });
    expect(instantiate(p, { region: 'us', date: '2026-11-02' })).toBe('sales/region=us/date=2026-11-02');
  });

  test('do not match another dataset, another key or another depth', () => {
    const p = parsePattern('sales/region={region}/date={date}');
    expect(matchPattern(p, 'orders/region=eu/date=2026-11-01')).toBeUndefined();
    expect(matchPattern(p, 'sales/country=eu/date=2026-11-01')).toBeUndefined();
    expect(matchPattern(p, 'sales/region=eu')).toBeUndefined();
    expect(matchPattern(p, 'sales/region=/date=1')).toBeUndefined();
  });

  test('a fixed dimension matches only its value', () => {
    const p = parsePattern('clean/region=eu/date={date}');
    expect(matchPattern(p, 'clean/region=eu/date=1')).toEqual({ date: '1' });
    expect(matchPattern(p, 'clean/region=us/date=1')).toBeUndefined();
  });

  test('a variable used twice must bind the same value', () => {
    const p = parsePattern('x/a={v}/b={v}');
    expect(matchPattern(p, 'x/a=1/b=1')).toEqual({ v: '1' });
    expect(matchPattern(p, 'x/a=1/b=2')).toBeUndefined();
  });

  test('bad patterns and refs are refused with the reason', () => {
    expect(() => parsePattern('sales/{date}')).toThrow(PatternError);
    expect(() => parsePattern('sales/date={date')).toThrow(/variable must be a whole value/);
    expect(partitionRefProblem('a/../b')).toMatch(/".." segment/);
    expect(partitionRefProblem('/a')).toMatch(/empty path segment/);
    expect(partitionRefProblem('a/k=v w')).toMatch(/invalid value/);
    expect(partitionRefProblem('a/k=v')).toBeUndefined();
  });

  test('execArgv gives an argument with variables once per distinct value over the outputs, in order', () => {
    const exec = ['spark-submit', 'daily.py', '--date={date}', '{region}', '--all'];
    expect(execArgv(exec, [{ date: '01', region: 'eu' }])).toEqual(['spark-submit', 'daily.py', '--date=01', 'eu', '--all']);
    expect(execArgv(exec, [{ date: '02', region: 'eu' }, { date: '01', region: 'eu' }, { date: '02', region: 'eu' }])).toEqual(['spark-submit', 'daily.py', '--date=02', '--date=01', 'eu', '--all']);
    expect(execArgv(['run', '{date}'], [])).toEqual(['run', '{date}']);
  });

  test('substitute replaces known variables and keeps the others', () => {
    expect(substitute('--date={date} {other}', { date: '2026-11-01' })).toBe('--date=2026-11-01 {other}');
  });
});

describe('partitionsForSearchAttribute', () => {
  test('keeps the first partitions whose JSON fits 2,048 bytes', () => {
    const long = Array.from({ length: 100 }, (_, i) => `warehouse/orders/region=europe-west/date=2026-11-${String(i).padStart(3, '0')}`);
    const kept = partitionsForSearchAttribute(long);
    expect(kept).toEqual(long.slice(0, kept.length));
    expect(Buffer.byteLength(JSON.stringify(kept))).toBeLessThanOrEqual(2048);
    expect(Buffer.byteLength(JSON.stringify(long.slice(0, kept.length + 1)))).toBeGreaterThan(2048);
    expect(partitionsForSearchAttribute(['a/x=1', 'b/y=ü'])).toEqual(['a/x=1', 'b/y=ü']);
  });
});
