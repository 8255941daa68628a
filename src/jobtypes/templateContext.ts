/**
 * The context Racetrack's image builder passes to a job type's `job-template.Dockerfile`
 * (racetrack image_builder/docker/template.py), for rendering with ./jinja.ts.
 */

/** Racetrack's defaults for optional manifest fields (racetrack_client/manifest/manifest.py); the others default to None. */
const MANIFEST_DEFAULTS: Record<string, unknown> = {
  version: '0.0.1',
  jobtype: null,
  lang: null,
  extends: null,
  image_type: 'docker',
  system_dependencies: null,
  build_env: null,
  runtime_env: null,
  secret_build_env_file: null,
  secret_runtime_env_file: null,
  labels: null,
  public_endpoints: null,
  replicas: 1,
  resources: null,
  jobtype_extra: null,
  golang: null,
  python: null,
  docker: null,
  wrapper_properties: null,
  infrastructure_target: null,
};

/**
 * Mimics Racetrack's pydantic `Manifest`: every field is an attribute (a class instance is a Python
 * object for the renderer, not a dict), and `get_jobtype_extra()` is a method.
 */
export class RacetrackManifest {
  [field: string]: unknown;

  constructor(fields: Record<string, unknown>) {
    Object.assign(this, MANIFEST_DEFAULTS);
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) this[key] = value;
    // `lang` is the deprecated spelling of `jobtype`.
    if (this.jobtype === null && this.lang !== null) this.jobtype = this.lang;
    const git = this.git;
    if (git !== null && typeof git === 'object' && !Array.isArray(git)) this.git = { branch: null, directory: '.', ...git };
  }

  /** The first of jobtype_extra and its deprecated aliases that is set, else None (null). */
  get_jobtype_extra(): unknown {
    for (const field of [this.jobtype_extra, this.golang, this.python, this.wrapper_properties]) if (field !== null && field !== undefined) return field;
    return null;
  }
}

export interface RacetrackTemplateOptions {
  gitVersion: string;
  /** Rendered as `deployed_by_racetrack_version` (Racetrack's DOCKER_TAG). */
  strataVersion: string;
  jobTypeVersion: string;
  /** Tag of the job type's base image; only for job types that still ship a base.Dockerfile. */
  baseImage?: string;
}

/** The variables Racetrack renders job-template.Dockerfile with. */
export function racetrackTemplateContext(manifest: Record<string, unknown>, opts: RacetrackTemplateOptions): Record<string, unknown> {
  const m = new RacetrackManifest(manifest);
  // Python truthiness, for `x or {}`: None, '', 0, False and empty containers are falsy.
  const truthy = (v: unknown) => Boolean(v) && !(typeof v === 'object' && Object.keys(v as object).length === 0);
  const jobtypeExtra = m.get_jobtype_extra();
  return {
    manifest: m,
    manifest_jobtype_extra: truthy(jobtypeExtra) ? jobtypeExtra : {},
    env_vars: truthy(m.build_env) ? m.build_env : {},
    git_version: opts.gitVersion,
    deployed_by_racetrack_version: opts.strataVersion,
    job_type_version: opts.jobTypeVersion,
    base_image: opts.baseImage ?? '',
  };
}
