/**
 * A throwaway image registry for tests (Debian's docker-registry, the Distribution registry 2.8, on a free
 * loopback port), and what buildah tests need on this machine: buildah itself and a local base image made
 * from busybox-static. Missing Debian packages are installed with apt-get (as root only).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { buildahEnv, buildahGlobalArgs } from '../../src/builders/buildah.js';
import { freePort } from '../../bench/lib/proc.js';

const REGISTRY_BIN = '/usr/bin/docker-registry';
const BUILDAH_BIN = '/usr/bin/buildah';
const BUSYBOX_BIN = '/bin/busybox';

let aptUpdated: Promise<void> | undefined;
let aptQueue: Promise<unknown> = Promise.resolve();

/** Installs a Debian package unless `binary` exists: `apt-get update` once per process, then `apt-get install -y`. */
export function ensurePackage(pkg: string, binary: string): Promise<void> {
  const run = aptQueue.then(async () => {
    if (fs.existsSync(binary)) return;
    if (process.getuid?.() !== 0)
      throw new Error(`${binary} is missing and only root can install it: run \`apt-get install -y ${pkg}\` as root, or run the tests as root`);
    aptUpdated ??= execa('apt-get', ['update'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).then(() => undefined);
    await aptUpdated;
    await execa('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (!fs.existsSync(binary)) throw new Error(`installed ${pkg} but ${binary} is still missing`);
  });
  aptQueue = run.catch(() => undefined);
  return run;
}

export const ensureBuildah = () => ensurePackage('buildah', BUILDAH_BIN);

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  /** http://127.0.0.1:PORT */
  url: string;
  stop(): Promise<void>;
}

/** Starts a registry with filesystem storage in a temp dir; resolves once `GET /v2/` answers. */
export async function startRegistry(): Promise<TestRegistry> {
  await ensurePackage('docker-registry', REGISTRY_BIN);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      `  secret: strata-test-${port}`,
      '',
    ].join('\n'),
  );
  const logFd = fs.openSync(path.join(dir, 'registry.log'), 'a');
  const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) => child.once('exit', (code, signal) => ((exited = `exited ${code ?? signal}`), resolve())));
  child.once('error', (err) => (exited = err.message));

  const deadline = Date.now() + 30_000;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    if (exited) throw new Error(`the registry ${exited}: ${fs.readFileSync(path.join(dir, 'registry.log'), 'utf8').slice(-2000)}`);
    const ok = await fetch(`${url}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the registry on ${host} did not answer within 30 s`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  return {
    host,
    url,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

export interface RegistryManifest {
  /** Docker-Content-Digest. */
  digest: string;
  mediaType: string;
  manifest: { schemaVersion: number; mediaType?: string; config?: { digest: string }; layers?: { digest: string; size: number; mediaType: string }[] } & Record<string, unknown>;
}

/** GET /v2/<repo>/manifests/<ref> accepting OCI and Docker v2 manifests; throws unless 200. */
export async function registryManifest(url: string, repo: string, ref: string): Promise<RegistryManifest> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: MANIFEST_TYPES.join(', ') } });
  if (res.status !== 200) throw new Error(`GET ${url}/v2/${repo}/manifests/${ref}: HTTP ${res.status} ${await res.text()}`);
  const digest = res.headers.get('docker-content-digest') ?? '';
  const manifest = (await res.json()) as RegistryManifest['manifest'];
  return { digest, mediaType: res.headers.get('content-type') ?? manifest.mediaType ?? '', manifest };
}

/**
 * A local image `name` (e.g. localhost/strata-test-base:1) in the buildah storage at `builderRoot`: busybox
 * with its applets linked into /bin, CMD /bin/sh. Nothing is pulled. Idempotent: an existing image is kept.
 */
export async function makeBaseImage(builderRoot: string, name: string): Promise<string> {
  await ensureBuildah();
  await ensurePackage('busybox-static', BUSYBOX_BIN);
  const global = buildahGlobalArgs(builderRoot);
  const env = buildahEnv();
  const buildah = (...args: string[]) => execa(BUILDAH_BIN, [...global, ...args], { env });
  fs.mkdirSync(builderRoot, { recursive: true });
  const exists = await buildah('inspect', '--type', 'image', name).then(
    () => true,
    () => false,
  );
  if (exists) return name;
  const container = (await buildah('from', 'scratch')).stdout.trim();
  try {
    const mnt = (await buildah('mount', container)).stdout.trim();
    fs.mkdirSync(path.join(mnt, 'bin'), { recursive: true });
    fs.copyFileSync(BUSYBOX_BIN, path.join(mnt, 'bin', 'busybox'));
    fs.chmodSync(path.join(mnt, 'bin', 'busybox'), 0o755);
    for (const d of ['etc', 'root']) fs.mkdirSync(path.join(mnt, d), { recursive: true });
    fs.mkdirSync(path.join(mnt, 'tmp'), { recursive: true });
    fs.chmodSync(path.join(mnt, 'tmp'), 0o1777);
    await buildah('run', '--isolation', 'chroot', container, '/bin/busybox', '--install', '-s', '/bin');
    await buildah('config', '--cmd', '/bin/sh', '--env', 'PATH=/bin', container);
    await buildah('commit', '--rm', container, name);
  } catch (err) {
    await buildah('rm', container).catch(() => undefined);
    throw err;
  }
  return name;
}
