import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { BundleError, bundlePlugin, extractBundle, readBundleManifest } from '../../src/jobtypes/bundle.js';
import { DEFAULT_IGNORE_PATTERNS, FilenameMatcher, fnmatchcase, parseIgnoreFile } from '../../src/jobtypes/ignore.js';
import { parsePluginManifest } from '../../src/jobtypes/pluginManifest.js';
import { rawZip } from '../helpers/zip.js';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
/** Racetrack's own plugin files, copied verbatim (test/fixtures/racetrack/README.md). */
const peers = path.join(repoRoot, 'test/fixtures/racetrack');

const tempDirs: string[] = [];
function tempDir(prefix = 'strata-bundle-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function write(file: string, content: string | Buffer = 'x\n', mode?: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  if (mode !== undefined) fs.chmodSync(file, mode);
}

/** A copy of a peer plugin folder in a temp dir. */
function copyPeer(name: string): string {
  const dir = path.join(tempDir(), name);
  fs.cpSync(path.join(peers, name), dir, { recursive: true });
  return dir;
}

interface ZipListing {
  name: string;
  method: number;
  mode: number;
  time: number;
  date: number;
  data: Buffer;
}

async function listZip(bytes: Buffer): Promise<ZipListing[]> {
  const zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true });
  const out: ZipListing[] = [];
  for await (const entry of zip.eachEntry()) {
    const chunks: Buffer[] = [];
    for await (const c of await zip.openReadStreamPromise(entry)) chunks.push(c as Buffer);
    out.push({
      name: entry.fileName,
      method: entry.compressionMethod,
      mode: entry.externalFileAttributes >>> 16,
      time: entry.lastModFileTime,
      date: entry.lastModFileDate,
      data: Buffer.concat(chunks),
    });
  }
  return out;
}

function yazlZip(add: (zip: yazl.ZipFile) => void): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  add(zip);
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('error', reject);
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

// ---------------------------------------------------------------------------------------------------------

