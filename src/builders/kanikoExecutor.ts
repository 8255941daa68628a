/**
 * What Kaniko's two builders share (src/builders/kanikoPod.ts, one Pod per build in Kubernetes, and
 * src/builders/kanikoLocal.ts, the executor on this machine): the executor's flags, and named contexts.
 *
 * Named contexts (`buildContexts`, e.g. `COPY --from=jobtype x`): Kaniko has no `--build-context`. Each
 * one is copied into the build context as `.strata-contexts/<name>/` (a staged copy of the checkout in
 * local mode; ConfigMap files copied in by the init container in Kubernetes), and the Dockerfile gets a
 * stage per name before its first FROM: `FROM scratch AS <name>` + `COPY .strata-contexts/<name>/ /`, so
 * `COPY --from=<name> ...` resolves to that stage unchanged. Not possible with a URL context.
 */
import { StrataError } from '../errors.js';
import { registryHost, type ImageBuildRequest } from './builder.js';

/** Where named contexts go inside the build context. */
export const CONTEXTS_DIR = '.strata-contexts';
export const SECRET_TARGET = '/run/secrets/build_secrets';

export interface KanikoCommonOptions {
  /** Push and pull over plain HTTP (`--insecure`, `--insecure-pull`). */
  registryInsecure: boolean;
  /** `--cache-repo`; default `<destination's registry>/cache`. */
  cacheRepo?: string;
  /** `--cache=true` unless false. */
  cache?: boolean;
  /** More executor flags, e.g. `--snapshot-mode=redo`. */
  extraArgs?: string[];
}

/** A line of Kaniko's log that says a step came from the cache. */
export const CACHE_HIT = /Using caching version of cmd/;

/** Executor flags common to both builders; `context`, `dockerfile` and `digest-file` differ. */
export function executorArgs(opts: KanikoCommonOptions, req: ImageBuildRequest, where: { context: string; dockerfile: string; digestFile: string }): string[] {
  const args = [`--context=${where.context}`, `--dockerfile=${where.dockerfile}`, `--destination=${req.destination}`];
  if (opts.cache !== false) {
    args.push('--cache=true');
    const cacheRepo = opts.cacheRepo ?? (registryHost(req.destination) ? `${registryHost(req.destination)}/cache` : undefined);
    if (cacheRepo) args.push(`--cache-repo=${cacheRepo}`);
  }
  args.push(`--digest-file=${where.digestFile}`);
  if (opts.registryInsecure) args.push('--insecure', '--insecure-pull');
  for (const [k, v] of Object.entries(req.buildArgs ?? {})) args.push(`--build-arg=${k}=${v}`);
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/**
 * The Dockerfile with a stage per named context before its first FROM (after parser directives and
 * global ARGs, which must stay first): `FROM scratch AS <name>` + `COPY .strata-contexts/<name>/ /`.
 */
export function withContextStages(dockerfile: string, names: string[]): string {
  if (names.length === 0) return dockerfile;
  const lines = dockerfile.split('\n');
  const existing = new Set<string>();
  for (const line of lines) {
    const m = /^\s*FROM\s.*\sAS\s+(\S+)\s*$/i.exec(line);
    if (m) existing.add(m[1]!.toLowerCase());
  }
  const clash = names.find((n) => existing.has(n.toLowerCase()));
  if (clash) throw new StrataError('image_build_failed', `the Dockerfile has a stage named "${clash}", the name of a build context`);
  let first = lines.findIndex((l) => /^\s*FROM\s/i.test(l));
  if (first < 0) first = lines.length;
  const stages = names.flatMap((n) => [`FROM scratch AS ${n}`, `COPY ${CONTEXTS_DIR}/${n}/ /`, '']);
  return [...lines.slice(0, first), ...stages, ...lines.slice(first)].join('\n');
}

/** The named contexts' names, refused unless each can be a stage's name. */
export function checkContextNames(contexts: Record<string, string>): string[] {
  const names = Object.keys(contexts);
  for (const n of names) if (!/^[a-z0-9][a-z0-9._-]*$/.test(n)) throw new StrataError('image_build_failed', `build context name "${n}" is not a valid stage name`);
  return names;
}
