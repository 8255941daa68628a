/** `strata deploy` and `strata plugin …`: deployments through the API, plugin bundles and renders locally. */
import fs from 'node:fs';
import path from 'node:path';
import type { DeploymentDetail } from '../api/deployments.js';
import { strataVersion } from '../config.js';
import { parseYamlFile, YamlError } from '../engine/yaml.js';
import { dockerfileValueProblem } from '../engine/jobManifest.js';
import { bundlePlugin } from '../jobtypes/bundle.js';
import { parsePluginManifest } from '../jobtypes/pluginManifest.js';
import { jobTypeBaseImage, renderJobDockerfile } from '../jobtypes/render.js';
import { jobTypeName, languageOf } from '../jobtypes/registry.js';
import { StrataError } from '../errors.js';
import { ApiClient, CliError, ExitCode } from './client.js';
import { formatTable } from './format.js';

export interface DeployFlags {
  json: boolean;
  wait: boolean;
  team?: string;
  job?: string;
  repo?: string;
  commit?: string;
  branch?: string;
  folder?: string;
  manifest?: string;
  'git-version'?: string;
  out?: string;
}

const print = (text: string) => process.stdout.write(`${text}\n`);
const usage = (message: string): never => {
  throw new CliError(`${message}\nRun \`strata --help\` for usage.`, ExitCode.usage);
};

export async function deploy(api: ApiClient, args: string[], flags: DeployFlags): Promise<number> {
  if (args.length > 0) usage('strata deploy takes no arguments: give --team, --job and --repo (and --commit or --branch)');
  if (!flags.team || !flags.job || !flags.repo) usage('strata deploy needs --team, --job and --repo');
  // A local folder is a file:/// repository, so `--repo .` works in a checkout.
  const repo = /^[a-z]+:\/\/|^[^/]+@[^/]+:/.test(flags.repo!) ? flags.repo! : `file://${path.resolve(flags.repo!)}`;
  const { deploymentId } = await api.post<{ deploymentId: string }>('/api/v1/deployments', {
    team: flags.team,
    job: flags.job,
    repo,
    ...(flags.commit ? { commit: flags.commit } : {}),
    ...(flags.branch ? { branch: flags.branch } : {}),
    ...(flags.folder ? { folder: flags.folder } : {}),
  });
  const detailPath = `/api/v1/deployments/${deploymentId}?logBytes=0`;
  if (!flags.wait) {
    if (flags.json) print(JSON.stringify({ deploymentId }));
    else print(`deployment ${deploymentId} started; see it with: curl ${api.baseUrl}/api/v1/deployments/${deploymentId}`);
    return ExitCode.ok;
  }
  if (!flags.json) process.stderr.write(`deployment ${deploymentId} of ${flags.team}/${flags.job} started\n`);
  const shown = new Set<string>();
  for (;;) {
    const detail = await api.get<DeploymentDetail>(detailPath);
    if (!flags.json)
      for (const step of detail.steps) {
        const key = `${step.step}/${step.status}`;
        if (shown.has(key) || step.status === 'pending' || step.status === 'skipped') continue;
        shown.add(key);
        for (const warning of step.warnings) process.stderr.write(`  ! ${step.step}: ${warning}\n`);
        const mark = { running: '…', succeeded: '✓', failed: '✗' }[step.status];
        process.stderr.write(`  ${mark} ${step.step.padEnd(8)} ${step.message ?? (step.status === 'running' ? 'running' : '')}\n`);
      }
    if (detail.status !== 'running') {
      if (flags.json) print(JSON.stringify(await api.get<DeploymentDetail>(`/api/v1/deployments/${deploymentId}`), null, 2));
      else if (detail.status === 'succeeded')
        print(`deployed ${detail.team}/${detail.job} at ${detail.commit}${detail.image ? `: ${detail.image}@${detail.digest}` : ` (workspace ${detail.workspace})`}`);
      else print(`deployment failed: [${detail.failure?.kind} error ${detail.failure?.type}] ${detail.failure?.message}`);
      return detail.status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

interface JobTypeView {
  ref: string;
  builtin: boolean;
  plugin: { name: string; version: string; url: string | null };
}

/** `strata pin --team T --job J --commit C` and `strata unpin --team T --job J`. */
export async function pin(api: ApiClient, args: string[], flags: DeployFlags): Promise<number> {
  if (args.length > 0 || !flags.team || !flags.job || !flags.commit) usage('strata pin needs --team, --job and --commit');
  const path = `/api/v1/teams/${encodeURIComponent(flags.team!)}/jobs/${encodeURIComponent(flags.job!)}/pin`;
  const pinned = await api.post<{ deploymentId: string; commit: string }>(path, { commit: flags.commit });
  if (flags.json) print(JSON.stringify(pinned, null, 2));
  else print(`${flags.team}/${flags.job} pinned to ${pinned.commit} (deployment ${pinned.deploymentId}); builds run it until strata unpin`);
  return ExitCode.ok;
}

export async function unpin(api: ApiClient, args: string[], flags: DeployFlags): Promise<number> {
  if (args.length > 0 || !flags.team || !flags.job) usage('strata unpin needs --team and --job');
  await api.delete(`/api/v1/teams/${encodeURIComponent(flags.team!)}/jobs/${encodeURIComponent(flags.job!)}/pin`);
  if (!flags.json) print(`${flags.team}/${flags.job} unpinned; builds run its current deployment`);
  return ExitCode.ok;
}

export async function plugin(api: ApiClient, args: string[], flags: DeployFlags): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'bundle') {
    if (rest.length !== 1) usage('strata plugin bundle needs one plugin folder');
    const out = path.resolve(flags.out ?? '.');
    const bundled = await local(() => bundlePlugin(path.resolve(rest[0]!), out));
    if (flags.json) print(JSON.stringify(bundled, null, 2));
    else print(`${bundled.file} (${bundled.files.length} files)`);
    return ExitCode.ok;
  }
  if (action === 'render') {
    if (rest.length !== 1 || !flags.manifest) usage('strata plugin render needs a plugin folder and --manifest <job.yaml>');
    process.stdout.write(await local(async () => renderLocally(path.resolve(rest[0]!), path.resolve(flags.manifest!), flags['git-version'] ?? 'unknown')));
    return ExitCode.ok;
  }
  if (action === 'install') {
    if (rest.length !== 1) usage('strata plugin install needs one ZIP file (made by strata plugin bundle)');
    const zip = await local(async () => fs.readFileSync(rest[0]!));
    const installed = await api.upload<JobTypeView>('/api/v1/plugins', zip, 'application/zip');
    if (flags.json) print(JSON.stringify(installed, null, 2));
    else print(`installed job type ${installed.ref} (plugin ${installed.plugin.name} ${installed.plugin.version})`);
    return ExitCode.ok;
  }
  if (action === 'list') {
    const { jobTypes } = await api.get<{ jobTypes: JobTypeView[] }>('/api/v1/jobtypes');
    if (flags.json) print(JSON.stringify(jobTypes, null, 2));
    else print(formatTable(['JOB TYPE', 'PLUGIN', 'SOURCE'], jobTypes.map((t) => [t.ref, `${t.plugin.name} ${t.plugin.version}`, t.builtin ? 'built-in' : 'installed'])));
    return ExitCode.ok;
  }
  usage(`strata plugin needs bundle, render, install or list${action ? `, not "${action}"` : ''}`);
  return ExitCode.usage;
}

/** Local work whose Strata errors (a bad manifest, a hostile bundle) are the user's: exit code 2. */
async function local<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StrataError || (err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError((err as Error).message, ExitCode.usage);
    throw err;
  }
}

