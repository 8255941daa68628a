/**
 * Git for deployments: one bare mirror per repository under the data folder, fetched only for what it
 * lacks, and the export of one job folder at one commit. Every git command runs with only the https,
 * ssh and file transports allowed, so a hostile URL or submodule cannot reach `ext::` and run commands.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { StrataError } from '../errors.js';
import { branchProblem, folderProblem, repoUrlProblem } from './source.js';

const SAFE_GIT = [
  '-c', 'protocol.allow=never',
  '-c', 'protocol.https.allow=always',
  '-c', 'protocol.ssh.allow=always',
  '-c', 'protocol.file.allow=always',
  '-c', 'core.symlinks=true',
  '-c', 'advice.detachedHead=false',
  // A server that does not answer, or stalls, fails the fetch (a platform error, retried) instead of hanging it.
  '-c', 'http.lowSpeedLimit=1000',
  '-c', 'http.lowSpeedTime=60',
];

const GIT_ENV = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: 'true',
  SSH_ASKPASS: 'true',
  GIT_SSH_COMMAND: 'ssh -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=4',
};

async function git(gitDir: string, args: string[]) {
  return execa('git', [...SAFE_GIT, `--git-dir=${gitDir}`, ...args], { env: GIT_ENV, reject: false });
}

/** Serialises work on one mirror within this process (git's own locks guard it across processes). */
const mirrorLocks = new Map<string, Promise<unknown>>();
async function withMirrorLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const previous = mirrorLocks.get(dir) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(fn);
  mirrorLocks.set(dir, next);
  try {
    return await next;
  } finally {
    if (mirrorLocks.get(dir) === next) mirrorLocks.delete(dir);
  }
}

export interface FetchedCommit {
  commit: string;
  /** The mirror's git directory. */
  mirror: string;
  /** Whether anything had to be fetched from the remote. */
  fetched: boolean;
}

