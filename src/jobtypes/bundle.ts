/**
 * Job-type plugin bundles: the ZIP of a plugin folder, compatible with Racetrack's `racetrack plugin
 * bundle` (racetrack_client/plugin/bundler/bundle.py @ e582129) and with its loader, and an extractor for
 * bundles uploaded by anyone, which must survive hostile archives.
 *
 * Bundling, like bundle.py: every file under the folder whose relative path the `.racetrackignore`
 * matcher includes (see ignore.ts), stored uncompressed (ZIP_STORED) under its `/`-separated relative
 * path, no directory entries, then `plugin-manifest.yaml` last; the ZIP is `<name>-<version>.zip`.
 * Strata's differences: files are sorted; timestamps are fixed (1980-01-01 00:00, no extended-timestamp
 * field) so a folder always gives the same bytes; the manifest is copied verbatim (Racetrack re-dumps it
 * with a `build_date`, which would break reproducibility); `plugin.py` is not required (Strata never runs
 * plugin code) but `job-template.Dockerfile` is; symlinks are resolved: one to a file inside the folder is
 * stored as that file, one to a folder inside is skipped (Python's rglob does not descend into it), and
 * one leading outside the folder, or nowhere, is refused.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { StrataError } from '../errors.js';
import { FilenameMatcher, parseIgnoreFile } from './ignore.js';
import { PLUGIN_MANIFEST_FILENAME, parsePluginManifest, type PluginManifest } from './pluginManifest.js';

export const IGNORE_FILENAME = '.racetrackignore';
export const TEMPLATE_FILENAME = 'job-template.Dockerfile';

/** A refused plugin folder or bundle. `entry` is the ZIP entry (or folder path) at fault, when there is one. */
export class BundleError extends StrataError {
  constructor(
    message: string,
    readonly entry?: string,
  ) {
    super('invalid_plugin', message, entry === undefined ? {} : { entry });
    this.name = 'BundleError';
  }
}

const show = (name: string) => JSON.stringify(name);

// ---------------------------------------------------------------------------------------------------------
// Bundling

/** Every ZIP entry gets this time: the DOS epoch, in local time, which is how DOS timestamps are read. */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);

interface FileToBundle {
  relative: string;
  absolute: string;
  mode: number;
}

export async function bundlePlugin(pluginDir: string, outDir: string): Promise<{ file: string; manifest: PluginManifest; files: string[] }> {
  let root: string;
  try {
    root = fs.realpathSync(path.resolve(pluginDir));
  } catch {
    throw new BundleError(`plugin folder ${pluginDir} does not exist`);
  }
  if (!fs.statSync(root).isDirectory()) throw new BundleError(`${pluginDir} is not a folder`);
  const manifestFile = path.join(root, PLUGIN_MANIFEST_FILENAME);
  if (!isRegularFile(manifestFile)) throw new BundleError(`${pluginDir} has no ${PLUGIN_MANIFEST_FILENAME}`, PLUGIN_MANIFEST_FILENAME);
  const manifestText = fs.readFileSync(manifestFile);
  const manifest = parsePluginManifest(manifestFile, manifestText.toString('utf8'));

  const ignoreFile = path.join(root, IGNORE_FILENAME);
  const matcher = new FilenameMatcher(isRegularFile(ignoreFile) ? parseIgnoreFile(fs.readFileSync(ignoreFile, 'utf8')) : []);
  const found: FileToBundle[] = [];
  walk(root, root, '', matcher, found);
  found.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0));
  if (!found.some((f) => f.relative === TEMPLATE_FILENAME)) {
    throw new BundleError(
      fs.existsSync(path.join(root, TEMPLATE_FILENAME))
        ? `${TEMPLATE_FILENAME} is excluded by ${IGNORE_FILENAME}; a job-type plugin needs it`
        : `${pluginDir} has no ${TEMPLATE_FILENAME}; a job-type plugin needs it`,
      TEMPLATE_FILENAME,
    );
  }

  const zip = new yazl.ZipFile();
  const options = (mode: number) => ({ mtime: FIXED_MTIME, mode: 0o100000 | (mode & 0o777), compress: false, forceDosTimestamp: true });
  for (const f of found) zip.addBuffer(fs.readFileSync(f.absolute), f.relative, options(f.mode));
  // bundle.py writes the manifest itself, last (its defaults exclude /plugin-manifest.yaml from the walk).
  zip.addBuffer(manifestText, PLUGIN_MANIFEST_FILENAME, options(fs.statSync(manifestFile).mode));
  zip.end();
  const bytes = await streamToBuffer(zip.outputStream);

  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(path.resolve(outDir), `${manifest.name}-${manifest.version}.zip`);
  const partial = `${file}.${process.pid}.partial`;
  fs.writeFileSync(partial, bytes);
  fs.renameSync(partial, file);
  return { file, manifest, files: [...found.map((f) => f.relative), PLUGIN_MANIFEST_FILENAME] };
}

