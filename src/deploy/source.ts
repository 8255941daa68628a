/**
 * What a deployment request names: a repository, a commit or branch, and the job's folder in it. Every
 * value reaches git as an argument, so each is checked here, before anything runs: only the https, ssh
 * and file transports, nothing that git could read as an option, no path leaving the repository.
 * Pure module: the API, the CLI and workflows share these checks.
 */
import { z } from 'zod';

/** scp-like ssh (`git@host:team/repo.git`) has no scheme; every other accepted URL has one of these. */
const SCHEMES = ['https://', 'ssh://', 'file:///'];
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+$/;

/** Percent-decoded, as git decodes URLs; undefined for a malformed %-escape. */
function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The local path a file:/// URL names, percent-decoded as git reads it; undefined for other URLs. */
export function fileRepoPath(url: string): string | undefined {
  return url.startsWith('file:///') ? decoded(url.slice('file://'.length)) : undefined;
}

/** Why a repository URL is refused, or undefined when it is acceptable. */
export function repoUrlProblem(url: string): string | undefined {
  if (url.startsWith('-')) return `"${url}" starts with "-", which git would read as an option`;
  if (url.includes('::')) return `"${url}" uses a git remote helper transport (such as ext::), which could run commands`;
  if (/[\s\0-\x1f\x7f]/.test(url)) return 'it contains whitespace or control characters';
  const plain = decoded(url);
  if (plain === undefined) return `"${url}" has a malformed %-escape`;
  if (/[\s\0-\x1f\x7f]/.test(plain)) return 'it contains whitespace or control characters (%-encoded)';
  if (SCP_LIKE.test(url)) {
    const host = url.slice(url.indexOf('@') + 1, url.indexOf(':'));
    return host.startsWith('-') ? `the host "${host}" starts with "-", which ssh would read as an option` : undefined;
  }
  if (!SCHEMES.some((s) => url.startsWith(s)))
    return `"${url}" is not an https://, ssh://, git@host:path or file:/// URL`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a valid URL`;
  }
  for (const [what, value] of [['host', parsed.hostname], ['user', parsed.username]] as const) {
    const name = decoded(value) ?? value;
    if (name.startsWith('-')) return `the ${what} "${name}" starts with "-", which ssh would read as an option`;
  }
  const local = fileRepoPath(url);
  if (local !== undefined) {
    if (local.split('/').includes('..')) return `"${url}" contains ".." (after %-decoding)`;
    if (/[?#\\]/.test(local)) return `"${url}" contains "?", "#" or a backslash`;
  }
  return undefined;
}

/**
 * Why a file:/// repository is refused to a team: unless it lies under one of `roots`
 * (STRATA_GIT_FILE_ROOTS), a team may not make Strata read the server's own folders. `realpath` resolves
 * symlinks of the paths that exist.
 */
export function fileRepoProblem(url: string, roots: string[], realpath: (p: string) => string = (p) => p): string | undefined {
  const local = fileRepoPath(url);
  if (local === undefined) return undefined;
  if (roots.length === 0) return `file:// repositories are for administrators only (a team may use them under STRATA_GIT_FILE_ROOTS, which is empty)`;
  const target = realpath(local).replace(/\/+$/, '');
  const inside = roots.map((r) => realpath(r).replace(/\/+$/, '')).some((root) => target === root || target.startsWith(`${root}/`));
  return inside ? undefined : `"${local}" is not under a folder of STRATA_GIT_FILE_ROOTS (${roots.join(', ')})`;
}

/** Why a branch name is refused (git check-ref-format's rules, and no leading dash). */
export function branchProblem(branch: string): string | undefined {
  if (branch.startsWith('-')) return `"${branch}" starts with "-", which git would read as an option`;
  if (!/^[A-Za-z0-9._/-]+$/.test(branch)) return `"${branch}" may contain only letters, digits, ".", "_", "/" and "-"`;
  if (branch.includes('..') || branch.includes('//') || branch.startsWith('/') || branch.endsWith('/') || branch.endsWith('.lock') || branch.endsWith('.'))
    return `"${branch}" is not a valid branch name`;
  return undefined;
}

/** Why a job folder (a path inside the repository) is refused. */
export function folderProblem(folder: string): string | undefined {
  if (folder.startsWith('/') || /^[A-Za-z]:/.test(folder)) return `"${folder}" is an absolute path; give a folder inside the repository`;
  if (folder.includes('\\')) return `"${folder}" contains a backslash`;
  const segments = folder.split('/');
  if (segments.some((s) => s === '..')) return `"${folder}" contains "..", which would leave the repository`;
  if (segments.some((s) => s === '' || s === '.')) return `"${folder}" has an empty or "." segment`;
  if (segments.some((s) => s.startsWith('-'))) return `"${folder}" has a segment that starts with "-"`;
  if (!/^[A-Za-z0-9._/-]+$/.test(folder)) return `"${folder}" may contain only letters, digits, ".", "_", "/" and "-"`;
  return undefined;
}

const refine = (check: (v: string) => string | undefined) => (value: string, ctx: z.RefinementCtx) => {
  const problem = check(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
};

/**
 * The shapes the OpenAPI document promises, checked after the problems above so their messages come first:
 * every string they match passes those checks (a host's last label starts with a letter, so a URL parser
 * never reads it as an IPv4 address; no "--", so no punycode).
 */
const LABEL = '[A-Za-z0-9]+(-[A-Za-z0-9]+)*';
const HOST = `((${LABEL}\\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))`;
const PORT = '([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
const USER = '[A-Za-z0-9._][A-Za-z0-9._-]*';
const PATH_SEGMENT = '(\\.?[A-Za-z0-9_~-][A-Za-z0-9._~-]*)';
const REPO_URL = new RegExp(
  `^((https|ssh)://(${USER}@)?${HOST}(:${PORT})?(/[A-Za-z0-9._~/-]*)?|${USER}@${HOST}:[A-Za-z0-9._~/-]+|file://(/${PATH_SEGMENT})+/?)$`,
);
const BRANCH_PART = '[A-Za-z0-9_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*';
const BRANCH = new RegExp(`^${BRANCH_PART}(/${BRANCH_PART})*$`);
const FOLDER_PART = '([A-Za-z0-9_][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+)';
const FOLDER = new RegExp(`^${FOLDER_PART}(/${FOLDER_PART})*$`);

// The source's schemas (repo URL, commit, branch, folder): zod chains of one form, each with its own limits and rules.
export const RepoUrlSchema = z
  .string()
  .min(1)
  .max(2048)
  .superRefine(refine(repoUrlProblem))
  .regex(REPO_URL, 'must be https://host/path, ssh://user@host/path, user@host:path or file:///path (letters, digits and "._~-" in names)');
export const CommitSchema = z.string().regex(/^[0-9a-f]{7,40}$/, 'must be a commit id: 7 to 40 lowercase hex digits');
export const BranchSchema = z
  .string()
  .min(1)
  .max(255)
  .superRefine(refine(branchProblem))
  .regex(BRANCH, 'must be a branch name: parts of letters, digits, "_" and "-" joined by "." or "/"');
export const FolderSchema = z.string().min(1).max(1024).superRefine(refine(folderProblem)).regex(FOLDER, 'must be a folder inside the repository');