/** Renders a plugin's template for a job.yaml exactly as a deployment would. */
async function renderLocally(pluginDir: string, manifestFile: string, gitVersion: string): Promise<string> {
  const plugin = parsePluginManifest(path.join(pluginDir, 'plugin-manifest.yaml'), fs.readFileSync(path.join(pluginDir, 'plugin-manifest.yaml'), 'utf8'));
  let manifest: unknown;
  try {
    manifest = parseYamlFile(manifestFile, fs.readFileSync(manifestFile, 'utf8'));
  } catch (err) {
    throw err instanceof YamlError ? new StrataError('invalid_manifest', err.message) : err;
  }
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) throw new StrataError('invalid_manifest', `${manifestFile}: not a YAML mapping`);
  const m = manifest as Record<string, unknown>;
  if (m.lang !== undefined && m.jobtype === undefined) process.stderr.write(`${manifestFile}: lang: is deprecated, use jobtype\n`);
  for (const [key, value] of Object.entries((m.build_env as Record<string, unknown> | undefined) ?? {})) {
    const problem = typeof value === 'string' ? dockerfileValueProblem(value) : undefined;
    if (problem) throw new StrataError('invalid_manifest', `${manifestFile}: build_env.${key}: ${problem}`);
  }
  const name = jobTypeName(plugin.name);
  return await renderJobDockerfile({
    template: path.join(pluginDir, 'job-template.Dockerfile'),
    jobType: `${name}:${plugin.version}`,
    jobTypeVersion: plugin.version,
    manifest: m,
    jobDir: path.dirname(manifestFile),
    gitVersion,
    strataVersion,
    baseImage: fs.existsSync(path.join(pluginDir, 'base.Dockerfile')) ? jobTypeBaseImage('localhost/strata', name, plugin.version) : '',
    language: languageOf(name),
  });
}
