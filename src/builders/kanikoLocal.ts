/**
 * Kaniko on this machine: runs an `executor` binary (Strata itself in a Kaniko-based container) with the
 * flags of src/builders/kanikoExecutor.ts, `--context=dir://<contextDir>` and `--digest-file=<tmp>`.
 * Kaniko unpacks the base image over the root filesystem it runs in, so builds in one process run one at
 * a time. Named contexts are copied into a staged copy of the checkout (see kanikoExecutor.ts).
 * For Kaniko in a Kubernetes Pod, see src/builders/kanikoPod.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { BuildLog, buildFailure, cancelledError, runLogged, shellLine, type ImageBuildRequest, type ImageBuildResult, type ImageBuilder } from './builder.js';
import { CACHE_HIT, CONTEXTS_DIR, SECRET_TARGET, checkContextNames, executorArgs, withContextStages, type KanikoCommonOptions } from './kanikoExecutor.js';

export interface KanikoLocalOptions extends KanikoCommonOptions {
  /** Default /kaniko/executor. */
  executorPath?: string;
  /** Where the build secret is placed for RUN steps (and kept out of the image); default /run/secrets/build_secrets. */
  secretPath?: string;
}

export class KanikoLocalBuilder implements ImageBuilder {
  readonly name = 'kaniko';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: KanikoLocalOptions) {}

  build(req: ImageBuildRequest): Promise<ImageBuildResult> {
    // One local build at a time: each takes over the filesystem it runs in.
    const run = this.queue.then(() => this.buildLocally(req, this.options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async buildLocally(req: ImageBuildRequest, opts: KanikoLocalOptions): Promise<ImageBuildResult> {
    const what = `building ${req.destination} with kaniko`;
    if (req.signal?.aborted) throw cancelledError(req.signal, what);
    const executor = opts.executorPath ?? '/kaniko/executor';
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-kaniko-'));
    let cachedSteps = 0;
    const log = new BuildLog(req.logFile, (line) => {
      if (CACHE_HIT.test(line)) cachedSteps++;
      req.onLog?.(line);
    });
    const secretPath = opts.secretPath ?? SECRET_TARGET;
    let placedSecret = false;
    try {
      let context = req.contextDir;
      let dockerfile = req.dockerfile;
      const names = checkContextNames(req.buildContexts ?? {});
      if (names.length > 0) {
        // A staged copy: the checkout itself is left as it is.
        context = path.join(tmp, 'context');
        fs.cpSync(req.contextDir, context, { recursive: true, verbatimSymlinks: true });
        for (const n of names) fs.cpSync(req.buildContexts![n]!, path.join(context, CONTEXTS_DIR, n), { recursive: true, dereference: true });
        dockerfile = path.join(tmp, 'Dockerfile');
        fs.writeFileSync(dockerfile, withContextStages(fs.readFileSync(req.dockerfile, 'utf8'), names));
      }
      const digestFile = path.join(tmp, 'digest');
      const args = executorArgs(opts, req, { context: `dir://${context}`, dockerfile, digestFile });
      if (req.secretEnvFile !== undefined) {
        if (fs.existsSync(secretPath)) throw new StrataError('image_build_failed', `${secretPath} already exists: another build's secret, or not Strata's`);
        fs.mkdirSync(path.dirname(secretPath), { recursive: true });
        fs.copyFileSync(req.secretEnvFile, secretPath);
        fs.chmodSync(secretPath, 0o600);
        placedSecret = true;
        args.push(`--ignore-path=${secretPath}`);
      }
      log.note(shellLine(executor, args));
      const ran = await runLogged(executor, args, { log, signal: req.signal });
      if (ran.aborted) throw cancelledError(req.signal, what);
      if (ran.exitCode !== 0)
        throw buildFailure(log.tail.toString(), `${what} failed (exit ${ran.exitCode ?? ran.signal})`, { details: { builder: this.name, destination: req.destination } });
      const digest = fs.existsSync(digestFile) ? fs.readFileSync(digestFile, 'utf8').trim() : '';
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new StrataError('image_build_failed', `kaniko built ${req.destination} but wrote no digest`);
      log.note(`pushed ${req.destination}@${digest}${cachedSteps > 0 ? ` (${cachedSteps} cached steps)` : ''}`);
      return { image: req.destination, digest, cachedSteps };
    } finally {
      log.close();
      if (placedSecret) fs.rmSync(secretPath, { force: true });
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
}
