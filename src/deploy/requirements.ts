/**
 * The requirements step of a deployment: Python jobs get a virtualenv with `pip install -r`, Node jobs
 * `npm ci`. The installer's output goes to the deployment's log; when it fails, its own error lines become
 * the user error `requirements_failed`, since a bad requirement is the job's fault.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { StrataError } from '../errors.js';
import type { Sandbox } from '../launchers/sandbox.js';
import { folderProblem } from './source.js';

export type JobLanguage = 'python' | 'node' | 'other';

export interface InstallRequest {
  language: JobLanguage;
  /** The job's exported folder; Node modules go into it. */
  srcDir: string;
  /** Where the Python virtualenv goes. */
  venvDir: string;
  /** job.yaml's jobtype_extra.requirements_path, relative to the job folder. */
  requirementsPath?: string;
  logFile: string;
  /** The environment installers start from (PATH, HOME, proxies). */
  env: Record<string, string>;
  /** Installers run the job's code (setup.py, npm scripts): in the sandbox, writing only the job folder and the virtualenv. */
  sandbox: Sandbox;
  signal?: AbortSignal;
}

export interface InstallResult {
  installer: 'pip' | 'npm' | 'none';
  /** What was installed from, relative to the job folder. */
  from?: string;
}

export async function installRequirements(req: InstallRequest): Promise<InstallResult> {
  if (req.language === 'python') return installPython(req);
  if (req.language === 'node') return installNode(req);
  return { installer: 'none' };
}

async function installPython(req: InstallRequest): Promise<InstallResult> {
  const relative = req.requirementsPath ?? 'requirements.txt';
  const problem = folderProblem(relative);
  if (problem) throw new StrataError('invalid_manifest', `job.yaml: jobtype_extra.requirements_path: ${problem}`);
  const file = path.join(req.srcDir, relative);
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!stat) {
    if (req.requirementsPath !== undefined)
      throw new StrataError('requirements_failed', `job.yaml names ${relative} as the requirements file, but the job folder has no such file`);
    return { installer: 'none' };
  }
  if (!stat.isFile()) throw new StrataError('requirements_failed', `${relative} is not a regular file`);
  const python = req.env.STRATA_PYTHON ?? 'python3';
  await run(python, ['-m', 'venv', req.venvDir], req, 'platform');
  const pip = path.join(req.venvDir, 'bin', 'pip');
  await run(pip, ['install', '--disable-pip-version-check', '--no-input', '-r', file], req, 'user', /^ERROR:/);
  return { installer: 'pip', from: relative };
}

async function installNode(req: InstallRequest): Promise<InstallResult> {
  if (!fs.existsSync(path.join(req.srcDir, 'package.json'))) return { installer: 'none' };
  await run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts=false'], req, 'user', /^npm (error|ERR!)/);
  return { installer: 'npm', from: 'package.json' };
}

/**
 * Runs an installer with its output appended to the log. A user-kind failure carries the installer's
 * error lines (those matching `errorLine`, or its last lines when none match).
 */
async function run(program: string, args: string[], req: InstallRequest, kind: 'user' | 'platform', errorLine?: RegExp): Promise<void> {
  fs.appendFileSync(req.logFile, `$ ${[program, ...args].join(' ')}\n`);
  const policy = { readOnly: [], writable: [req.srcDir, req.venvDir], network: true };
  const sandboxed = req.sandbox.wrap([program, ...args], req.srcDir, policy, req.env);
  const result = await execa(sandboxed.file, sandboxed.args, {
    cwd: req.srcDir,
    env: sandboxed.env,
    extendEnv: false,
    all: true,
    reject: false,
    cancelSignal: req.signal,
  });
  fs.appendFileSync(req.logFile, `${result.all ?? ''}\n`);
  if (result.exitCode === 0) return;
  if (result.isCanceled) throw new StrataError('cancelled', `${program} was cancelled`);
  const lines = (result.all ?? '').split('\n');
  const errors = errorLine ? lines.filter((l) => errorLine.test(l)) : [];
  const shown = (errors.length > 0 ? errors : lines.slice(-15)).join('\n').slice(-4000);
  const what = `${path.basename(program)} ${args[0]}`;
  if (kind === 'user') {
    // The marker the image builders' logs carry too, so one scan classifies every deployment log.
    fs.appendFileSync(req.logFile, '>requirements_failed<\n');
    throw new StrataError('requirements_failed', `${what} failed (exit ${result.exitCode}):\n${shown}`, { installer: path.basename(program) });
  }
  throw new StrataError('install_failed', `${what} failed (exit ${result.exitCode ?? result.signal}):\n${shown}`);
}
