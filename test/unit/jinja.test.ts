import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTemplate, TemplateError } from '../../src/jobtypes/jinja.js';
import { racetrackTemplateContext, RacetrackManifest } from '../../src/jobtypes/templateContext.js';

// Expected outputs come from real Jinja2 (scripts/jinja-oracle.py) and are committed, so no Python is needed here.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(repoRoot, 'test/fixtures/jinja');
// Racetrack's own plugin files, copied verbatim (test/fixtures/racetrack/README.md).
const peers = path.join(repoRoot, 'test/fixtures/racetrack');

const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(file, 'utf8'));
const names = (dir: string, ext: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .map((f) => f.slice(0, -ext.length))
    .sort();

interface RacetrackCase {
  template: string;
  context: {
    manifest: Record<string, unknown>;
    git_version: string;
    deployed_by_racetrack_version: string;
    job_type_version: string;
    base_image?: string;
  };
}

describe('Racetrack job-type templates render byte for byte like Jinja2', () => {
  const cases = names(fixtures, '.json');

  test('every real template has fixture cases', () => {
    const templates = new Set(cases.map((c) => (readJson(path.join(fixtures, `${c}.json`)) as RacetrackCase).template));
    expect([...templates].sort()).toEqual([
      'plugin-go-job-type/job-template.Dockerfile',
      'plugin-python-job-type/job-template.Dockerfile',
      'plugin-python-job-type/legacy-4dd2c764/job-template.Dockerfile',
      'plugin-rust-job-type/job-template.Dockerfile',
    ]);
  });

  test.each(cases)('%s', (name) => {
    const { template, context } = readJson(path.join(fixtures, `${name}.json`)) as RacetrackCase;
    const ctx = racetrackTemplateContext(context.manifest, {
      gitVersion: context.git_version,
      strataVersion: context.deployed_by_racetrack_version,
      jobTypeVersion: context.job_type_version,
      baseImage: context.base_image,
    });
    const source = fs.readFileSync(path.join(peers, template), 'utf8');
    const expected = fs.readFileSync(path.join(fixtures, `${name}.out`), 'utf8');
    expect(renderTemplate(source, ctx, path.basename(template))).toBe(expected);
  });
});

describe('synthetic templates render byte for byte like Jinja2', () => {
  const dir = path.join(fixtures, 'synthetic');
  test.each(names(dir, '.jinja'))('%s', (name) => {
    const source = fs.readFileSync(path.join(dir, `${name}.jinja`), 'utf8');
    const context = readJson(path.join(dir, `${name}.json`)) as Record<string, unknown>;
    expect(renderTemplate(source, context, `${name}.jinja`)).toBe(fs.readFileSync(path.join(dir, `${name}.out`), 'utf8'));
  });
});

describe('what Jinja2 refuses, the renderer refuses too', () => {
  const cases = readJson(path.join(fixtures, 'errors/cases.json')) as { template: string; context: Record<string, unknown> }[];
  const jinja2 = readJson(path.join(fixtures, 'errors/jinja2-errors.json')) as { template: string; jinja2: string }[];

  test('the oracle recorded an error for every case', () => {
    expect(jinja2.map((e) => e.template)).toEqual(cases.map((c) => c.template));
  });

  test.each(cases.map((c, i) => [c.template, jinja2[i].jinja2, c.context] as const))('%s (Jinja2: %s)', (template, _jinjaError, context) => {
    expect(() => renderTemplate(template, context, 'case.jinja')).toThrow(TemplateError);
  });
});

describe('porting hazards', () => {
  test('str.replace replaces every occurrence', () => {
    expect(renderTemplate("{{ v.replace('.', '') }}", { v: '3.10.4' })).toBe('3104');
    expect(renderTemplate("{{ 'ab'.replace('', '-') }}|{{ 'aaa'.replace('a', 'b', 2) }}", {})).toBe('-a-b-|bba');
  });

  test('in uses Python equality: 1 == True', () => {
    expect(renderTemplate("{{ 1 in [true, 'true'] }} {{ 'true' in [true, 'true'] }} {{ 'false' in [true, 'true'] }} {{ 0 in [false] }}", {})).toBe('True True False True');
    expect(renderTemplate("{{ x.get('memray_profiler', false) in [true, 'true'] }}", { x: { memray_profiler: 1 } })).toBe('True');
  });

  test('exactly one trailing newline is dropped, whatever its style', () => {
    expect(renderTemplate('a\n', {})).toBe('a');
    expect(renderTemplate('a\n\n', {})).toBe('a\n');
    expect(renderTemplate('a\r\nb\r\n', {})).toBe('a\nb');
    expect(renderTemplate('a\rb\r\r', {})).toBe('a\nb\n');
    expect(renderTemplate('', {})).toBe('');
    expect(renderTemplate('{% if true %}\nx\n{% endif %}\n', {})).toBe('\nx\n');
  });

  test('{%- strips the whitespace and newlines before the tag, -%} those after it', () => {
    expect(renderTemplate('a\n    {%- if true %}\nb\n    {%- endif %}\nc', {})).toBe('a\nb\nc');
    expect(renderTemplate('a  {% if true -%}  \n  b{% endif %}', {})).toBe('a  b');
    expect(renderTemplate('x {{- 1 -}} y {#- c -#} z', {})).toBe('x1yz');
  });

  test('Undefined: a missing key is falsy and renders empty; only the last link of a chain may be missing', () => {
    expect(renderTemplate('[{{ d.missing }}]{% if d.missing %}yes{% else %}no{% endif %}', { d: {} })).toBe('[]no');
    expect(renderTemplate('[{{ n.attr }}][{{ n["key"] }}]', { n: null })).toBe('[][]');
    expect(() => renderTemplate('{{ d.missing.attr }}', { d: {} })).toThrow("'dict object' has no attribute 'missing'");
    expect(() => renderTemplate('{{ missing.attr }}', {})).toThrow("'missing' is undefined");
    expect(renderTemplate('{{ x }}|{{ x is defined }}', { x: undefined })).toBe('|False');
  });

  test('or returns the operand, Python str() formats values', () => {
    expect(renderTemplate("{{ e.python_version or '3.11' }} {{ 0 or none }} {{ 'a' and [] }}", { e: {} })).toBe('3.11 None []');
    expect(renderTemplate('{{ l }} {{ d }} {{ 1.0 }} {{ f }}', { l: ['a', 1, true, null], d: { a: 1 }, f: 0.5 })).toBe("['a', 1, True, None] {'a': 1} 1.0 0.5");
  });

  test('TemplateError names the template, the line and what is wrong', () => {
    const source = 'FROM x\n\n{% if true %}\n{{ name | upper | shout }}\n{% endif %}\n';
    expect(() => renderTemplate(source, {}, 'job-template.Dockerfile')).toThrow('job-template.Dockerfile line 4: unknown filter "shout"');
    try {
      renderTemplate('a\nb\n{{ x.y }}', {}, 't.Dockerfile');
      throw new Error('expected a TemplateError');
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateError);
      expect((e as TemplateError).line).toBe(3);
      expect((e as TemplateError).message).toBe("t.Dockerfile line 3: 'x' is undefined");
    }
    expect(() => renderTemplate('{% macro m() %}{% endmacro %}', {})).toThrow('<template> line 1: unsupported tag "macro"');
    expect(() => renderTemplate('\n{% frobnicate %}', {})).toThrow('<template> line 2: unknown tag "frobnicate"');
    expect(() => renderTemplate('{{ 1 + 1 }}', {})).toThrow("operator '+' is not supported");
    expect(() => renderTemplate('{% if a %}\n\n', {})).toThrow('"if" opened on line 1');
  });

  test('context functions are callables; the manifest is an object with attributes and get_jobtype_extra()', () => {
    expect(renderTemplate('{{ greet("x") }}', { greet: (who: string) => `hi ${who}` })).toBe('hi x');
    const ctx = racetrackTemplateContext(
      { name: 'j', owner_email: 'a@b.c', lang: 'golang:latest', git: { remote: 'https://x' }, golang: { gomod: 'go.mod' } },
      { gitVersion: 'g', strataVersion: 's', jobTypeVersion: 'v' },
    );
    expect(ctx.manifest).toBeInstanceOf(RacetrackManifest);
    expect(renderTemplate('{{ manifest.jobtype }} {{ manifest.version }} {{ manifest.replicas }} {{ manifest.labels }} {{ manifest.git.directory }} {{ manifest.get_jobtype_extra().gomod }} {{ base_image }}|', ctx)).toBe(
      'golang:latest 0.0.1 1 None . go.mod |',
    );
    expect(ctx.manifest_jobtype_extra).toEqual({ gomod: 'go.mod' });
    expect(ctx.env_vars).toEqual({});
  });
});