describe('.racetrackignore matcher (Racetrack filename_matcher.py semantics)', () => {
  const realFile = (plugin: string) => parseIgnoreFile(fs.readFileSync(path.join(peers, plugin, '.racetrackignore'), 'utf8'));
  // Expectations derived from filename_matcher.py (and checked against it with Python).
  const table: { name: string; rules: () => ReturnType<typeof parseIgnoreFile>; included: string[]; excluded: string[] }[] = [
    {
      name: 'python plugin',
      rules: () => realFile('plugin-python-job-type'),
      included: [
        'job-template.Dockerfile',
        'plugin.py',
        'requirements.txt',
        'python_wrapper/main.py',
        'python_wrapper/testsuite.py',
        'python_wrapper/tests.py',
        'python_wrapper/test/t.py',
        'sub/python_wrapper/tests/t.py', // `-/python_wrapper/tests` is anchored at the plugin root
        'makefile', // case-sensitive
        'sample/plugin-manifest.yaml', // the defaults exclude only the root one
        'sub/.racetrackignore',
      ],
      excluded: [
        'python_wrapper/tests',
        'python_wrapper/tests/test_x.py',
        'python_wrapper/tests/deep/x.txt',
        'python_wrapper/__pycache__/main.cpython-311.pyc',
        '__pycache__/x.txt',
        'a/b/x.pyc',
        'x.egg-info/PKG-INFO',
        'Makefile',
        'docs/Makefile', // one component: any depth
        'README.md',
        'python_wrapper/README.md',
        'LICENSE',
        'requirements-dev.txt',
        '.coverage',
        '.pytest_cache/v/cache',
        '.mypy_cache/x',
        '.racetrackignore',
        'plugin-manifest.yaml',
        '.git/config',
        '.gitignore',
        'sub/.gitignore',
        'plugin-1.0.0.zip',
        'dist/x.zip',
      ],
    },
    {
      name: 'go plugin (patterns without prefix exclude)',
      rules: () => realFile('plugin-go-job-type'),
      included: [
        'job-template.Dockerfile',
        'go.mod',
        'go_wrapper/swaggerui/swagger-ui.js',
        'go_wrapper/swaggerui/sub/a.map', // several components match the path's LAST components
        'go_wrapper/a.map',
        'swaggerui/a.map',
        'Makefile.bak',
      ],
      excluded: ['go_wrapper/swaggerui/swagger-ui.js.map', 'x/go_wrapper/swaggerui/a.map', 'go.sum', 'go_wrapper/go.sum', 'Makefile', 'go_wrapper/Makefile', 'plugin-manifest.yaml'],
    },
    {
      name: 'rust plugin',
      rules: () => realFile('plugin-rust-job-type'),
      included: ['job-template.Dockerfile', 'base.Dockerfile', 'Cargo.lock', 'src/target.rs', 'targets/x'],
      excluded: ['target', 'target/debug/app', 'sub/target/x', '.gitignore', 'sub/.gitignore', '.racetrackignore'],
    },
    {
      name: '+ and ! re-include after an exclude, files inside an excluded folder too',
      rules: () => parseIgnoreFile('-/whole_dir\n+/whole_dir/but_this\n-/whole_dir/but_this/without_that\nwhole2\n!whole2/keep.txt\n'),
      included: ['whole_dir/but_this', 'whole_dir/but_this/code/a.txt', 'whole2/keep.txt', 'x/whole2/keep.txt', 'other.txt'],
      excluded: ['whole_dir', 'whole_dir/a.txt', 'whole_dir/but_this/without_that', 'whole_dir/but_this/without_that/a.txt', 'whole2/other.txt', 'x/whole2/a.txt'],
    },
    {
      name: 'the last matching rule wins',
      rules: () => parseIgnoreFile('+*.txt\n-*.txt\n-*.md\n+keep.md\n*.log\n!keep.log'),
      included: ['keep.md', 'd/keep.md', 'keep.log', 'a.py'],
      excluded: ['a.txt', 'd/a.txt', 'a.md', 'a.log'],
    },
    {
      name: 'the defaults come last, so they cannot be overridden',
      rules: () => parseIgnoreFile('+*.zip\n!/plugin-manifest.yaml\n+.git\n+__pycache__/x.txt\n!/.racetrackignore'),
      included: ['x/plugin-manifest.yaml'],
      excluded: ['a.zip', 'plugin-manifest.yaml', '.git/HEAD', '__pycache__/x.txt', '.racetrackignore', '.gitignore', 'x.pyc'],
    },
    {
      name: 'patterns match one component at a time; no comments, no trimming, trailing / matches nothing',
      rules: () => parseIgnoreFile('-a*b\r\n-target/\r\n\r\n-./docs\n-logs/out.txt\n-# comment\n-/sub/*.md\n spaced\n'),
      included: ['a/x/b', 'target/x', 'docs/x.md', 'out.txt', 'logs/out.txt/inner', 'x.md', 'sub/deeper/y.md', 'spaced'],
      excluded: ['axb', 'x/a-b/y', 'logs/out.txt', 'folder/logs/out.txt', '# comment', 'sub/x.md', ' spaced'],
    },
  ];

  test.each(table)('$name', ({ rules, included, excluded }) => {
    const matcher = new FilenameMatcher(rules());
    expect(included.filter((p) => !matcher.isIncluded(p))).toEqual([]);
    expect(excluded.filter((p) => matcher.isIncluded(p))).toEqual([]);
  });

  test('parsing: prefixes, empty lines skipped, the file alone has no defaults', () => {
    expect(parseIgnoreFile('-a\n+b\n!c\nd\n\n')).toEqual([
      { pattern: 'a', include: false, source: '-a' },
      { pattern: 'b', include: true, source: '+b' },
      { pattern: 'c', include: true, source: '!c' },
      { pattern: 'd', include: false, source: 'd' },
    ]);
    expect(DEFAULT_IGNORE_PATTERNS).toEqual(['*.zip', '.git', '*.pyc', '__pycache__', '.gitignore', '/.racetrackignore', '/plugin-manifest.yaml']);
    expect(new FilenameMatcher().rules.map((r) => r.source)).toEqual(DEFAULT_IGNORE_PATTERNS);
    expect(new FilenameMatcher([], { applyDefaults: false }).isIncluded('a.zip')).toBe(true);
  });

  test('fnmatch: * crosses / on its own, [seq] and [!seq] follow Python', () => {
    expect(fnmatchcase('a/b', 'a*')).toBe(true);
    expect(fnmatchcase('x.PYC', '*.pyc')).toBe(false);
    expect(fnmatchcase('b', '[a-c]')).toBe(true);
    expect(fnmatchcase('b', '[!a-c]')).toBe(false);
    expect(fnmatchcase('-', '[a-]')).toBe(true);
    expect(fnmatchcase(']', '[]]')).toBe(true);
    expect(fnmatchcase('[x', '[x')).toBe(true);
    expect(fnmatchcase('b', '[c-a]')).toBe(false); // empty range: never matches
    expect(fnmatchcase('ab\n', 'a?\n')).toBe(true);
  });
});

