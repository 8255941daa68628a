import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../../src/errors.js';
import { JinjaTemplateError, RacetrackContext, renderJobDockerfile, renderTemplate } from '../../src/jobtypes/render.js';

// Templates render through the Jinja2 helper (src/jobtypes/render_template.py, with the Jinja2 that
// scripts/provision.mjs installs). The expected outputs were made by plain `jinja2.Template(text).render()`
// (scripts/jinja-oracle.py) and are committed.
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

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});
/** A plugin folder with these files, inside a scratch folder that also holds `outside/secret.txt`. */
function plugin(files: Record<string, string>): { dir: string; outside: string } {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-render-'));
  tempDirs.push(scratch);
  const dir = path.join(scratch, 'plugin');
  const outside = path.join(scratch, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'SECRET');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return { dir, outside };
}

const render = (source: string, context: Record<string, unknown> = {}, pluginDir = fixtures) => renderTemplate({ pluginDir, source, name: 'case.jinja', context });

async function failure(promise: Promise<unknown>): Promise<JinjaTemplateError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(JinjaTemplateError);
    expect((err as JinjaTemplateError).type).toBe('template_failed');
    return err as JinjaTemplateError;
  }
  throw new Error('expected a JinjaTemplateError');
}

interface RacetrackCase {
  template: string;
  context: RacetrackContext;
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

  test.each(cases)('%s', async (name) => {
    const { template, context } = readJson(path.join(fixtures, `${name}.json`)) as RacetrackCase;
    const expected = fs.readFileSync(path.join(fixtures, `${name}.out`), 'utf8');
    const pluginDir = path.join(peers, template.split('/')[0]!);
    expect(await renderTemplate({ pluginDir, file: path.join(peers, template), name: template, racetrack: context })).toBe(expected);
  });
});

describe('synthetic templates render byte for byte like Jinja2', () => {
  const dir = path.join(fixtures, 'synthetic');
  test.each(names(dir, '.jinja'))('%s', async (name) => {
    const context = readJson(path.join(dir, `${name}.json`)) as Record<string, unknown>;
    const rendered = await renderTemplate({ pluginDir: dir, file: path.join(dir, `${name}.jinja`), name: `${name}.jinja`, context });
    expect(rendered).toBe(fs.readFileSync(path.join(dir, `${name}.out`), 'utf8'));
  });
});

describe('what Jinja2 refuses fails with template_failed, naming the template and the line', () => {
  const cases = readJson(path.join(fixtures, 'errors/cases.json')) as { template: string; context: Record<string, unknown> }[];
  const jinja2 = readJson(path.join(fixtures, 'errors/jinja2-errors.json')) as { template: string; jinja2: string }[];

  test('the oracle recorded an error for every case', () => {
    expect(jinja2.map((e) => e.template)).toEqual(cases.map((c) => c.template));
  });

  test.each(cases.map((c, i) => [c.template, jinja2[i]!.jinja2, c.context] as const))('%s (Jinja2: %s)', async (template, jinjaError, context) => {
    const err = await failure(render(template, context));
    expect(err.template).toBe('case.jinja');
    expect(err.line).toBeGreaterThanOrEqual(1);
    expect(err.line).toBeLessThanOrEqual(template.split('\n').length);
    expect(err.message).toMatch(new RegExp(`^case\\.jinja line ${err.line}: `));
    // What Jinja2 said when the oracle ran it, less the exception's class for Jinja2's own errors.
    const said = jinjaError.replace(/^(TemplateSyntaxError|TemplateAssertionError|UndefinedError): /, '');
    expect(err.message).toContain(said);
  });
});

