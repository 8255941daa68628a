/**
 * `.racetrackignore`: which files of a job-type plugin folder go into its ZIP bundle. A port of Racetrack's
 * racetrack_client/plugin/bundler/filename_matcher.py (TheRacetrack/racetrack @ e582129), kept faithful
 * so that a plugin folder bundles to the same file list with Strata and with `racetrack plugin bundle`:
 *
 * - One pattern per line; empty lines are skipped. Nothing else is special: no comments (`# x` is a
 *   pattern), no trimming (a trailing space is part of the pattern), no `\` escapes.
 * - `-pattern` or a bare `pattern` excludes, `+pattern` or `!pattern` includes. Every rule is evaluated in
 *   order and the last one that matches decides; a path no rule matches is included.
 * - Racetrack's defaults ({@link DEFAULT_IGNORE_PATTERNS}) are appended after the file's rules, so they
 *   win: `+*.zip` or `!/plugin-manifest.yaml` cannot re-include those.
 * - Patterns are Python `fnmatch.fnmatchcase` globs (`*`, `?`, `[seq]`, `[!seq]`, case-sensitive), but
 *   they are matched against one path component at a time, so `*` never reaches across a `/`:
 *   - `/a/b` (leading slash) is anchored: its components must match the first components of the path, so
 *     it matches the file or folder `a/b` and everything under it.
 *   - `name` (one component) matches when ANY component of the path matches it: a file or folder of that
 *     name at any depth, and everything under such a folder.
 *   - `a/b` (several components, no leading slash) matches when the path's LAST components match: the
 *     file or folder `a/b` at any depth, but not the files under it (`go_wrapper/swaggerui/*.map`).
 * - Only files are matched, each by its whole relative path (bundle.py skips directories and never prunes
 *   one), so a file can be re-included inside an excluded folder: `-/dir` then `+/dir/keep`.
 */

/** Racetrack's DEFAULT_IGNORE_PATTERNS, appended after the file's own rules. */
export const DEFAULT_IGNORE_PATTERNS: readonly string[] = [
  '*.zip',
  '.git',
  '*.pyc',
  '__pycache__',
  '.gitignore',
  '/.racetrackignore',
  '/plugin-manifest.yaml',
];

export interface IgnoreRule {
  /** The glob, without its `-`, `+` or `!` prefix. */
  pattern: string;
  /** What a matching path becomes: true for `+`/`!` rules, false for `-` and unprefixed ones. */
  include: boolean;
  /** The line as written. */
  source: string;
}

/** Python's str.splitlines() boundaries (read_text() has already turned \r\n and \r into \n). */
const LINE_BREAKS = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

export function parseIgnoreLine(line: string): IgnoreRule {
  if (line.startsWith('-')) return { pattern: line.slice(1), include: false, source: line };
  if (line.startsWith('+') || line.startsWith('!')) return { pattern: line.slice(1), include: true, source: line };
  return { pattern: line, include: false, source: line };
}

/** The rules of a `.racetrackignore` file, in order, without the defaults. */
export function parseIgnoreFile(text: string): IgnoreRule[] {
  return text
    .split(LINE_BREAKS)
    .filter((line) => line !== '')
    .map(parseIgnoreLine);
}

export class FilenameMatcher {
  /** The rules evaluated, in order: the given ones, then the defaults (unless `applyDefaults: false`). */
  readonly rules: readonly IgnoreRule[];

  constructor(rules: readonly IgnoreRule[] = [], options: { applyDefaults?: boolean } = {}) {
    this.rules = [...rules, ...(options.applyDefaults === false ? [] : DEFAULT_IGNORE_PATTERNS.map(parseIgnoreLine))];
  }

  /** Whether the file at this relative, `/`-separated path goes into the bundle. */
  isIncluded(relativePath: string): boolean {
    let result = true;
    for (const rule of this.rules) if (matchFilePattern(relativePath, rule.pattern)) result = rule.include;
    return result;
  }

  /**
   * True when no file under this folder can be included, so a walk may skip it. An optimisation only
   * (Racetrack walks everything): it holds when every rule excludes and one of the rules that cover a
   * folder's content (anchored, or a single component) matches the folder. A multi-component unanchored
   * rule matches the folder itself but not the files under it, so it does not count.
   */
  excludesEverythingUnder(relativeDir: string): boolean {
    if (this.rules.some((r) => r.include)) return false;
    return this.rules.some(
      (r) => (r.pattern.startsWith('/') || posixParts(r.pattern).length === 1) && matchFilePattern(relativeDir, r.pattern),
    );
  }
}

/**
 * The components of a path as Python's `PurePosixPath(p).parts` gives them: empty and `.` components
 * are dropped, a leading `/` (or exactly two, `//`) is a component of its own.
 */
export function posixParts(p: string): string[] {
  let root = '';
  if (p.startsWith('/')) root = p.startsWith('//') && !p.startsWith('///') ? '//' : '/';
  const rest = p.split('/').filter((part) => part !== '' && part !== '.');
  return root ? [root, ...rest] : rest;
}