describe('plugin-manifest.yaml', () => {
  const file = '/plugins/x/plugin-manifest.yaml';

  test('the real peer manifests parse', () => {
    expect(parsePluginManifest('p', fs.readFileSync(path.join(peers, 'plugin-python-job-type/plugin-manifest.yaml'), 'utf8'))).toEqual({
      name: 'python3-job-type',
      version: '2.15.1',
      url: 'https://github.com/TheRacetrack/plugin-python-job-type',
      category: 'job-type',
      priority: 0,
      components: [],
    });
    const rust = parsePluginManifest('r', fs.readFileSync(path.join(peers, 'plugin-rust-job-type/plugin-manifest.yaml'), 'utf8'));
    expect(rust.category).toBeUndefined();
  });

  test("accepts exactly Racetrack's keys, including those its bundler adds", () => {
    const m = parsePluginManifest(file, 'name: a-job-type\nversion: 1.0.0-rc.1\nbuild_date: 2024-01-09T101010Z\npriority: -1\ncomponents: [image-builder]\nurl:\n');
    expect(m).toMatchObject({ build_date: '2024-01-09T101010Z', priority: -1, components: ['image-builder'] });
    expect(m.url).toBeUndefined();
    expect(() => parsePluginManifest(file, 'name: a\nversion: 1.0.0\nlang: python\n')).toThrow(`${file}: unknown field "lang"`);
  });

  test('errors name the file and the field', () => {
    expect(() => parsePluginManifest(file, 'name: a\nversion: 1.0\n')).toThrow(`${file}: field "version" must be a string: YAML read 1 as a number; quote it`);
    expect(() => parsePluginManifest(file, "name: a\nversion: '1.0'\n")).toThrow(`${file}: field "version" must be a SemVer version`);
    expect(() => parsePluginManifest(file, 'version: 1.0.0\n')).toThrow(`${file}: field "name" is missing`);
    expect(() => parsePluginManifest(file, 'name: My_Plugin\nversion: 1.0.0\n')).toThrow(`${file}: field "name" must be lowercase`);
    expect(() => parsePluginManifest(file, 'name: a\nversion: 1.0.0/../x\n')).toThrow(/field "version"/);
    expect(() => parsePluginManifest(file, 'name: a\nversion: 1.0.0\npriority: high\n')).toThrow(/field "priority"/);
    expect(() => parsePluginManifest(file, '- a\n')).toThrow(`${file}: must be a YAML mapping`);
    expect(() => parsePluginManifest(file, 'name: [a\n')).toThrow(`${file}: is not valid YAML`);
  });
});