function walk(root: string, dir: string, relDir: string, matcher: FilenameMatcher, out: FileToBundle[]): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const absolute = path.join(dir, entry.name);
    const relative = relDir ? `${relDir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (!matcher.excludesEverythingUnder(relative)) walk(root, absolute, relative, matcher, out);
      continue;
    }
    if (!matcher.isIncluded(relative)) continue;
    if (entry.isSymbolicLink()) {
      let target: string;
      try {
        target = fs.realpathSync(absolute);
      } catch {
        throw new BundleError(`symlink ${relative} -> ${fs.readlinkSync(absolute)} is broken; refusing to bundle it`, relative);
      }
      const inside = path.relative(root, target);
      if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside))
        throw new BundleError(`symlink ${relative} -> ${fs.readlinkSync(absolute)} points outside the plugin folder (to ${target}); refusing to bundle it`, relative);
      const stat = fs.statSync(target);
      if (stat.isDirectory()) continue; // like Python's rglob, which does not descend into linked folders
      if (!stat.isFile()) throw new BundleError(`${relative} is not a regular file; refusing to bundle it`, relative);
      out.push({ relative, absolute: target, mode: stat.mode });
      continue;
    }
    if (!entry.isFile()) throw new BundleError(`${relative} is not a regular file (a FIFO, socket or device); refusing to bundle it`, relative);
    out.push({ relative, absolute, mode: fs.statSync(absolute).mode });
  }
}

function isRegularFile(file: string): boolean {
  try {
    return fs.lstatSync(file).isFile();
  } catch {
    return false;
  }
}

function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Extraction

export interface ExtractLimits {
  /** Entries in the archive, folders included. */
  maxEntries: number;
  /** Uncompressed bytes of one entry, as declared and as actually inflated. */
  maxEntryBytes: number;
  /** Uncompressed bytes of all entries. */
  maxTotalBytes: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = { maxEntries: 10_000, maxEntryBytes: 100 * MiB, maxTotalBytes: 500 * MiB };

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** Why this entry name is refused, or undefined. Paths must be relative, `/`-separated, without `.`/`..`. */
export function entryNameProblem(name: string): string | undefined {
  if (name === '' || name === '/') return 'empty file name';
  if (name.includes('\0')) return 'NUL character in the file name';
  if (name.includes('\\')) return "backslash in the file name: ZIP paths use '/', and '\\' could be a Windows path separator";
  if (/^[A-Za-z]:/.test(name)) return 'absolute Windows path (drive letter)';
  if (name.startsWith('/')) return 'absolute path';
  const segments = (name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  if (segments.includes('..')) return "'..' path segment, which could escape the target folder";
  if (segments.some((s) => s === '' || s === '.')) return "empty or '.' path segment";
  return undefined;
}

/**
 * Extracts a plugin bundle into `targetDir`, which must not exist or be empty. Everything is first
 * written to a temporary folder beside it and renamed into place at the end, so a refused archive leaves
 * nothing behind. Refused, with a BundleError naming the entry and the reason: entry names that are
 * absolute, contain `..`, `.`, empty segments or backslashes; symlinks and other non-regular entries;
 * encrypted entries and compression other than stored/deflate; duplicate or conflicting entries;
 * declared or actual (counted while inflating, stopping at the first byte over) sizes above the limits
 * or above the size the entry declares; CRC mismatches; too many entries; and anything that is not a ZIP.
 * Extracted files get mode 0644, or 0755 when the entry has an executable bit; folders 0755.
 * Returns the file entries (not folders) in archive order.
 */
export async function extractBundle(zip: Buffer, targetDir: string, limits: Partial<ExtractLimits> = {}): Promise<{ files: string[] }> {
  const max: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS, ...limits };
  const target = path.resolve(targetDir);
  const targetExists = checkTarget(target);

  let zipfile: yauzl.ZipFile;
  try {
    zipfile = await yauzl.fromBufferPromise(zip, { lazyEntries: true, decodeStrings: false, validateEntrySizes: false, strictFileNames: true });
  } catch (err) {
    throw new BundleError(`refused the bundle: not a ZIP archive (${(err as Error).message})`);
  }
  if (zipfile.entryCount > max.maxEntries)
    throw new BundleError(`refused the bundle: too many entries (${zipfile.entryCount}, the limit is ${max.maxEntries})`);

  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const staging = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.extracting-`));
  try {
    const files = await extractEntries(zipfile, staging, max);
    if (targetExists) fs.rmdirSync(target);
    fs.renameSync(staging, target);
    return { files };
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  } finally {
    zipfile.close();
  }
}

