/**
 * A Python 3.11 base image for tests that build job images with buildah.
 *
 * No container registry is reachable here, so instead of pulling `python:3.11` this assembles an
 * image FROM scratch out of the host's Debian Python: the interpreter and its standard library, the
 * shared libraries they load, Debian's pip and setuptools wheels (its ensurepip installs them, so
 * `python3 -m venv` works), the host's CA bundle (Debian's pip trusts it rather than certifi's, and
 * it holds the CA of this machine's egress proxy), and a static busybox for `/bin/sh` and friends.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

const PYTHON = '/usr/bin/python3.11';
const STDLIB = '/usr/lib/python3.11';
const BUSYBOX = '/bin/busybox';
/** Parts of the standard library jobs never need: tests, IDLE, bytecode, the static libpython. */
const SKIP = /^(test|idlelib|__pycache__|config-3\.11-.*)$/;
/** ensurepip's wheels and the CA bundle. (buildah mounts /etc/hosts and /etc/resolv.conf itself.) */
const FILES = ['/usr/share/python-wheels', '/etc/ssl/certs/ca-certificates.crt'];
/** Not needed by Python itself, but manylinux wheels from PyPI expect them. */
const WHEEL_LIBS = ['/usr/lib/x86_64-linux-gnu/libstdc++.so.6', '/usr/lib/x86_64-linux-gnu/libgcc_s.so.1'];

/**
 * Makes the image `name` (e.g. `localhost/strata-test-python:3.11`) in the vfs storage at `root`,
 * unless it is there already, and returns its name. `runroot` defaults to `<root>/run`.
 */
export async function makePythonBaseImage(opts: { root: string; runroot?: string; name: string }): Promise<string> {
  const runroot = opts.runroot ?? path.join(opts.root, 'run');
  const buildah = (...args: string[]) =>
    execa('buildah', ['--root', opts.root, '--runroot', runroot, '--storage-driver', 'vfs', ...args], {
      env: { STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot' },
    });
  if ((await buildah('images', '-q', opts.name).catch(() => ({ stdout: '' }))).stdout.trim()) return opts.name;
  if (!fs.existsSync(BUSYBOX)) {
    await execa('apt-get', ['update']);
    await execa('apt-get', ['install', '-y', 'busybox-static']);
  }

  const ctr = (await buildah('from', 'scratch')).stdout.trim();
  try {
    const mnt = (await buildah('mount', ctr)).stdout.trim();
    const into = (file: string) => path.join(mnt, file);
    // Debian's merged /usr: /bin, /lib and /lib64 are links into /usr.
    for (const dir of ['bin', 'lib', 'lib64']) {
      fs.mkdirSync(into(`usr/${dir}`), { recursive: true });
      fs.symlinkSync(`usr/${dir}`, into(dir));
    }
    fs.mkdirSync(into('tmp'), { mode: 0o1777 });
    fs.chmodSync(into('tmp'), 0o1777);

    fs.cpSync(STDLIB, into(STDLIB), {
      recursive: true,
      dereference: true,
      filter: (src) => !SKIP.test(path.basename(src)),
    });
    const dynload = fs.readdirSync(`${STDLIB}/lib-dynload`).map((f) => `${STDLIB}/lib-dynload/${f}`);
    const libraries = await sharedLibraries([PYTHON, ...dynload, ...WHEEL_LIBS]);
    for (const file of [PYTHON, BUSYBOX, ...FILES, ...WHEEL_LIBS, ...libraries]) {
      fs.cpSync(file, into(file), { recursive: true, dereference: true });
    }
    for (const link of ['python3', 'python']) fs.symlinkSync('python3.11', into(`usr/bin/${link}`));
    const applets = (await execa(BUSYBOX, ['--list'])).stdout.split('\n').filter(Boolean);
    for (const applet of applets) if (!fs.existsSync(into(`usr/bin/${applet}`))) fs.symlinkSync('busybox', into(`usr/bin/${applet}`));

    await buildah(
      'config',
      '--env', 'PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin',
      // pip finds the bundle by itself; the standard library (urllib) needs telling.
      '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      '--cmd', '/bin/sh',
      ctr,
    );
    await buildah('commit', '--quiet', ctr, opts.name);
  } finally {
    await buildah('rm', ctr);
  }
  return opts.name;
}

/** The shared libraries and dynamic loader that `ldd` says these ELF files load. */
async function sharedLibraries(files: string[]): Promise<string[]> {
  const { stdout } = await execa('ldd', files);
  return [...new Set(stdout.match(/\/\S+(?= \(0x)/g))];
}
