/** Hostile input refused by pure checks: YAML alias bombs, deep or huge arguments, repository URLs. */
import { argumentsProblem, commandSizeProblem, jsonDepth } from '../../src/engine/arguments.js';
import { parseDagRequest } from '../../src/engine/dag.js';
import { parseYamlFile, YamlError } from '../../src/engine/yaml.js';
import { fileRepoProblem, repoUrlProblem } from '../../src/deploy/source.js';
import { StrataError } from '../../src/errors.js';
import { parseJobManifest } from '../../src/jobs/loader.js';
import { parsePluginManifest } from '../../src/jobtypes/pluginManifest.js';

/** "Billion laughs": ten levels of nine aliases each, a billion strings once expanded. */
const BOMB = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefghij'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefghij'[i]}`).join(',')}]`)].join('\n');

/** {"a":{"a":…}} nested `levels` deep, built without recursion. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

describe('YAML', () => {
  test('an alias bomb is a YamlError naming the file, for every kind of YAML file Strata reads', () => {
    expect(() => parseYamlFile('dag.yaml', BOMB)).toThrow(new YamlError('dag.yaml', 'more than 100 alias expansions (*name); write the values out or use fewer aliases'));
    expect(() => parseJobManifest('/jobs/x/job.yaml', BOMB)).toThrow('/jobs/x/job.yaml: not valid YAML: more than 100 alias expansions');
    let thrown: unknown;
    try {
      parsePluginManifest('plugin-manifest.yaml', BOMB);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StrataError);
    expect(thrown).toMatchObject({ type: 'invalid_plugin', message: 'plugin-manifest.yaml: is not valid YAML: more than 100 alias expansions (*name); write the values out or use fewer aliases' });
  });

  test('a few aliases are fine, and nesting too deep for the stack is a YamlError', () => {
    expect(parseYamlFile('f.yaml', 'a: &a [1, 2]\nb: *a\nc: *a\n')).toEqual({ a: [1, 2], b: [1, 2], c: [1, 2] });
    expect(() => parseYamlFile('f.yaml', `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toThrow(YamlError);
  });
});

describe('arguments', () => {
  test('depth is measured without recursion, however deep', () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth({ a: [1, { b: 2 }] })).toBe(3);
    expect(jsonDepth(nested(100_000))).toBe(33); // stops counting past the limit
  });

  test('too deep or too large arguments are refused, naming the limit', () => {
    expect(argumentsProblem({ a: 1, b: 'x', c: nested(30) })).toBeUndefined(); // 32 objects deep
    expect(argumentsProblem({ c: nested(31) })).toBe('nests deeper than 32 levels');
    expect(argumentsProblem(nested(100_000))).toBe('nests deeper than 32 levels');
    expect(argumentsProblem({ a: 'x'.repeat(70_000) })).toBe('is 70008 bytes of JSON; at most 65536 are allowed');
  });

  test('a command line the OS would refuse (E2BIG) is named before the job starts', () => {
    expect(commandSizeProblem(['echo', 'x'.repeat(131_071)], {})).toBeUndefined();
    expect(commandSizeProblem(['echo', 'x'.repeat(131_072)], {})).toBe('exec argument 1 would be 131073 bytes; the OS takes at most 131072 per argument or variable');
    expect(commandSizeProblem(['true'], { BIG: 'x'.repeat(131_068) })).toMatch(/^BIG would be 131073 bytes/);
    expect(commandSizeProblem(['true'], Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`V${i}`, 'x'.repeat(100_000)])))).toMatch(/at most 524288 are allowed/);
  });

  test("a DAG job's deep arguments are a too_large problem naming the job", () => {
    const { problems } = parseDagRequest({ team: 't', jobs: [{ job_name: 'a', depends_on: [], arguments: nested(100_000) }] });
    expect(problems).toEqual([{ kind: 'too_large', jobs: ['a'], key: 'arguments', message: 'a: "arguments" nests deeper than 32 levels' }]);
  });
});

describe('repository URLs', () => {
  test.each([
    ['file:///srv/jobs/%2e%2e/%2e%2e/etc', /contains "\.\." \(after %-decoding\)/],
    ['file:///srv/jobs/%2E%2E/etc', /contains "\.\."/],
    ['file:///srv/jobs%0a', /control characters \(%-encoded\)/],
    ['file:///srv/%zz', /malformed %-escape/],
    ['ssh://-oProxyCommand=sh/repo.git', /the host "-oProxyCommand=sh" starts with "-"/],
    ['ssh://%2doProxyCommand=sh/repo.git', /the host "-oProxyCommand=sh" starts with "-"/],
    ['ssh://-oProxyCommand=x@host/repo.git', /the user "-oProxyCommand=x" starts with "-"/],
    ['git@-oProxyCommand:repo.git', /the host "-oProxyCommand" starts with "-"/],
  ])('%s is refused', (url, message) => {
    expect(repoUrlProblem(url)).toMatch(message);
  });

  test.each(['https://github.com/acme/jobs.git', 'ssh://git@github.com/acme/jobs.git', 'git@github.com:acme/jobs.git', 'file:///srv/jobs/repo'])('%s is accepted', (url) => {
    expect(repoUrlProblem(url)).toBeUndefined();
  });

  test('a team reaches file:// repositories only under STRATA_GIT_FILE_ROOTS, after decoding and resolving links', () => {
    expect(fileRepoProblem('file:///srv/jobs/repo', [])).toMatch(/for administrators only/);
    expect(fileRepoProblem('file:///srv/jobs/repo', ['/srv/jobs'])).toBeUndefined();
    expect(fileRepoProblem('file:///srv/jobs', ['/srv/jobs/'])).toBeUndefined();
    expect(fileRepoProblem('file:///srv/jobs-other/repo', ['/srv/jobs'])).toMatch(/is not under a folder of STRATA_GIT_FILE_ROOTS/);
    expect(fileRepoProblem('file:///srv/%6aobs-other/repo', ['/srv/jobs'])).toMatch(/"\/srv\/jobs-other\/repo" is not under/);
    const links = (p: string) => p.replace('/srv/jobs/link', '/etc');
    expect(fileRepoProblem('file:///srv/jobs/link/repo', ['/srv/jobs'], links)).toMatch(/"\/srv\/jobs\/link\/repo" is not under/);
    expect(fileRepoProblem('https://example.com/repo.git', [])).toBeUndefined();
  });
});
