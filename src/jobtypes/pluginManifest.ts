/**
 * `plugin-manifest.yaml`, the identity of a job-type plugin. The keys are exactly those of Racetrack's
 * PluginManifest model (racetrack_client/racetrack_client/plugin/plugin_manifest.py @ e582129, pydantic
 * with `extra='forbid'`): name, version, build_date, url, priority, category, components. A manifest that
 * Racetrack loads, Strata loads, and the reverse, with these deliberate tightenings:
 *
 * - `name`: lowercase letters, digits and dashes (Racetrack takes any string). It names the ZIP and the
 *   install folder, and a plugin `<x>-job-type` provides the job type `<x>`.
 * - `version`: must be a YAML string in SemVer form `X.Y.Z[label]` (Racetrack's SemanticVersion, which its
 *   plugin loader applies when sorting plugins), with the label limited to `[0-9A-Za-z.+_-]` because the
 *   version is part of a file name. A YAML number is NOT coerced: `version: 1.0` reads as the number 1
 *   (`1.10` as 1.1), so the original text is already lost, pydantic v2 refuses a number for a `str`
 *   field too, and no number is X.Y.Z anyway. The error says to quote it.
 * - `priority`: an integer (pydantic would also take "5" or 5.0).
 * - null for an optional key (`url:` with nothing after it) means absent, as pydantic's Optional does.
 */
import { z } from 'zod';
import { parseYamlFile, YamlError } from '../engine/yaml.js';
import { StrataError } from '../errors.js';

export const PLUGIN_MANIFEST_FILENAME = 'plugin-manifest.yaml';

const PLUGIN_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const PLUGIN_VERSION = /^\d+\.\d+\.\d+[0-9A-Za-z.+_-]*$/;

const optional = <T extends z.ZodType>(schema: T) =>
  schema
    .nullable()
    .transform((v) => v ?? undefined)
    .optional();

export const PluginManifestSchema = z.strictObject({
  name: z.string().max(100, 'must be at most 100 characters').regex(PLUGIN_NAME, 'must be lowercase letters, digits and single dashes, e.g. "python3-job-type"'),
  version: z.string().max(100, 'must be at most 100 characters').regex(PLUGIN_VERSION, 'must be a SemVer version X.Y.Z with an optional label, e.g. "1.2.0" or "2.0.0-rc.1"'),
  /** Set by `racetrack plugin bundle` (e.g. 2024-01-09T101010Z); Strata's bundler leaves it out. */
  build_date: optional(z.string()),
  /** The plugin's homepage. */
  url: optional(z.string()),
  /** Racetrack's loading order, lowest first. */
  priority: z.number().int().default(0),
  /** The kind of plugin, e.g. "job-type", "infrastructure" or "core". */
  category: optional(z.string()),
  /** The Racetrack components the plugin runs on ("lifecycle", "image-builder"); empty means all. */
  components: z.array(z.string()).nullable().transform((v) => v ?? []).default([]),
});

export type PluginManifest = z.output<typeof PluginManifestSchema>;

const KNOWN_KEYS = Object.keys(PluginManifestSchema.shape);

function fail(file: string, message: string, field?: string): never {
  throw new StrataError('invalid_plugin', `${file}: ${message}`, { file, ...(field ? { field } : {}) });
}

/** Parses and validates a plugin-manifest.yaml; errors name the file and the field. */
export function parsePluginManifest(file: string, text: string): PluginManifest {
  let data: unknown;
  try {
    data = parseYamlFile(file, text);
  } catch (err) {
    if (err instanceof YamlError) fail(file, `is not valid YAML: ${err.reason}`);
    throw err;
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) fail(file, 'must be a YAML mapping of name, version, url, category…');
  const raw = data as Record<string, unknown>;

  const result = PluginManifestSchema.safeParse(raw);
  if (result.success) return result.data;

  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ');
    fail(file, `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys}; a plugin manifest has only ${KNOWN_KEYS.join(', ')}`, issue.keys[0]);
  }
  const field = issue.path.map(String).join('.');
  const value = field ? raw[String(issue.path[0])] : undefined;
  if (issue.path.length === 1 && value === undefined && issue.code === 'invalid_type') fail(file, `field "${field}" is missing`, field);
  if ((field === 'version' || field === 'name') && typeof value === 'number')
    fail(file, `field "${field}" must be a string: YAML read ${value} as a number; quote it, e.g. ${field}: '1.0.0'`, field);
  fail(file, `field "${field}" ${issue.message}`, field);
}