/** True when the target is an existing empty folder, false when it does not exist; refuses the rest. */
function checkTarget(target: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (!stat.isDirectory()) throw new BundleError(`cannot extract into ${target}: it exists and is not a folder`);
  if (fs.readdirSync(target).length > 0) throw new BundleError(`cannot extract into ${target}: the folder is not empty`);
  return true;
}

async function extractEntries(zipfile: yauzl.ZipFile, staging: string, max: ExtractLimits): Promise<string[]> {
  const files: string[] = [];
  const fileNames = new Set<string>();
  const dirNames = new Set<string>(); // explicit folder entries
  const impliedDirs = new Set<string>(); // parents of entries
  let declaredTotal = 0;
  let actualTotal = 0;
  let index = 0;
  let name = '';

  const iterator = zipfile.eachEntry();
  for (;;) {
    let next: IteratorResult<yauzl.Entry>;
    try {
      next = await iterator.next();
    } catch (err) {
      const where = index === 0 ? 'its first entry' : `the entry after ${show(name)}`;
      throw new BundleError(`refused the bundle: invalid ZIP at ${where} (${(err as Error).message})`);
    }
    if (next.done) break;
    const entry = next.value;
    index++;
    if (index > max.maxEntries) throw new BundleError(`refused the bundle: too many entries (more than ${max.maxEntries})`);

    // With decodeStrings: false, fileName is the raw bytes; decode it without yauzl's backslash rewrite.
    name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
    const refuse = (reason: string): never => {
      throw new BundleError(`refused entry ${show(name)}: ${reason}`, name);
    };

    const problem = entryNameProblem(name);
    if (problem) refuse(problem);
    const isDir = name.endsWith('/');
    const clean = isDir ? name.slice(0, -1) : name;
    const destination = path.resolve(staging, ...clean.split('/'));
    const rel = path.relative(staging, destination);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) refuse('the path escapes the target folder');

    const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
    const type = unixMode & S_IFMT;
    if (type === S_IFLNK) refuse('symbolic link entries are not allowed');
    if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) refuse(`special file entry (file type 0o${type.toString(8)}); only files and folders are allowed`);
    if (type === S_IFDIR && !isDir) refuse("its mode says folder but its name does not end with '/'");
    if (entry.isEncrypted()) refuse('encrypted entries are not supported');
    if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)
      refuse(`unsupported compression method ${entry.compressionMethod} (only stored and deflate)`);

    if (fileNames.has(clean) || (isDir && dirNames.has(clean))) refuse('duplicate entry');
    if (!isDir && (dirNames.has(clean) || impliedDirs.has(clean))) refuse('a file entry with the name of a folder entry');
    const ancestors = clean.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    const fileAncestor = ancestors.find((a) => fileNames.has(a));
    if (fileAncestor !== undefined) refuse(`its parent ${show(fileAncestor)} is a file entry`);

    if (isDir) {
      dirNames.add(clean);
      for (const a of ancestors) impliedDirs.add(a);
      fs.mkdirSync(destination, { recursive: true, mode: 0o755 });
      continue;
    }

    const declared = entry.uncompressedSize;
    if (declared > max.maxEntryBytes) refuse(`declared uncompressed size ${declared} bytes exceeds the limit of ${max.maxEntryBytes} bytes per entry`);
    if (declaredTotal + declared > max.maxTotalBytes)
      refuse(`the declared uncompressed sizes add up to more than the limit of ${max.maxTotalBytes} bytes for the whole bundle`);
    declaredTotal += declared;

    fileNames.add(clean);
    for (const a of ancestors) impliedDirs.add(a);
    fs.mkdirSync(path.dirname(destination), { recursive: true, mode: 0o755 });
    const mode = unixMode & 0o111 ? 0o755 : 0o644;

    let fd: number;
    try {
      fd = fs.openSync(destination, 'wx', 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR')
        return refuse(`collides with another entry on this file system (${code}; names differing only in case?)`);
      throw err;
    }
    try {
      let stream: NodeJS.ReadableStream;
      try {
        stream = await zipfile.openReadStreamPromise(entry);
      } catch (err) {
        return refuse(`cannot be read (${(err as Error).message})`);
      }
      let count = 0;
      let crc = 0;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          count += chunk.length;
          if (count > declared) refuse(`inflates to more than its declared uncompressed size of ${declared} bytes (a zip bomb or a corrupt archive); stopped after ${count} bytes`);
          if (count > max.maxEntryBytes) refuse(`actual uncompressed size exceeds the limit of ${max.maxEntryBytes} bytes per entry`);
          if (actualTotal + count > max.maxTotalBytes) refuse(`the uncompressed sizes add up to more than the limit of ${max.maxTotalBytes} bytes for the whole bundle`);
          crc = zlib.crc32(chunk, crc);
          fs.writeSync(fd, chunk);
        }
      } catch (err) {
        if (err instanceof BundleError) throw err;
        return refuse(`corrupt data (${(err as Error).message})`);
      }
      if (count !== declared) refuse(`inflates to ${count} bytes but declares ${declared}`);
      if (crc >>> 0 !== entry.crc32 >>> 0) refuse('CRC-32 mismatch: the data is corrupt');
      actualTotal += count;
    } finally {
      fs.closeSync(fd);
    }
    await fsp.chmod(destination, mode);
    files.push(clean);
  }
  return files;
}

