/**
 * The job types a deployment can use: the built-in ones shipped in src/jobtypes/builtin/ and the plugins
 * installed from ZIP bundles into the data folder. A plugin named `<x>-job-type` provides the job type
 * `<x>` at the plugin's version, as in Racetrack; `jobtype: x:latest` takes the highest version.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../errors.js';
import { log } from '../log.js';
import type { JobLanguage } from '../deploy/requirements.js';
import { extractBundle, readBundleManifest } from './bundle.js';
import { parsePluginManifest, type PluginManifest } from './pluginManifest.js';

export const builtinJobTypesDir = fileURLToPath(new URL('./builtin/', import.meta.url));

export interface JobType {
  /** The job type's name, as `jobtype:` spells it (`python`, `python3`, `golang`). */
  name: string;
  version: string;
  /** The plugin folder: templates, base.Dockerfile, and the files `COPY --from=jobtype` reads. */
  dir: string;
  builtin: boolean;
  plugin: PluginManifest;
  language: JobLanguage;
  /** A plugin with a base.Dockerfile (Racetrack's older interface) has its base image built first. */
  baseDockerfile?: string;
  template: string;
}

export const jobTypeName = (pluginName: string) => pluginName.replace(/-job-type$/, '');

/** Orders versions the way people read them: 1.10.0 after 1.9.2, numbers before words. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) return nx - ny;
    if (x === '') return -1;
    if (y === '') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** Which installer a job type's jobs need, from its name (python3, node, ...). */
export function languageOf(name: string): JobLanguage {
  if (name.startsWith('python')) return 'python';
  if (name.startsWith('node')) return 'node';
  return 'other';
}

function loadJobType(dir: string, builtin: boolean): JobType {
  const manifestFile = path.join(dir, 'plugin-manifest.yaml');
  const plugin = parsePluginManifest(manifestFile, fs.readFileSync(manifestFile, 'utf8'));
  const template = path.join(dir, 'job-template.Dockerfile');
  const base = path.join(dir, 'base.Dockerfile');
  const name = jobTypeName(plugin.name);
  return {
    name,
    version: plugin.version,
    dir,
    builtin,
    plugin,
    language: languageOf(name),
    template,
    ...(fs.existsSync(base) ? { baseDockerfile: base } : {}),
  };
}

export class JobTypeRegistry {
  constructor(readonly pluginsDir: string) {}

  /** Every job type, built-in first, then installed plugins by name and version. */
  list(): JobType[] {
    const builtin = fs
      .readdirSync(builtinJobTypesDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => loadJobType(path.join(builtinJobTypesDir, e.name), true));
    const installed: JobType[] = [];
    for (const name of safeReaddir(this.pluginsDir)) {
      if (name.startsWith('.')) continue;
      for (const version of safeReaddir(path.join(this.pluginsDir, name))) {
        try {
          installed.push(loadJobType(path.join(this.pluginsDir, name, version), false));
        } catch (err) {
          log.warn({ plugin: path.join(this.pluginsDir, name, version) }, `skipping the plugin in ${path.join(this.pluginsDir, name, version)}: ${(err as Error).message}`);
        }
      }
    }
    const order = (a: JobType, b: JobType) => a.name.localeCompare(b.name) || compareVersions(a.version, b.version);
    return [...builtin.sort(order), ...installed.sort(order)];
  }

  /** The job type `name:version` or `name:latest`; the error lists what is installed. */
  resolve(ref: string): JobType {
    const colon = ref.lastIndexOf(':');
    const name = colon < 0 ? ref : ref.slice(0, colon);
    const version = colon < 0 ? 'latest' : ref.slice(colon + 1);
    const candidates = this.list().filter((t) => t.name === name);
    const found =
      version === 'latest'
        ? candidates.sort((a, b) => compareVersions(a.version, b.version) || Number(a.builtin) - Number(b.builtin)).at(-1)
        : // `python:1` picks the highest 1.x.y, as a major version pin.
          candidates.filter((t) => t.version === version || t.version.startsWith(`${version}.`)).sort((a, b) => compareVersions(a.version, b.version)).at(-1);
    if (!found) {
      const known = this.list().map((t) => `${t.name}:${t.version}`);
      throw new StrataError('jobtype_not_found', `job type "${ref}" is not installed; installed: ${known.join(', ')}`, { jobtype: ref, installed: known });
    }
    return found;
  }

  /** Installs a plugin bundle; a job type version that is already installed is a conflict. */
  async install(zip: Buffer): Promise<JobType> {
    fs.mkdirSync(this.pluginsDir, { recursive: true });
    const staging = path.join(this.pluginsDir, `.incoming-${crypto.randomBytes(6).toString('hex')}`);
    try {
      await extractBundle(zip, staging);
      const manifest = readBundleManifest(staging);
      const name = jobTypeName(manifest.name);
      const target = path.join(this.pluginsDir, name, manifest.version);
      if (this.list().some((t) => t.name === name && t.version === manifest.version))
        throw new StrataError('conflict', `job type ${name}:${manifest.version} is already installed; bump the plugin's version`, {
          jobtype: `${name}:${manifest.version}`,
        });
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.renameSync(staging, target);
      return loadJobType(target, false);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
