/**
 * deploy/kubernetes/ as files (there is no cluster here to apply them to): every manifest parses, every
 * variable Strata's containers get (env, and the ConfigMaps and Secrets they take whole with envFrom) is
 * one src/config.ts reads and its value passes loadConfig, and the pieces reference each other.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONFIG_VARIABLES, loadConfig, projectRoot } from '../src/config.js';

const dir = path.join(projectRoot, 'deploy', 'kubernetes');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodSpec {
  serviceAccountName?: string;
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string }; persistentVolumeClaim?: { claimName: string }; emptyDir?: object; hostPath?: unknown }[];
}

function load(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      expect({ file, errors: doc.errors.map((e) => e.message) }).toEqual({ file, errors: [] });
      const value = doc.toJS() as Manifest | null;
      if (value) manifests.push(value);
    }
  }
  return manifests;
}

const manifests = load();
const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const named = (kind: string, name: string) => byKind(kind).find((m) => m.metadata?.name === name);
const deployments = byKind('Deployment') as (Manifest & { spec: { replicas: number; template: { spec: PodSpec } } })[];

/** The variables a container gets: its env, then what its envFrom ConfigMaps and Secrets hold. */
function environmentOf(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const source = from.configMapRef ? named('ConfigMap', ref!.name) : named('Secret', ref!.name);
    expect({ envFrom: ref!.name, found: source !== undefined }).toEqual({ envFrom: ref!.name, found: true });
    const data = (source?.data ?? source?.stringData ?? {}) as Record<string, string>;
    Object.assign(env, data);
  }
  for (const e of container.env ?? []) {
    expect({ name: e.name, value: typeof e.value }).toEqual({ name: e.name, value: 'string' });
    env[e.name] = e.value!;
  }
  return env;
}

describe('deploy/kubernetes manifests (read as files: no cluster here)', () => {
  test('kustomization lists every manifest file', () => {
    const kustomization = byKind('Kustomization')[0];
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    expect([...((kustomization as unknown as { resources: string[] }).resources)].sort()).toEqual(files);
  });

  test('the API (Deployment + Service) and a scalable worker Deployment', () => {
    const api = deployments.find((d) => d.metadata.name === 'strata-api');
    const worker = deployments.find((d) => d.metadata.name === 'strata-worker');
    expect(api).toBeDefined();
    expect(worker).toBeDefined();
    expect(worker!.spec.replicas).toBeGreaterThan(1);
    const service = named('Service', 'strata-api') as unknown as { spec: { selector: Record<string, string> } };
    expect(service.spec.selector).toEqual((api!.spec as unknown as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels);
    // Commands are the repository's entry points.
    expect(api!.spec.template.spec.containers[0]!.command).toEqual(['npx', 'tsx', 'src/main.ts']);
    expect(worker!.spec.template.spec.containers[0]!.command).toEqual(['npx', 'tsx', 'src/worker.ts']);
    for (const d of deployments) for (const c of d.spec.template.spec.containers) expect(fs.existsSync(path.join(projectRoot, c.command!.at(-1)!))).toBe(true);
  });

  test('every variable set is one src/config.ts reads, and the values load', () => {
    for (const d of deployments) {
      for (const container of d.spec.template.spec.containers) {
        const env = environmentOf(container);
        const unknown = Object.keys(env).filter((k) => !CONFIG_VARIABLES.includes(k));
        expect({ deployment: d.metadata.name, unknown }).toEqual({ deployment: d.metadata.name, unknown: [] });
        const config = loadConfig(env);
        expect(config.databaseUrl).toMatch(/^postgres:\/\//);
        expect(config.temporal.embedded).toBe(false);
        expect(config.temporal.tls).toBeDefined();
        expect(config.launcher.kind).toBe('kubernetes');
        // The TLS files are where the Secret is mounted.
        const mounts = container.volumeMounts ?? [];
        for (const file of [config.temporal.tls!.cert!, config.temporal.tls!.key!, config.temporal.tls!.ca!]) {
          const mount = mounts.find((m) => file.startsWith(`${m.mountPath}/`));
          expect({ file, mounted: mount?.name }).toEqual({ file, mounted: 'temporal-tls' });
        }
        const volume = d.spec.template.spec.volumes!.find((v) => v.name === 'temporal-tls');
        expect(volume?.secret?.secretName).toBe('strata-temporal-tls');
        // The warehouse claim the launcher mounts in task pods is the one mounted at STRATA_WAREHOUSE here.
        const warehouse = mounts.find((m) => m.mountPath === config.warehouseDir);
        const claim = d.spec.template.spec.volumes!.find((v) => v.name === warehouse?.name)?.persistentVolumeClaim?.claimName;
        expect(claim).toBe(config.launcher.kubernetes.warehouseClaim);
        expect(named('PersistentVolumeClaim', claim!)).toBeDefined();
        expect(config.launcher.kubernetes.namespace).toBe('strata');
        expect(d.spec.template.spec.serviceAccountName).toBe('strata');
        expect(d.spec.template.spec.volumes!.some((v) => v.hostPath !== undefined)).toBe(false);
      }
    }
  });

  test('the service account may handle jobs, pods and their logs in its namespace only', () => {
    expect(byKind('ClusterRole')).toHaveLength(0);
    expect(byKind('ClusterRoleBinding')).toHaveLength(0);
    const role = named('Role', 'strata-tasks') as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const allowed = (group: string, resource: string, verb: string) => role.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    for (const verb of ['create', 'get', 'list', 'delete']) expect(allowed('batch', 'jobs', verb)).toBe(true);
    for (const verb of ['get', 'list']) expect(allowed('', 'pods', verb)).toBe(true);
    expect(allowed('', 'pods/log', 'get')).toBe(true);
    expect(role.rules.some((r) => r.resources.includes('*') || r.verbs.includes('*'))).toBe(false);
    const binding = named('RoleBinding', 'strata-tasks') as unknown as { roleRef: { name: string }; subjects: { kind: string; name: string }[] };
    expect(binding.roleRef.name).toBe('strata-tasks');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'strata' }]);
    expect(named('ServiceAccount', 'strata')).toBeDefined();
  });

  test('pods of jobs without network are isolated', () => {
    const policy = named('NetworkPolicy', 'strata-tasks-without-network') as unknown as { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: unknown; egress?: unknown } };
    expect(policy.spec.podSelector.matchLabels['strata.dev/network']).toBe('none');
    expect(policy.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    expect(policy.spec.ingress ?? []).toEqual([]);
    expect(policy.spec.egress ?? []).toEqual([]);
  });
});