describe("Jinja2's defaults, as plain jinja2.Template(text).render()", () => {
  test('one trailing newline dropped, no trim_blocks or lstrip_blocks, no autoescape, lenient Undefined', async () => {
    expect(await render('a\n\n')).toBe('a\n');
    expect(await render('a\r\nb\r\n')).toBe('a\nb');
    expect(await render('  {% if true %}\nx\n{% endif %}\n')).toBe('  \nx\n');
    expect(await render("{{ '<a href=\"x\">&' }}")).toBe('<a href="x">&');
    // 3.1.6's int filter catches OverflowError (3.1.2, which made errors/jinja2-errors.json, raised it).
    expect(await render("{{ 'inf'|int }} {{ 'x'|int(7) }}")).toBe('0 7');
    expect(await render('[{{ d.missing }}]{% if d.missing %}yes{% else %}no{% endif %}[{{ nothing }}]', { d: {} })).toBe('[]no[]');
  });

  test('macros, filter chains and arithmetic (which the old renderer refused) work', async () => {
    const source = [
      "{% macro env(name, value='') -%}",
      'ENV {{ name | upper }}="{{ value }}"',
      '{%- endmacro -%}',
      "{{ env('home', '/srv/' ~ job) }}",
      "{{ env('workers', cpus * 2 + 1) }}",
      "PACKAGES {{ packages | map('upper') | join(', ') }}",
      "{{ packages | sort | first }} {{ (10 / 4) | round(1) }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ packages[1:] | length }}",
      '{% for p in packages | reject("equalto", "curl") %}{{ loop.index }}:{{ p | title }}{{ "," if not loop.last }}{% endfor %}',
    ].join('\n');
    expect(await render(source, { job: 'etl', cpus: 3, packages: ['git', 'curl', 'make'] })).toBe(
      ['ENV HOME="/srv/etl"', 'ENV WORKERS="7"', 'PACKAGES GIT, CURL, MAKE', 'curl 2.5 3 1 1024 2', '1:Git,2:Make'].join('\n'),
    );
  });

  test('include and import read files inside the plugin folder', async () => {
    const { dir } = plugin({
      'job-template.Dockerfile': "{% import 'lib/macros.jinja' as m %}FROM x\n{% include 'parts/env.jinja' %}\n{{ m.label('team', manifest.owner_email) }}\n",
      'parts/env.jinja': '{% for k, v in env_vars.items() %}ENV {{ k }}={{ v }}\n{% endfor %}',
      'lib/macros.jinja': '{% macro label(k, v) %}LABEL {{ k }}="{{ v }}"{% endmacro %}',
    });
    const racetrack = { manifest: { name: 'j', owner_email: 'a@b.c', build_env: { A: '1' } }, git_version: 'g', deployed_by_racetrack_version: 's', job_type_version: 'v' };
    expect(await renderTemplate({ pluginDir: dir, file: path.join(dir, 'job-template.Dockerfile'), name: 't', racetrack })).toBe('FROM x\nENV A=1\n\nLABEL team="a@b.c"');
  });
});

describe('hostile templates are refused', () => {
  test.each([
    ["{{ ''.__class__.__mro__[1].__subclasses__() }}", "access to attribute '__class__' of 'str' object is unsafe"],
    ['{{ cycler.__init__.__globals__ }}', "access to attribute '__init__'"],
    ["{{ lipsum.__globals__['os'].popen('id').read() }}", "access to attribute '__globals__'"],
    ['{{ manifest.__class__.__init__.__globals__ }}', 'access to attribute'],
    ['{{ manifest.get_jobtype_extra.__func__.__globals__ }}', "access to attribute '__func__'"],
  ])('%s', async (source, reason) => {
    const racetrack = { manifest: { name: 'j' }, git_version: 'g', deployed_by_racetrack_version: 's', job_type_version: 'v' };
    const err = await failure(renderTemplate({ pluginDir: fixtures, source, name: 'evil.jinja', racetrack }));
    expect(err.message).toContain(`evil.jinja line 1: SecurityError: ${reason}`);
  });

  test.each(["{% include '../outside/secret.txt' %}", "{% include '../../etc/passwd' %}", "{% include '/etc/passwd' %}", "{% import '../outside/secret.txt' as s %}"])(
    '%s: only files inside the plugin folder',
    async (include) => {
      const { dir } = plugin({ 'job-template.Dockerfile': `FROM x\n${include}\n` });
      const err = await failure(renderTemplate({ pluginDir: dir, file: path.join(dir, 'job-template.Dockerfile'), name: 'p job-template.Dockerfile' }));
      expect(err.message).toMatch(/^p job-template\.Dockerfile line 2: template not found: .*only files inside the plugin folder/);
      expect(err.message).not.toContain('SECRET');
    },
  );

  test('a symlink inside the plugin folder to a file outside it is refused; one to a file inside works', async () => {
    const { dir, outside } = plugin({ 'job-template.Dockerfile': "{% include 'inner.txt' %}|{% include 'link.txt' %}", 'inner.txt': 'inner' });
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'link.txt'));
    fs.symlinkSync(path.join(dir, 'inner.txt'), path.join(dir, 'alias.txt'));
    const file = path.join(dir, 'job-template.Dockerfile');
    const err = await failure(renderTemplate({ pluginDir: dir, file, name: 't' }));
    expect(err.message).toBe('t line 1: template not found: link.txt (it resolves to a file outside the plugin folder) (only files inside the plugin folder can be included)');
    fs.writeFileSync(file, "{% include 'inner.txt' %}|{% include 'alias.txt' %}");
    expect(await renderTemplate({ pluginDir: dir, file, name: 't' })).toBe('inner|inner');
  });

  test('a template file outside the plugin folder is refused', async () => {
    const { dir, outside } = plugin({});
    const err = await failure(renderTemplate({ pluginDir: dir, file: path.join(outside, 'secret.txt'), name: 't' }));
    expect(err.message).toMatch(/^t: the template is not inside the plugin folder/);
  });

  test('a template that runs too long is stopped at the timeout', async () => {
    const source = 'x\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}';
    const err = await failure(renderTemplate({ pluginDir: fixtures, source, name: 'slow.jinja', timeoutMs: 1000 }));
    expect(err.message).toBe('slow.jinja: rendering took longer than 1 s and was stopped');
  });
});

