/** The launcher a worker runs tasks with (STRATA_LAUNCHER): a sandboxed process on the worker, or a Kubernetes Job. */
import type { StrataConfig } from '../config.js';
import { KubernetesLauncher } from './kubernetes.js';
import type { Launcher } from './launcher.js';
import { ProcessLauncher } from './process.js';
import type { Sandbox } from './sandbox.js';

export function launcherFor(config: Pick<StrataConfig, 'launcher'>, sandbox: Sandbox): Launcher {
  if (config.launcher.kind === 'kubernetes') {
    const { namespace, kubeconfig, warehouseClaim } = config.launcher.kubernetes;
    return new KubernetesLauncher({ namespace, ...(kubeconfig ? { kubeconfigFile: kubeconfig } : {}), ...(warehouseClaim ? { warehouseClaim } : {}) });
  }
  return new ProcessLauncher(sandbox);
}