/** Racetrack's match_file_pattern(relative_path, pattern). */
export function matchFilePattern(relativePath: string, pattern: string): boolean {
  const pathParts = posixParts(relativePath);
  if (pattern.startsWith('/')) {
    // Anchored: the pattern's components match the path's first components.
    const patternParts = posixParts(pattern.slice(1));
    if (pathParts.length < patternParts.length) return false;
    return patternParts.every((part, i) => fnmatchcase(pathParts[i], part));
  }
  const patternParts = posixParts(pattern);
  // Racetrack matches the raw pattern here, not its one component: `dir/` or `./dir` never match anything.
  if (patternParts.length === 1) return pathParts.some((part) => fnmatchcase(part, pattern));
  if (patternParts.length > 1) {
    // Unanchored, several components: they match the path's last components.
    if (pathParts.length < patternParts.length) return false;
    const offset = pathParts.length - patternParts.length;
    return patternParts.every((part, i) => fnmatchcase(pathParts[offset + i], part));
  }
  return false; // an empty pattern (`-`, `.`) matches nothing
}

const compiled = new Map<string, RegExp>();

/** Python's fnmatch.fnmatchcase(name, pattern): the whole name, case-sensitive, `*` matches `/` too. */
export function fnmatchcase(name: string, pattern: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(translateGlob(pattern), 'su');
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(name);
}

const lit = (c: string) => `\\u{${c.codePointAt(0)!.toString(16)}}`;
const cp = (c: string | undefined) => (c === undefined ? -1 : c.codePointAt(0)!);

/**
 * A port of CPython 3.11+ fnmatch.translate to a JavaScript `su` RegExp source. Patterns are handled as
 * code points, like Python strings. Bracket expressions follow Python's quirks: `!` negates, a `]` right
 * after `[` or `[!` is literal, `[` without a closing `]` is a literal `[`, a `-` first or last is literal,
 * ranges whose start is above their end are dropped, `[]` never matches, and a negated empty set
 * matches any character.
 */
export function translateGlob(pattern: string): string {
  const p = Array.from(pattern);
  const n = p.length;
  let i = 0;
  let out = '';
  let lastStar = false;
  while (i < n) {
    const c = p[i++];
    if (c === '*') {
      if (!lastStar) out += '.*';
      lastStar = true;
      continue;
    }
    lastStar = false;
    if (c === '?') out += '.';
    else if (c === '[') {
      let j = i;
      if (j < n && p[j] === '!') j++;
      if (j < n && p[j] === ']') j++;
      while (j < n && p[j] !== ']') j++;
      if (j >= n) {
        out += lit('[');
        continue;
      }
      let chunks: string[][];
      if (!p.slice(i, j).includes('-')) chunks = [p.slice(i, j)];
      else {
        // Split at the hyphens that make ranges, exactly as CPython does.
        chunks = [];
        let start = i;
        let k = p[start] === '!' ? start + 2 : start + 1;
        for (;;) {
          k = p.indexOf('-', k);
          if (k < 0 || k >= j) break;
          chunks.push(p.slice(start, k));
          start = k + 1;
          k += 3;
        }
        const chunk = p.slice(start, j);
        if (chunk.length) chunks.push(chunk);
        else chunks[chunks.length - 1].push('-');
        // Remove empty ranges (start above end), merging their neighbours.
        for (let m = chunks.length - 1; m > 0; m--) {
          if (cp(chunks[m - 1].at(-1)) > cp(chunks[m][0])) {
            chunks[m - 1] = [...chunks[m - 1].slice(0, -1), ...chunks[m].slice(1)];
            chunks.splice(m, 1);
          }
        }
      }
      i = j + 1;
      out += bracket(chunks);
    } else out += lit(c);
  }
  return `^${out}$`;
}

/** A character class from CPython's chunks: literal characters, and a range between adjacent chunks. */
function bracket(chunks: string[][]): string {
  if (chunks.length === 1 && chunks[0].length === 0) return '(?!)';
  if (chunks.length === 1 && chunks[0].length === 1 && chunks[0][0] === '!') return '.';
  const negate = chunks[0][0] === '!';
  if (negate) chunks = [chunks[0].slice(1), ...chunks.slice(1)];
  let cls = '';
  if (chunks[0].length === 0 && chunks.length > 1) {
    // Only after `!` plus a dropped range: CPython's class then reads `[^-…]`, whose `-` is literal.
    cls += lit('-');
    chunks = chunks.slice(1);
  }
  for (let m = 0; m < chunks.length; m++) {
    const chunk = chunks[m];
    const from = m > 0 ? 1 : 0; // the first character of a later chunk ended the previous range
    const to = m < chunks.length - 1 ? chunk.length - 1 : chunk.length; // the last one starts the next
    for (let x = from; x < to; x++) cls += lit(chunk[x]);
    if (m < chunks.length - 1) {
      const a = chunk.at(-1);
      const b = chunks[m + 1][0];
      if (a === undefined || b === undefined) throw new Error(`invalid pattern range in ${JSON.stringify(chunks.flat().join(''))}`);
      cls += `${lit(a)}-${lit(b)}`;
    }
  }
  return `[${negate ? '^' : ''}${cls}]`;
}
