/**
 * The buildah builder: `buildah bud` then `buildah push`, daemonless, in Strata's own process tree.
 * Storage is vfs under Strata's data folder and RUN steps use chroot isolation, so it needs no Docker
 * engine, no overlay mounts and no user namespaces (it does need root, or a rootless buildah setup).
 * `--layers` keeps every step's layer in that storage: an unchanged step of a later build is
 * `Using cache` (counted as cachedSteps) and an unchanged image pushes to the same digest.
 *
 * Named contexts: buildah 1.28 has `--build-context name=dir` (checked: `COPY --from=jobtype x` reads
 * `<dir>/x`), so `buildContexts` pass through as they are; no context image and no Dockerfile rewrite.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { BuildLog, buildFailure, cancelledError, runLogged, shellLine, type ImageBuildRequest, type ImageBuildResult, type ImageBuilder } from './builder.js';

export interface BuildahOptions {
  /** Storage root under Strata's data folder (images in `<root>/storage`, run state in `<root>/runroot`). */
  root: string;
  /** Push (and pull base images) over plain HTTP / without TLS verification. */
  registryInsecure: boolean;
  buildahPath?: string;
}

/** buildah's global flags for a storage root; anything else using that storage (tests, tools) must pass the same. */
export function buildahGlobalArgs(root: string): string[] {
  return ['--root', path.join(root, 'storage'), '--runroot', path.join(root, 'runroot'), '--storage-driver', 'vfs'];
}

/** The environment buildah runs with: vfs storage and chroot isolation, whatever the caller's environment says. */
export function buildahEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot', BUILDAH_LAYERS: 'true' };
}

const USING_CACHE = /^--> Using cache /;

export class BuildahBuilder implements ImageBuilder {
  readonly name = 'buildah';
  private readonly buildah: string;
  private active = 0;

  constructor(private readonly options: BuildahOptions) {
    this.buildah = options.buildahPath ?? 'buildah';
  }

  async build(req: ImageBuildRequest): Promise<ImageBuildResult> {
    const what = `building ${req.destination} with buildah`;
    if (req.signal?.aborted) throw cancelledError(req.signal, what);
    const global = buildahGlobalArgs(this.options.root);
    const env = buildahEnv();
    const tls = this.options.registryInsecure ? ['--tls-verify=false'] : [];
    const bud = ['bud', '--isolation', 'chroot', '--layers', '--force-rm', ...tls, '-f', req.dockerfile, '-t', req.destination];
    for (const [k, v] of Object.entries(req.buildArgs ?? {})) bud.push('--build-arg', `${k}=${v}`);
    if (req.secretEnvFile !== undefined) bud.push('--secret', `id=build_secrets,src=${req.secretEnvFile}`);
    for (const [name, dir] of Object.entries(req.buildContexts ?? {})) bud.push('--build-context', `${name}=${dir}`);
    bud.push(req.contextDir);

    let cachedSteps = 0;
    const log = new BuildLog(req.logFile, (line) => {
      if (USING_CACHE.test(line)) cachedSteps++;
      req.onLog?.(line);
    });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-buildah-'));
    this.active++;
    let aborted = false;
    try {
      fs.mkdirSync(this.options.root, { recursive: true });
      /** Runs one buildah command (after the global flags) into the build log; an abort is the build's cancellation. */
      const run = async (args: string[]) => {
        log.note(shellLine(this.buildah, [...global, ...args]));
        const ran = await runLogged(this.buildah, [...global, ...args], { env, log, signal: req.signal });
        if (ran.aborted) {
          aborted = true;
          throw cancelledError(req.signal, what);
        }
        return ran;
      };
      const built = await run(bud);
      if (built.exitCode !== 0)
        throw buildFailure(log.tail.toString(), `${what} failed (exit ${built.exitCode ?? built.signal})`, {
          contextDir: req.contextDir,
          details: { builder: this.name, destination: req.destination },
        });

      const digestFile = path.join(tmp, 'digest');
      const push = ['push', ...tls, '--digestfile', digestFile, req.destination];
      const pushed = await run(push);
      // A push failure is never the job's: no user markers are looked for.
      if (pushed.exitCode !== 0)
        throw new StrataError('image_build_failed', `pushing ${req.destination} failed (exit ${pushed.exitCode ?? pushed.signal}):\n${lastLines(log.tail.toString())}`, {
          builder: this.name,
          destination: req.destination,
        });
      const digest = fs.existsSync(digestFile) ? fs.readFileSync(digestFile, 'utf8').trim() : '';
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new StrataError('image_build_failed', `buildah pushed ${req.destination} but wrote no digest`);
      log.note(`pushed ${req.destination}@${digest}${cachedSteps > 0 ? ` (${cachedSteps} cached steps)` : ''}`);
      return { image: req.destination, digest, cachedSteps };
    } finally {
      this.active--;
      log.close();
      fs.rmSync(tmp, { recursive: true, force: true });
      if (aborted && this.active === 0) await this.removeWorkingContainers();
    }
  }

  /**
   * A bud killed before its RUN step started (pulling, copying) leaves its working container behind (a
   * full vfs copy of the image). `--force-rm` covers failed steps; after a cancellation, when this builder
   * has no other build running, every working container of its storage goes: the storage root is
   * Strata's own, so no one else's build can be using it.
   */
  private async removeWorkingContainers(): Promise<void> {
    const sink = new BuildLog(undefined);
    await runLogged(this.buildah, [...buildahGlobalArgs(this.options.root), 'rm', '--all'], { env: buildahEnv(), log: sink }).catch(() => undefined);
    sink.close();
  }
}

function lastLines(log: string, n = 20): string {
  return log.trimEnd().split('\n').slice(-n).join('\n');
}