/**
 * The manifest of an extracted bundle: `plugin-manifest.yaml` at its root, validated, and a
 * `job-template.Dockerfile` beside it. A manifest one folder down means the folder was zipped instead of
 * its content, and the error says so.
 */
export function readBundleManifest(dir: string): PluginManifest {
  const manifestFile = path.join(dir, PLUGIN_MANIFEST_FILENAME);
  if (!isRegularFile(manifestFile)) {
    const nested = safeReaddir(dir).find((d) => isRegularFile(path.join(dir, d, PLUGIN_MANIFEST_FILENAME)));
    throw new BundleError(
      nested === undefined
        ? `the bundle has no ${PLUGIN_MANIFEST_FILENAME} at its root`
        : `the bundle has no ${PLUGIN_MANIFEST_FILENAME} at its root, but ${nested}/${PLUGIN_MANIFEST_FILENAME}: zip the plugin folder's content, not the folder`,
      PLUGIN_MANIFEST_FILENAME,
    );
  }
  const manifest = parsePluginManifest(`${PLUGIN_MANIFEST_FILENAME} in the bundle`, fs.readFileSync(manifestFile, 'utf8'));
  if (!isRegularFile(path.join(dir, TEMPLATE_FILENAME)))
    throw new BundleError(`the bundle of ${manifest.name} ${manifest.version} has no ${TEMPLATE_FILENAME} at its root; a job-type plugin needs it`, TEMPLATE_FILENAME);
  return manifest;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
