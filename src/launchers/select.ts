/** The launcher a worker runs tasks with (STRATA_LAUNCHER): a sandboxed process on the worker, or a Kubernetes Job. */
import type { StrataConfig } from '../config.js';
import type { Launcher } from './launcher.js';
import { ProcessLauncher } from './process.js';
import type { Sandbox } from './sandbox.js';

// The Kubernetes client is loaded only when it is used: it alone is about 80 MB of a worker's memory.
export async function launcherFor(config: Pick<StrataConfig, 'launcher'>, sandbox: Sandbox): Promise<Launcher> {
  if (config.launcher.kind === 'kubernetes') {
    const { KubernetesLauncher } = await import('./kubernetes.js');
    const { namespace, kubeconfig, warehouseClaim } = config.launcher.kubernetes;
    return new KubernetesLauncher({ namespace, ...(kubeconfig ? { kubeconfigFile: kubeconfig } : {}), ...(warehouseClaim ? { warehouseClaim } : {}) });
  }
  return new ProcessLauncher(sandbox);
}