describe('renderJobDockerfile', () => {
  const manifest = { name: 'j', owner_email: 'a@b.c', lang: 'golang:latest', git: { remote: 'https://x' }, golang: { gomod: 'go.mod' } };
  const input = (dir: string, jobDir = dir) => ({
    template: path.join(dir, 'job-template.Dockerfile'),
    jobType: 'go:1.0.0',
    jobTypeVersion: '1.0.0',
    manifest,
    jobDir,
    gitVersion: 'g',
    strataVersion: 's',
    baseImage: '',
    language: 'python' as const,
  });

  test("the manifest is Racetrack's object: attributes, defaults and get_jobtype_extra(); requirements_file is the job's", async () => {
    const { dir } = plugin({
      'job-template.Dockerfile':
        '{{ manifest.jobtype }} {{ manifest.version }} {{ manifest.replicas }} {{ manifest.labels }} {{ manifest.git.directory }} {{ manifest.get_jobtype_extra().gomod }} {{ manifest_jobtype_extra }} {{ env_vars }}|{{ base_image }}|{{ requirements_file }}|{{ git_version }} {{ deployed_by_racetrack_version }} {{ job_type_version }}\n',
      'job/requirements.txt': 'x\n',
    });
    expect(await renderJobDockerfile(input(dir))).toBe("golang:latest 0.0.1 1 None . go.mod {'gomod': 'go.mod'} {}|||g s 1.0.0");
    expect(await renderJobDockerfile(input(dir, path.join(dir, 'job')))).toBe("golang:latest 0.0.1 1 None . go.mod {'gomod': 'go.mod'} {}||requirements.txt|g s 1.0.0");
  });

  test('an error names the job type template and the line, also in an included file', async () => {
    const { dir } = plugin({
      'job-template.Dockerfile': 'FROM x\n\n{% if true %}\n{{ manifest.name | upper | shout }}\n{% endif %}\n',
      'ok.Dockerfile': "FROM x\n{% include 'parts/bad.jinja' %}\n",
      'parts/bad.jinja': 'RUN a\nRUN {{ manifest.nothing.deeper }}\n',
    });
    const err = await failure(renderJobDockerfile(input(dir)));
    expect(err).toBeInstanceOf(StrataError);
    expect(err.message).toBe("go:1.0.0 job-template.Dockerfile line 4: No filter named 'shout' found.");
    expect(err.details).toEqual({ jobtype: 'go:1.0.0', template: 'go:1.0.0 job-template.Dockerfile', line: 4 });
    const included = await failure(renderJobDockerfile({ ...input(dir), template: path.join(dir, 'ok.Dockerfile') }));
    expect(included.message).toBe("parts/bad.jinja line 2: '__main__.Manifest object' has no attribute 'nothing'");
    expect(included.details).toEqual({ jobtype: 'go:1.0.0', template: 'parts/bad.jinja', line: 2 });
  });
});

test('the pinned Jinja2 is installed into a folder named after its version, so a new pin installs afresh', () => {
  const pin = readJson(path.join(repoRoot, 'src/jobtypes/jinja2-pin.json')) as { jinja2: string; installDir: string };
  expect(pin.installDir).toBe(`.tools/jinja2-${pin.jinja2}`);
});
