/** The image builder the configuration asks for; `local` builds no image (the workspace is the deployment). */
import type { StrataConfig } from '../config.js';
import { BuildahBuilder } from './buildah.js';
import type { ImageBuilder } from './builder.js';

/** Kaniko's modules are loaded only when Kaniko is the builder, the Kubernetes client (~80 MB) only for its pod builder. */
export async function imageBuilderFor(config: StrataConfig): Promise<ImageBuilder | undefined> {
  const { builder, registryInsecure, imagesDir } = config.deploy;
  if (builder === 'local') return undefined;
  if (builder === 'buildah') return new BuildahBuilder({ root: imagesDir, registryInsecure });
  const { mode, namespace, image } = config.deploy.kaniko;
  if (mode === 'local') {
    const { KanikoLocalBuilder } = await import('./kanikoLocal.js');
    return new KanikoLocalBuilder({ registryInsecure });
  }
  const { KanikoPodBuilder } = await import('./kanikoPod.js');
  return new KanikoPodBuilder({
    namespace,
    image,
    registryInsecure,
    // The pod fetches the job's folder at the commit itself: it cannot see this machine's checkout.
    contextFor: (req) => (req.source ? { kind: 'git', repo: req.source.repo, commit: req.source.commit, subPath: req.source.folder } : undefined),
  });
}