describe('bundlePlugin', () => {
  const cases = [
    {
      plugin: 'plugin-python-job-type',
      zip: 'python3-job-type-2.15.1.zip',
      extra: ['__pycache__/x.pyc', 'python_wrapper/tests/t.py', 'python_wrapper/__pycache__/m.cpython-311.pyc', 'python_wrapper/main.py', 'Makefile', 'README.md', '.git/HEAD', 'old-1.0.0.zip', 'x.egg-info/PKG-INFO'],
      entries: ['job-template.Dockerfile', 'job.yaml', 'legacy-4dd2c764/base.Dockerfile', 'legacy-4dd2c764/job-template.Dockerfile', 'python_wrapper/main.py', 'plugin-manifest.yaml'],
    },
    {
      plugin: 'plugin-go-job-type',
      zip: 'golang-job-type-1.5.0.zip',
      extra: ['go_wrapper/swaggerui/swagger-ui.js.map', 'go_wrapper/swaggerui/index.html', 'go.sum', 'go.mod', 'Makefile', '.gitignore'],
      entries: ['go.mod', 'go_wrapper/swaggerui/index.html', 'job-template.Dockerfile', 'job.yaml', 'plugin-manifest.yaml'],
    },
    {
      plugin: 'plugin-rust-job-type',
      zip: 'rust-job-type-1.3.0.zip',
      extra: ['target/debug/app', '.gitignore', 'src/main.rs', 'Cargo.toml'],
      entries: ['Cargo.toml', 'base.Dockerfile', 'job-template.Dockerfile', 'job.yaml', 'src/main.rs', 'plugin-manifest.yaml'],
    },
  ];

  test.each(cases)('$plugin: exactly the included files, stored, fixed time, named <name>-<version>.zip', async ({ plugin, zip, extra, entries }) => {
    const dir = copyPeer(plugin);
    for (const f of extra) write(path.join(dir, f));
    const out = tempDir();
    const result = await bundlePlugin(dir, out);
    expect(path.basename(result.file)).toBe(zip);
    expect(path.dirname(result.file)).toBe(path.resolve(out));
    expect(result.files).toEqual(entries);
    const listing = await listZip(fs.readFileSync(result.file));
    expect(listing.map((e) => e.name)).toEqual(entries);
    for (const e of listing) {
      expect(e.method).toBe(0); // ZIP_STORED, as bundle.py writes
      expect([e.date, e.time]).toEqual([0x21, 0]); // 1980-01-01 00:00
      expect(e.mode & 0o170000).toBe(0o100000);
      expect(e.data).toEqual(fs.readFileSync(path.join(dir, e.name)));
    }

    // Same folder, same bytes (another output folder, a later time).
    const again = await bundlePlugin(dir, tempDir());
    expect(fs.readFileSync(again.file).equals(fs.readFileSync(result.file))).toBe(true);
  });

  test('a bundle written into the plugin folder is not bundled next time', async () => {
    const dir = copyPeer('plugin-rust-job-type');
    const first = await bundlePlugin(dir, dir);
    const second = await bundlePlugin(dir, dir);
    expect(second.files).not.toContain('rust-job-type-1.3.0.zip');
    expect(second.files).toEqual(first.files);
  });

  test('keeps file modes', async () => {
    const dir = copyPeer('plugin-go-job-type');
    write(path.join(dir, 'bin/run.sh'), '#!/bin/sh\n', 0o755);
    const result = await bundlePlugin(dir, tempDir());
    const run = (await listZip(fs.readFileSync(result.file))).find((e) => e.name === 'bin/run.sh');
    expect(run!.mode).toBe(0o100755);
  });

  test('refuses a symlink leading outside the folder, names it; follows one inside', async () => {
    const outside = path.join(tempDir(), 'secret.txt');
    write(outside, 'secret\n');
    const dir = copyPeer('plugin-rust-job-type');
    fs.symlinkSync('base.Dockerfile', path.join(dir, 'alias.Dockerfile'));
    fs.mkdirSync(path.join(dir, 'target'));
    fs.symlinkSync(outside, path.join(dir, 'target/ignored-link')); // excluded by `target`: never looked at
    const ok = await bundlePlugin(dir, tempDir());
    const alias = (await listZip(fs.readFileSync(ok.file))).find((e) => e.name === 'alias.Dockerfile');
    expect(alias!.data).toEqual(fs.readFileSync(path.join(dir, 'base.Dockerfile')));

    fs.symlinkSync(outside, path.join(dir, 'leak.txt'));
    const out = tempDir();
    const err = await bundlePlugin(dir, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as Error).message).toMatch(/^symlink leak\.txt -> .*secret\.txt points outside the plugin folder/);
    expect(fs.readdirSync(out)).toEqual([]);

    fs.rmSync(path.join(dir, 'leak.txt'));
    fs.symlinkSync('../..', path.join(dir, 'up'));
    await expect(bundlePlugin(dir, out)).rejects.toThrow(/^symlink up -> \.\.\/\.\. points outside the plugin folder/);
  });

  test('refuses a folder without a valid manifest or template', async () => {
    const dir = copyPeer('plugin-go-job-type');
    fs.writeFileSync(path.join(dir, '.racetrackignore'), 'job-template.Dockerfile\n');
    await expect(bundlePlugin(dir, tempDir())).rejects.toThrow('job-template.Dockerfile is excluded by .racetrackignore');
    fs.writeFileSync(path.join(dir, 'plugin-manifest.yaml'), 'name: golang-job-type\nversion: 1.5\n');
    await expect(bundlePlugin(dir, tempDir())).rejects.toThrow(/plugin-manifest\.yaml: field "version"/);
  });
});