/** Makes sure the mirror of `repo` has `commit` (or the tip of `branch`), fetching only when it lacks it. */
export async function fetchCommit(mirrorsDir: string, repo: string, ref: { commit?: string; branch?: string }): Promise<FetchedCommit> {
  const urlProblem = repoUrlProblem(repo);
  if (urlProblem) throw new StrataError('invalid_repo', `repository refused: ${urlProblem}`, { field: 'repo' });
  if (ref.branch !== undefined) {
    const problem = branchProblem(ref.branch);
    if (problem) throw new StrataError('invalid_repo', `branch refused: ${problem}`, { field: 'branch' });
  }
  const mirror = path.join(mirrorsDir, `${crypto.createHash('sha256').update(repo).digest('hex').slice(0, 24)}.git`);
  return withMirrorLock(mirror, async () => {
    if (!fs.existsSync(path.join(mirror, 'HEAD'))) {
      fs.mkdirSync(mirror, { recursive: true });
      await mustSucceed(await git(mirror, ['init', '--bare', '--quiet']), 'git init');
      await mustSucceed(await git(mirror, ['remote', 'add', 'origin', '--', repo]), 'git remote add');
      // The URL is kept for people reading the mirror folder.
      fs.writeFileSync(path.join(mirror, 'strata-repo-url'), `${repo}\n`);
    }
    if (ref.commit !== undefined) {
      const have = await resolveCommit(mirror, ref.commit);
      if (have) return { commit: have, mirror, fetched: false };
      await fetchAll(mirror, repo);
      const got = (await resolveCommit(mirror, ref.commit)) ?? (await fetchOne(mirror, ref.commit));
      if (!got) throw new StrataError('commit_not_found', `commit ${ref.commit} is not in ${repo}`, { commit: ref.commit, repo });
      return { commit: got, mirror, fetched: true };
    }
    const branch = ref.branch ?? (await defaultBranch(mirror, repo));
    const fetch = await git(mirror, ['fetch', '--quiet', '--no-tags', 'origin', '--', `+refs/heads/${branch}:refs/heads/${branch}`]);
    if (fetch.exitCode !== 0) {
      if (/couldn't find remote ref|not found in upstream/i.test(fetch.stderr))
        throw new StrataError('commit_not_found', `branch "${branch}" does not exist in ${repo}`, { branch, repo });
      throw fetchFailure(repo, fetch.stderr);
    }
    const commit = await resolveCommit(mirror, `refs/heads/${branch}`);
    if (!commit) throw new StrataError('commit_not_found', `branch "${branch}" does not exist in ${repo}`, { branch, repo });
    return { commit, mirror, fetched: true };
  });
}

async function fetchAll(mirror: string, repo: string): Promise<void> {
  const result = await git(mirror, ['fetch', '--quiet', '--prune', 'origin', '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*']);
  if (result.exitCode !== 0) throw fetchFailure(repo, result.stderr);
}

/** A commit no branch reaches any more: servers that allow it hand it out by id. */
async function fetchOne(mirror: string, commit: string): Promise<string | undefined> {
  if (!/^[0-9a-f]{40}$/.test(commit)) return undefined;
  const result = await git(mirror, ['fetch', '--quiet', 'origin', commit]);
  return result.exitCode === 0 ? resolveCommit(mirror, commit) : undefined;
}

async function defaultBranch(mirror: string, repo: string): Promise<string> {
  const result = await git(mirror, ['ls-remote', '--symref', 'origin', 'HEAD']);
  if (result.exitCode !== 0) throw fetchFailure(repo, result.stderr);
  const match = /^ref: refs\/heads\/(\S+)\s+HEAD/m.exec(result.stdout);
  if (!match) throw new StrataError('commit_not_found', `${repo} has no default branch; give a branch or a commit`, { repo });
  return match[1]!;
}

async function resolveCommit(mirror: string, rev: string): Promise<string | undefined> {
  const result = await git(mirror, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

function fetchFailure(repo: string, stderr: string): StrataError {
  const detail = stderr.trim().split('\n').slice(-5).join('\n');
  // A repository that is not there is the caller's mistake; anything else may pass.
  const missing = /does not appear to be a git repository|repository .* not found|not found|No such file or directory/i.test(detail);
  return new StrataError(missing ? 'invalid_repo' : 'git_failed', `could not fetch ${repo}: ${detail}`, { repo });
}

async function mustSucceed(result: { exitCode?: number; stderr: unknown }, what: string): Promise<void> {
  if (result.exitCode !== 0) throw new StrataError('git_failed', `${what} failed: ${String(result.stderr).trim()}`);
}

export interface ExportedFolder {
  /** Files written, relative to the target. */
  files: number;
}

/**
 * Writes `folder` at `commit` into `target` (which must not exist yet). A folder missing at that commit
 * is the user error `data-job-not-found`; a symlink leaving the folder, or the folder being a symlink, is
 * refused before anything is written.
 */
export async function exportFolder(mirror: string, commit: string, folder: string, target: string): Promise<ExportedFolder> {
  const problem = folderProblem(folder);
  if (problem) throw new StrataError('invalid_repo', `job folder refused: ${problem}`, { field: 'folder' });
  const top = await git(mirror, ['ls-tree', '-z', commit, '--', folder]);
  if (top.exitCode !== 0) throw new StrataError('git_failed', `git ls-tree failed: ${top.stderr}`);
  const entry = parseLsTree(top.stdout)[0];
  if (!entry)
    throw new StrataError('data-job-not-found', `the folder "${folder}" does not exist at commit ${commit.slice(0, 12)}`, { folder, commit });
  if (entry.mode === '120000') throw new StrataError('invalid_repo', `the job folder "${folder}" is a symlink at commit ${commit.slice(0, 12)}; symlinks are refused`, { folder });
  if (entry.type !== 'tree') throw new StrataError('data-job-not-found', `"${folder}" is a file, not a folder, at commit ${commit.slice(0, 12)}`, { folder });

  const tree = await git(mirror, ['ls-tree', '-r', '-z', commit, '--', `${folder}/`]);
  if (tree.exitCode !== 0) throw new StrataError('git_failed', `git ls-tree failed: ${tree.stderr}`);
  const entries = parseLsTree(tree.stdout);
  for (const e of entries.filter((e) => e.mode === '120000')) {
    const blob = await git(mirror, ['cat-file', 'blob', e.object]);
    const linkTarget = blob.stdout;
    const inside = path.posix.relative(folder, e.path);
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(inside), linkTarget));
    if (path.posix.isAbsolute(linkTarget) || resolved === '..' || resolved.startsWith('../'))
      throw new StrataError('invalid_repo', `the symlink ${e.path} -> ${linkTarget} points outside the job folder "${folder}"; refused`, {
        path: e.path,
        target: linkTarget,
      });
  }

  const staging = `${target}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    const archive = await execa('git', [...SAFE_GIT, `--git-dir=${mirror}`, 'archive', '--format=tar', `${commit}:${folder}`], {
      env: GIT_ENV,
      encoding: 'buffer',
      reject: false,
    });
    if (archive.exitCode !== 0) throw new StrataError('git_failed', `git archive failed: ${archive.stderr.toString()}`);
    const untar = await execa('tar', ['-x', '--no-same-owner', '-C', staging], { input: archive.stdout, reject: false });
    if (untar.exitCode !== 0) throw new StrataError('git_failed', `tar failed: ${untar.stderr}`);
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(staging, target);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return { files: entries.filter((e) => e.type === 'blob').length };
}

interface TreeEntry {
  mode: string;
  type: string;
  object: string;
  path: string;
}

function parseLsTree(output: string): TreeEntry[] {
  return output
    .split('\0')
    .filter((line) => line !== '')
    .map((line) => {
      const tab = line.indexOf('\t');
      const [mode, type, object] = line.slice(0, tab).split(' ') as [string, string, string];
      return { mode, type, object, path: line.slice(tab + 1) };
    });
}

/**
 * A working copy of `repo`'s default branch at `target` (STRATA_JOBS as a git URL): cloned shallow the
 * first time, then fetched and reset to the remote's tip, with the same transport limits as deployments.
 * `field` names where the URL came from, for the error that refuses it.
 */
export async function syncWorkingCopy(repo: string, target: string, field: string): Promise<void> {
  const urlProblem = repoUrlProblem(repo);
  if (urlProblem) throw new StrataError('invalid_repo', `${field}: repository refused: ${urlProblem}`, { field });
  const run = (args: string[], cwd?: string) => execa('git', [...SAFE_GIT, ...args], { env: GIT_ENV, reject: false, ...(cwd ? { cwd } : {}) });
  if (!fs.existsSync(path.join(target, '.git'))) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await mustSucceed(await run(['clone', '--quiet', '--depth', '1', '--', repo, target]), `git clone ${repo}`);
    return;
  }
  await mustSucceed(await run(['fetch', '--quiet', '--depth', '1', 'origin', 'HEAD'], target), `git fetch ${repo}`);
  await mustSucceed(await run(['reset', '--quiet', '--hard', 'FETCH_HEAD'], target), 'git reset');
}
