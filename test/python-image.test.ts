/**
 * The local Python base image (see helpers/pythonImage.ts): made once, then reused, and a job image
 * built FROM it makes a venv and installs a package from PyPI.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { makePythonBaseImage } from './helpers/pythonImage.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-python-image-'));
const root = path.join(work, 'storage');
const runroot = path.join(work, 'run');
const name = 'localhost/strata-test-python:3.11';
const buildah = (...args: string[]) =>
  execa('buildah', ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', ...args], {
    env: { STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot' },
  });

afterAll(async () => {
  await buildah('rmi', '--all', '--force').catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
});

test('a job image FROM the Python base image makes a venv and pip installs from PyPI', async () => {
  expect(await makePythonBaseImage({ root, runroot, name })).toBe(name);
  const id = (await buildah('images', '-q', name)).stdout.trim();
  expect(id).not.toBe('');
  await makePythonBaseImage({ root, runroot, name });
  expect((await buildah('images', '-q', name)).stdout.trim()).toBe(id);

  const ctx = path.join(work, 'ctx');
  fs.mkdirSync(ctx);
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    `FROM ${name}\n` +
      'RUN python3 -m venv /src/job-venv && /src/job-venv/bin/pip install --disable-pip-version-check six' +
      ' && /src/job-venv/bin/python -c "import six, ssl, sqlite3, json; print(six.__version__)"\n',
  );
  const { stdout } = await buildah('bud', '--isolation', 'chroot', '-t', 'localhost/strata-test-job:python', '-f', path.join(ctx, 'Dockerfile'), ctx);
  expect(stdout).toContain('Successfully installed six-');
  expect(stdout).toMatch(/^1\.\d+\.\d+$/m);
});