describe('extractBundle', () => {
  test('round trip: bundle, extract, read the manifest', async () => {
    const dir = copyPeer('plugin-python-job-type');
    write(path.join(dir, 'python_wrapper/main.py'), 'print(1)\n');
    write(path.join(dir, 'bin/run.sh'), '#!/bin/sh\n', 0o755);
    const bundle = await bundlePlugin(dir, tempDir());
    const target = path.join(tempDir(), 'installed');
    const { files } = await extractBundle(fs.readFileSync(bundle.file), target);
    expect(files).toEqual(bundle.files);
    for (const f of files) expect(fs.readFileSync(path.join(target, f))).toEqual(fs.readFileSync(path.join(dir, f)));
    expect(fs.statSync(path.join(target, 'bin/run.sh')).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(target, 'job.yaml')).mode & 0o777).toBe(0o644);
    expect(readBundleManifest(target)).toMatchObject({ name: 'python3-job-type', version: '2.15.1' });
    expect(fs.readdirSync(path.dirname(target))).toEqual(['installed']); // no staging folder left
  });

  test('extracts into an empty folder; refuses a non-empty one and leaves it alone', async () => {
    const zip = await yazlZip((z) => z.addBuffer(Buffer.from('a'), 'a.txt'));
    const empty = tempDir();
    expect(await extractBundle(zip, empty)).toEqual({ files: ['a.txt'] });
    await expect(extractBundle(zip, empty)).rejects.toThrow(/the folder is not empty/);
    expect(fs.readdirSync(empty)).toEqual(['a.txt']);
  });

  test('folder entries and nested files', async () => {
    const zip = await yazlZip((z) => {
      z.addEmptyDirectory('d/');
      z.addBuffer(Buffer.from('x'), 'd/e/f.txt');
      z.addEmptyDirectory('empty');
    });
    const target = path.join(tempDir(), 't');
    expect((await extractBundle(zip, target)).files).toEqual(['d/e/f.txt']);
    expect(fs.statSync(path.join(target, 'empty')).isDirectory()).toBe(true);
  });

  const ok = { name: 'ok.txt', data: Buffer.from('fine\n') };
  const bomb = Buffer.alloc(1024 * 1024); // 1 MiB of zeros deflates to about 1 KiB
  const hostile: { name: string; zip: () => Promise<Buffer>; error: RegExp; limits?: Record<string, number> }[] = [
    { name: 'zip slip ../evil.txt', zip: async () => rawZip([ok, { name: '../evil.txt', data: Buffer.from('evil') }]), error: /^refused entry "\.\.\/evil\.txt": '\.\.' path segment/ },
    { name: 'zip slip a/../../evil.txt', zip: async () => rawZip([ok, { name: 'a/../../evil.txt', data: Buffer.from('evil') }]), error: /^refused entry "a\/\.\.\/\.\.\/evil\.txt": '\.\.' path segment/ },
    { name: 'absolute path', zip: async () => rawZip([ok, { name: '/tmp/strata-evil.txt', data: Buffer.from('evil') }]), error: /^refused entry "\/tmp\/strata-evil\.txt": absolute path/ },
    { name: 'backslash ..\\evil.txt', zip: async () => rawZip([ok, { name: '..\\evil.txt', data: Buffer.from('evil') }]), error: /^refused entry "\.\.\\\\evil\.txt": backslash in the file name/ },
    { name: 'Windows drive C:/evil.txt', zip: async () => rawZip([ok, { name: 'C:/evil.txt', data: Buffer.from('evil') }]), error: /^refused entry "C:\/evil\.txt": absolute Windows path/ },
    { name: 'empty segment', zip: async () => rawZip([ok, { name: 'a//evil.txt', data: Buffer.from('evil') }]), error: /^refused entry "a\/\/evil\.txt": empty or '\.' path segment/ },
    {
      name: 'symlink entry',
      zip: () => yazlZip((z) => { z.addBuffer(ok.data, ok.name); z.addBuffer(Buffer.from('/etc/passwd'), 'link', { mode: 0o120777 }); }),
      error: /^refused entry "link": symbolic link entries are not allowed/,
    },
    {
      name: 'a header that lies about the size (declares 10 bytes, inflates to 1 MiB)',
      zip: async () => rawZip([ok, { name: 'bomb.txt', data: bomb, deflate: true, declaredSize: 10 }]),
      error: /^refused entry "bomb\.txt": inflates to more than its declared uncompressed size of 10 bytes .*stopped after \d+ bytes/,
      limits: { maxEntryBytes: 1000 },
    },
    {
      name: 'an honest entry over the size limit',
      zip: () => yazlZip((z) => { z.addBuffer(ok.data, ok.name); z.addBuffer(Buffer.alloc(5000), 'big.bin'); }),
      error: /^refused entry "big\.bin": declared uncompressed size 5000 bytes exceeds the limit of 1000 bytes per entry/,
      limits: { maxEntryBytes: 1000 },
    },
    {
      name: 'total size over the limit',
      zip: () => yazlZip((z) => { for (const n of ['a', 'b', 'c']) z.addBuffer(Buffer.alloc(800), n); }),
      error: /^refused entry "c": the declared uncompressed sizes add up to more than the limit of 2000 bytes/,
      limits: { maxTotalBytes: 2000 },
    },
    {
      name: 'too many entries',
      zip: () => yazlZip((z) => { for (let i = 0; i < 6; i++) z.addBuffer(Buffer.from('x'), `f${i}.txt`); }),
      error: /^refused the bundle: too many entries \(6, the limit is 5\)/,
      limits: { maxEntries: 5 },
    },
    { name: 'duplicate entries', zip: () => yazlZip((z) => { z.addBuffer(ok.data, ok.name); z.addBuffer(Buffer.from('again'), ok.name); }), error: /^refused entry "ok\.txt": duplicate entry/ },
    { name: 'file entry under a file entry', zip: async () => rawZip([ok, { name: 'ok.txt/evil.txt', data: Buffer.from('evil') }]), error: /^refused entry "ok\.txt\/evil\.txt": its parent "ok\.txt" is a file entry/ },
    { name: 'encrypted entry', zip: async () => rawZip([ok, { name: 'secret.txt', data: Buffer.alloc(20), flags: 1 }]), error: /^refused entry "secret\.txt": encrypted entries are not supported/ },
    { name: 'CRC mismatch', zip: async () => rawZip([ok, { name: 'corrupt.txt', data: Buffer.from('data'), crc: 1234 }]), error: /^refused entry "corrupt\.txt": CRC-32 mismatch/ },
    { name: 'not a ZIP at all', zip: async () => Buffer.from('this is not a zip file, just text\n'.repeat(3)), error: /^refused the bundle: not a ZIP archive/ },
  ];

  test.each(hostile)('refuses $name and leaves nothing behind', async ({ zip, error, limits }) => {
    const base = tempDir();
    const parent = path.join(base, 'plugins');
    fs.mkdirSync(parent);
    const target = path.join(parent, 'target');
    const err = await extractBundle(await zip(), target, limits).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as Error).message).toMatch(error);
    expect(fs.readdirSync(parent)).toEqual([]); // no target, no staging folder, no evil.txt
    expect(fs.readdirSync(base)).toEqual(['plugins']);
    expect(fs.existsSync('/tmp/strata-evil.txt')).toBe(false);
  });

  test('the lying header is caught while inflating, long before the 1 MiB', async () => {
    const err = (await extractBundle(rawZip([{ name: 'bomb.txt', data: bomb, deflate: true, declaredSize: 10 }]), path.join(tempDir(), 't')).catch((e: unknown) => e)) as Error;
    const read = Number(/stopped after (\d+) bytes/.exec(err.message)![1]);
    expect(read).toBeGreaterThan(10);
    expect(read).toBeLessThan(bomb.length);
  });

  test('an honest header over the limit is refused before anything is inflated', async () => {
    const err = (await extractBundle(rawZip([{ name: 'huge.bin', data: bomb, deflate: true }]), path.join(tempDir(), 't'), { maxEntryBytes: 1000 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(`refused entry "huge.bin": declared uncompressed size ${bomb.length} bytes exceeds the limit of 1000 bytes per entry`);
  });
});

describe('readBundleManifest', () => {
  test('says what is missing', () => {
    const dir = tempDir();
    expect(() => readBundleManifest(dir)).toThrow('the bundle has no plugin-manifest.yaml at its root');
    write(path.join(dir, 'my-plugin/plugin-manifest.yaml'), 'name: a\nversion: 1.0.0\n');
    expect(() => readBundleManifest(dir)).toThrow('but my-plugin/plugin-manifest.yaml: zip the plugin folder');
    write(path.join(dir, 'plugin-manifest.yaml'), 'name: a\nversion: 1.0.0\n');
    expect(() => readBundleManifest(dir)).toThrow('the bundle of a 1.0.0 has no job-template.Dockerfile at its root');
    write(path.join(dir, 'job-template.Dockerfile'), 'FROM scratch\n');
    expect(readBundleManifest(dir).name).toBe('a');
  });
});
