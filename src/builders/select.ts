/** The image builder the configuration asks for; `local` builds no image (the workspace is the deployment). */
import type { StrataConfig } from '../config.js';
import { BuildahBuilder } from './buildah.js';
import type { ImageBuilder } from './builder.js';

/** Kaniko's module (and the Kubernetes client, ~80 MB) is loaded only when Kaniko is the builder. */
export async function imageBuilderFor(config: StrataConfig): Promise<ImageBuilder | undefined> {
  const { builder, registryInsecure, imagesDir } = config.deploy;
  if (builder === 'local') return undefined;
  if (builder === 'buildah') return new BuildahBuilder({ root: imagesDir, registryInsecure });
  const { KanikoBuilder } = await import('./kaniko.js');
  const { mode, namespace, image } = config.deploy.kaniko;
  if (mode === 'local') return new KanikoBuilder({ mode, registryInsecure });
  return new KanikoBuilder({
    mode,
    namespace,
    image,
    registryInsecure,
    // The pod fetches the job's folder at the commit itself: it cannot see this machine's checkout.
    contextFor: (req) => (req.source ? { kind: 'git', repo: req.source.repo, commit: req.source.commit, subPath: req.source.folder } : undefined),
  });
}
