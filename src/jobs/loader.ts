/**
 * Where jobs come from: a folder (or a git repository cloned into the data folder) in which each
 * top-level folder holding a `job.yaml` is one job.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseYamlFile } from '../engine/yaml.js';
import type { DeploymentStore } from '../store/deployments.js';
import { JobManifestSchema, describeIssues, toJobDefinition, type JobDefinition } from '../engine/jobManifest.js';
import { resolveOwnership } from './ownership.js';
import { syncWorkingCopy } from '../deploy/git.js';

export interface JobSet {
  /** Valid jobs by name. */
  jobs: Map<string, JobDefinition>;
  /** One line per invalid `job.yaml` (the file, the field and what is wrong) and per job left out because it collides with another team's. */
  problems: string[];
}

/** Parses one job.yaml; throws an Error whose message names the file and every bad field. */
export function parseJobManifest(file: string, text: string, dir = path.dirname(file)): JobDefinition {
  const raw = parseYamlFile(file, text);
  const parsed = JobManifestSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(describeIssues(file, parsed.error.issues).join('\n'));
  return toJobDefinition(parsed.data, dir);
}

/**
 * The jobs builds can run: each job's deployment (its pinned one, else its current one), and the jobs of the development folder
 * (STRATA_JOBS) that have no deployment. A deployed job always runs from its deployment's workspace,
 * never from a folder. Folder jobs are re-read only when their job.yaml changed since the last call.
 * A name and an output belong to one team: a job colliding with another team's is left out, as a
 * problem (resolveOwnership).
 */
export class JobLoader {
  private cache = new Map<string, { stamp: string; job?: JobDefinition; problem?: string }>();

  constructor(
    readonly dir: string,
    private readonly deployments?: DeploymentStore,
  ) {}

  async load(): Promise<JobSet> {
    const folder = this.loadFolder();
    const deployed: JobDefinition[] = [];
    for (const d of (await this.deployments?.runnable()) ?? []) {
      if (!d.manifest || !d.workspace || !d.commit) continue;
      const venv = path.join(path.dirname(d.workspace), 'venv');
      const pathPrefix = [path.join(venv, 'bin'), path.join(d.workspace, 'node_modules', '.bin')].filter((p) => fs.existsSync(p));
      const image = d.image ? (d.digest && !d.image.includes('@') ? `${d.image}@${d.digest}` : d.image) : undefined;
      const deployment = { id: d.id, commit: d.commit, pathPrefix, ...(fs.existsSync(venv) ? { venv } : {}), ...(image ? { image } : {}) };
      deployed.push({ ...toJobDefinition(d.manifest, d.workspace), deployment });
    }
    const { jobs, problems } = resolveOwnership(folder.jobs, deployed);
    return { jobs, problems: [...folder.problems, ...problems] };
  }

  /** The jobs of the development folder alone. */
  loadFolder(): JobSet {
    const jobs = new Map<string, JobDefinition>();
    const problems: string[] = [];
    const seen = new Set<string>();
    const entries = fs.readdirSync(this.dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const file = path.join(this.dir, entry.name, 'job.yaml');
      let stat: fs.Stats;
      try {
        stat = fs.statSync(file);
      } catch {
        continue;
      }
      seen.add(file);
      const stamp = `${stat.mtimeMs}:${stat.size}`;
      let cached = this.cache.get(file);
      if (cached?.stamp !== stamp) {
        try {
          cached = { stamp, job: parseJobManifest(file, fs.readFileSync(file, 'utf8')) };
        } catch (err) {
          cached = { stamp, problem: (err as Error).message };
        }
        this.cache.set(file, cached);
      }
      if (cached.problem) {
        problems.push(cached.problem);
        continue;
      }
      const job = cached.job!;
      const other = jobs.get(job.name);
      if (other) {
        problems.push(`${file}: name: "${job.name}" is already the name of the job in ${path.join(other.dir, 'job.yaml')}`);
        continue;
      }
      jobs.set(job.name, job);
    }
    for (const file of this.cache.keys()) if (!seen.has(file)) this.cache.delete(file);
    return { jobs, problems };
  }
}

const GIT_URL = /^(https:\/\/|ssh:\/\/|git@[^:]+:|file:\/\/)/;

/**
 * The local folder holding the jobs of `source`: the folder itself, or a clone of a git URL kept under
 * the data folder and brought up to date with the remote's default branch.
 */
export async function resolveJobsDir(source: string, dataDir: string): Promise<string> {
  if (!GIT_URL.test(source)) {
    const dir = path.resolve(source);
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory())
      throw new Error(`STRATA_JOBS=${source}: not a directory, and not a git URL (https://, ssh://, git@host: or file://)`);
    return dir;
  }
  const target = path.join(dataDir, 'jobs-repo');
  await syncWorkingCopy(source, target, 'STRATA_JOBS');
  return target;
}
