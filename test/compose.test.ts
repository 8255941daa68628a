/**
 * docker-compose.yml read as a file (there is no Docker engine here to run it): every service has a
 * healthcheck, Strata's services get only variables src/config.ts reads and loadConfig takes their
 * values, their commands are the repository's entry points, the API and the workers share no volume
 * but the warehouse, and the files the stack mounts (Temporal's config, the certificates) exist or are what
 * deploy/compose/make-certs.sh makes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig, projectRoot } from '../src/config.js';
import { tempDir } from './helpers/stack.js';

interface Service {
  image?: string;
  build?: string;
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  secrets?: string[];
  configs?: { source: string; target: string }[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  deploy?: { replicas?: number };
}

interface Compose {
  services: Record<string, Service>;
  configs: Record<string, { file: string }>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}

const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
const services = Object.entries(compose.services);
const strataServices = services.filter(([, s]) => s.build === '.');
const packageJson = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('docker-compose.yml (read as a file: no Docker engine here)', () => {
  test('the stack: PostgreSQL, Temporal on it, its UI, a registry, the API and several workers', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgresql', 'temporal', 'temporal-ui', 'registry', 'api', 'worker']));
    expect(compose.services.registry!.image).toMatch(/^registry:2/);
    expect(compose.services.temporal!.configs).toEqual([{ source: 'temporal-config', target: '/etc/temporal/config/strata.yaml' }]);
    expect(compose.services.temporal!.entrypoint!.at(-1)).toContain('temporal-server --root /etc/temporal --config config --env strata start');
    expect(compose.configs['temporal-config']!.file).toBe('./deploy/temporal/strata.yaml');
    expect(compose.services.temporal!.environment!.TEMPORAL_DB_HOST).toBe('postgresql');
    expect(compose.services.worker!.deploy!.replicas).toBeGreaterThan(1);
    expect(strataServices.map(([name]) => name).sort()).toEqual(['api', 'worker']);
  });

  test('every service has a healthcheck, and what a service waits for exists and can say so', () => {
    for (const [name, service] of services) {
      expect({ name, healthcheck: service.healthcheck?.test !== undefined }).toEqual({ name, healthcheck: true });
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(compose.services[dependency]).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully']).toContain(condition);
      }
    }
  });

  test("Strata's services: only variables src/config.ts reads, values loadConfig takes, PostgreSQL and Temporal over mTLS", () => {
    for (const [name, service] of strataServices) {
      const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
      const unknown = Object.keys(env).filter((k) => !CONFIG_VARIABLES.includes(k));
      expect({ name, unknown }).toEqual({ name, unknown: [] });
      const config = loadConfig(env);
      expect(config.databaseUrl).toMatch(/@postgresql:5432\//);
      expect(config.temporal).toMatchObject({ address: 'temporal:7233', embedded: false });
      // The certificates are the service's secrets, as compose mounts them.
      for (const file of [config.temporal.tls!.cert!, config.temporal.tls!.key!, config.temporal.tls!.ca!]) {
        expect(file.startsWith('/run/secrets/')).toBe(true);
        expect(service.secrets).toContain(path.basename(file));
      }
      expect(config.deploy.registry).toBe('registry:5000/strata');
      expect(fs.existsSync(config.jobsSource.replace(/^\/app/, projectRoot))).toBe(true);
    }
    expect(loadConfig(Object.fromEntries(Object.entries(compose.services.worker!.environment!).map(([k, v]) => [k, String(v)]))).metricsPort).toBe(9464);
  });

  test('commands are the entry points of this repository', () => {
    for (const [name, service] of strataServices) {
      const command = service.command as string[];
      if (command[0] === 'npm') expect({ name, script: packageJson.scripts[command.at(-1)!] !== undefined }).toEqual({ name, script: true });
      else {
        expect({ name, command: command.slice(0, 2) }).toEqual({ name, command: ['npx', 'tsx'] });
        expect({ name, file: fs.existsSync(path.join(projectRoot, command[2]!)) }).toEqual({ name, file: true });
      }
    }
    // The healthchecks ask what these entry points serve: the API's health route, a worker's metrics port.
    expect(JSON.stringify(compose.services.api!.healthcheck!.test)).toContain(`:${compose.services.api!.environment!.STRATA_PORT}/api/v1/health`);
    expect(JSON.stringify(compose.services.worker!.healthcheck!.test)).toContain(`:${compose.services.worker!.environment!.STRATA_METRICS_PORT}/metrics`);
  });

  test('the API and the workers share no volume but the warehouse (their data folders are their own)', () => {
    for (const name of ['api', 'worker']) {
      const service = compose.services[name]!;
      const env = Object.fromEntries(Object.entries(service.environment!).map(([k, v]) => [k, String(v)]));
      const config = loadConfig(env);
      const mounts = (service.volumes ?? []).map((v) => ({ source: v.split(':')[0]!, target: v.split(':')[1]! }));
      expect({ name, mounts }).toEqual({ name, mounts: [{ source: 'warehouse', target: config.warehouseDir }] });
      expect(config.dataDir.startsWith(config.warehouseDir)).toBe(false);
    }
  });

  test('the certificates the stack mounts are what deploy/compose/make-certs.sh makes', async () => {
    const script = path.join(projectRoot, 'deploy', 'compose', 'make-certs.sh');
    // The script writes next to itself: run a copy in a scratch folder.
    const dir = tempDir('compose-certs');
    fs.copyFileSync(script, path.join(dir, 'make-certs.sh'));
    await execa('sh', [path.join(dir, 'make-certs.sh')]);
    for (const [name, secret] of Object.entries(compose.secrets)) {
      expect({ name, dir: path.dirname(secret.file) }).toEqual({ name, dir: './deploy/compose/certs' });
      expect({ name, made: fs.existsSync(path.join(dir, 'certs', path.basename(secret.file))) }).toEqual({ name, made: true });
    }
    const verify = await execa('openssl', ['verify', '-CAfile', 'ca.pem', 'server.pem', 'client.pem'], { cwd: path.join(dir, 'certs') });
    expect(verify.stdout).toContain('server.pem: OK');
    const server = await execa('openssl', ['x509', '-in', 'server.pem', '-noout', '-ext', 'subjectAltName'], { cwd: path.join(dir, 'certs') });
    expect(server.stdout).toContain(`DNS:${compose.services.api!.environment!.STRATA_TEMPORAL_TLS_SERVER_NAME}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
