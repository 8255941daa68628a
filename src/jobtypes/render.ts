/**
 * Rendering a job's Dockerfile from its job type's template, the way Racetrack does (the same context
 * names), plus `requirements_file` for Strata's own templates: the requirements file the job has, if any.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { renderTemplate } from './jinja.js';
import { racetrackTemplateContext } from './templateContext.js';

export interface RenderInput {
  /** The job type's job-template.Dockerfile. */
  template: string;
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

export function renderJobDockerfile(input: RenderInput): string {
  const context = racetrackTemplateContext(input.manifest, {
    gitVersion: input.gitVersion,
    strataVersion: input.strataVersion,
    jobTypeVersion: input.jobTypeVersion,
    baseImage: input.baseImage,
  });
  try {
    return renderTemplate(fs.readFileSync(input.template, 'utf8'), { ...context, requirements_file: requirementsFile(input) ?? '' }, `${input.jobType} job-template.Dockerfile`);
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError('template_failed', (err as Error).message, { jobtype: input.jobType });
  }
}

function requirementsFile(input: RenderInput): string | undefined {
  const extra = (input.manifest.jobtype_extra as Record<string, unknown> | undefined)?.requirements_path;
  const candidate = typeof extra === 'string' ? extra : input.language === 'python' ? 'requirements.txt' : input.language === 'node' ? 'package-lock.json' : undefined;
  return candidate !== undefined && fs.existsSync(path.join(input.jobDir, candidate)) ? candidate : undefined;
}

/** Where a plugin's base.Dockerfile image goes: shared by every job of that job type version. */
export const jobTypeBaseImage = (registry: string, name: string, version: string) => `${registry}/strata-jobtype-base/${name}:${version}`;
