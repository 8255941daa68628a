/**
 * What a worker hides from every sandbox even inside a system folder: its data folder (an empty tmpfs)
 * and its Temporal TLS certificate and key (/dev/null in their place, which a sandbox cannot open), so a key kept in /etc or /opt is
 * not readable by a task. The files are made in a fresh folder under /opt and removed afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Sandbox } from '../src/launchers/sandbox.js';

const root = fs.mkdtempSync('/opt/strata-hidden-test-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

test('a hidden file cannot be read, a hidden folder is empty, and what is beside them stays readable', async () => {
  const key = path.join(root, 'tls', 'client.key');
  const data = path.join(root, 'data');
  fs.mkdirSync(path.dirname(key), { recursive: true });
  fs.mkdirSync(data);
  fs.writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nsecret\n');
  fs.writeFileSync(path.join(root, 'tls', 'ca.pem'), 'the CA, public\n');
  fs.writeFileSync(path.join(data, 'strata.db'), 'tokens\n');
  const sandbox = new Sandbox({ mode: 'bubblewrap', hiddenPaths: [data, key, path.join(root, 'missing.key')] });
  const script = `cat ${key} 2>/dev/null || echo "key: unreadable"; ls -A ${data} | wc -l | sed 's/^/data entries: /'; cat ${root}/tls/ca.pem`;
  const { file, args, env } = sandbox.wrap(['sh', '-c', script], '/', { readOnly: [], writable: [], network: false }, { PATH: '/usr/bin:/bin' });
  const { stdout } = await execa(file, args, { env, extendEnv: false });
  expect(stdout).not.toContain('secret');
  expect(stdout).toContain('key: unreadable');
  expect(stdout).toContain('data entries: 0');
  expect(stdout).toContain('the CA, public');
});
