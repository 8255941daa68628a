/**
 * Rendering a job's Dockerfile from its job type's template, the way Racetrack does (the same context
 * names), plus `requirements_file` for Strata's own templates: the requirements file the job has, if any.
 *
 * The template is rendered by real Jinja2 (pinned in ./jinja2-pin.json, installed by scripts/provision.mjs
 * into .tools/jinja2-<version>/) in a helper process, ./render_template.py: a SandboxedEnvironment with
 * Jinja2's defaults, whose `{% include %}` and `{% import %}` find only files inside the plugin folder. The
 * helper builds Racetrack's context (the manifest as an object with attributes and get_jobtype_extra()).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { projectRoot } from '../config.js';
import { StrataError } from '../errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const HELPER = path.join(here, 'render_template.py');
/** The pinned Jinja2 and MarkupSafe versions; scripts/provision.mjs reads the same file. */
const JINJA2_PIN = JSON.parse(fs.readFileSync(path.join(here, 'jinja2-pin.json'), 'utf8')) as { jinja2: string; markupsafe: string; installDir: string };
/** Where scripts/provision.mjs installs Jinja2 (the helper's PYTHONPATH). */
const jinja2Dir = (): string => path.join(projectRoot, JINJA2_PIN.installDir);
const RENDER_TIMEOUT_MS = 30_000;

/** A template Jinja2 could not render: `message` is `<template> line <n>: <what Jinja2 or Python said>`. */
export class JinjaTemplateError extends StrataError {
  constructor(
    readonly reason: string,
    readonly template: string,
    readonly line: number | null,
    details: Record<string, unknown> = {},
  ) {
    super('template_failed', `${template}${line === null ? '' : ` line ${line}`}: ${reason}`, { ...details, template, line });
    this.name = 'JinjaTemplateError';
  }
}

/** What Racetrack's image builder passes; the helper turns it into the template's variables. */
export interface RacetrackContext {
  manifest: Record<string, unknown>;
  git_version: string;
  /** Racetrack's DOCKER_TAG; Strata's version. */
  deployed_by_racetrack_version: string;
  job_type_version: string;
  /** Tag of the job type's base image; only for job types that still ship a base.Dockerfile. */
  base_image?: string;
}

export interface TemplateRequest {
  /** The folder includes and imports may read from (nothing outside it, symlinks resolved). */
  pluginDir: string;
  /** The template file (inside pluginDir), or its text. */
  file?: string;
  source?: string;
  /** What error messages call the template. */
  name: string;
  /** Racetrack's context, built by the helper as Racetrack builds it. */
  racetrack?: RacetrackContext;
  /** More variables (plain JSON values), after Racetrack's. */
  context?: Record<string, unknown>;
  timeoutMs?: number;
  /** Added to a JinjaTemplateError's details. */
  details?: Record<string, unknown>;
}

/** Renders one template with real Jinja2; throws JinjaTemplateError (template_failed) for whatever Jinja2 or Python refuses. */
export async function renderTemplate(req: TemplateRequest): Promise<string> {
  const lib = jinja2Dir();
  if (!fs.existsSync(lib))
    throw new StrataError('install_failed', `Jinja2 ${JINJA2_PIN.jinja2} is not installed in ${lib}: run \`npm run provision\` (npm start and npm test do it themselves)`, req.details ?? {});
  const request = {
    plugin_dir: req.pluginDir,
    ...(req.source !== undefined ? { template_source: req.source } : { template_file: req.file }),
    name: req.name,
    racetrack: req.racetrack ?? null,
    context: req.context ?? {},
  };
  const timeout = req.timeoutMs ?? RENDER_TIMEOUT_MS;
  const run = await execa('python3', ['-s', HELPER], {
    input: JSON.stringify(request),
    env: { PYTHONPATH: lib },
    timeout,
    reject: false,
    stripFinalNewline: false,
  });
  if (run.timedOut) throw new JinjaTemplateError(`rendering took longer than ${timeout / 1000} s and was stopped`, req.name, null, req.details);
  if (run.exitCode === 0) return run.stdout;
  // Exit 2 is the template's failure, as JSON; anything else is the helper's own (the platform's).
  const failure = run.exitCode === 2 ? parsedFailure(run.stdout) : undefined;
  if (failure) throw new JinjaTemplateError(failure.error, failure.template ?? req.name, failure.line, req.details);
  const status = run.exitCode === undefined ? run.shortMessage : `exit status ${run.exitCode}`;
  throw new StrataError('image_build_failed', `the template helper ${HELPER} failed (${status}): ${run.stderr.trim()}`, req.details ?? {});
}

function parsedFailure(stdout: string): { error: string; template: string | null; line: number | null } | undefined {
  try {
    return JSON.parse(stdout) as { error: string; template: string | null; line: number | null };
  } catch {
    return undefined;
  }
}

export interface RenderInput {
  /** The job type's job-template.Dockerfile. */
  template: string;
  /** The plugin folder includes may read from; the template's folder by default. */
  pluginDir?: string;
  /** `name:version`, for error messages. */
  jobType: string;
  jobTypeVersion: string;
  /** job.yaml as parsed (Strata's or Racetrack's fields). */
  manifest: Record<string, unknown>;
  /** The job's folder, where the requirements file is looked for. */
  jobDir: string;
  gitVersion: string;
  strataVersion: string;
  baseImage: string;
  language: 'python' | 'node' | 'other';
}

export async function renderJobDockerfile(input: RenderInput): Promise<string> {
  return renderTemplate({
    pluginDir: input.pluginDir ?? path.dirname(input.template),
    file: input.template,
    name: `${input.jobType} job-template.Dockerfile`,
    racetrack: {
      manifest: input.manifest,
      git_version: input.gitVersion,
      deployed_by_racetrack_version: input.strataVersion,
      job_type_version: input.jobTypeVersion,
      base_image: input.baseImage,
    },
    context: { requirements_file: requirementsFile(input) ?? '' },
    details: { jobtype: input.jobType },
  });
}

function requirementsFile(input: RenderInput): string | undefined {
  const extra = (input.manifest.jobtype_extra as Record<string, unknown> | undefined)?.requirements_path;
  const candidate = typeof extra === 'string' ? extra : input.language === 'python' ? 'requirements.txt' : input.language === 'node' ? 'package-lock.json' : undefined;
  return candidate !== undefined && fs.existsSync(path.join(input.jobDir, candidate)) ? candidate : undefined;
}

/** Where a plugin's base.Dockerfile image goes: shared by every job of that job type version. */
export const jobTypeBaseImage = (registry: string, name: string, version: string) => `${registry}/strata-jobtype-base/${name}:${version}`;
