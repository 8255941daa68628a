/** temporalConnectionOptions: the address, mTLS from PEM files (read once) and an API key; clear errors naming the variable. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { temporalConnectionOptions } from '../../src/temporal/connection.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-connection-'));
const pem = (name: string, kind = 'CERTIFICATE') => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `-----BEGIN ${kind}-----\n${name}\n-----END ${kind}-----\n`);
  return file;
};
const cert = pem('client.pem');
const key = pem('client.key', 'PRIVATE KEY');
const ca = pem('ca.pem');
const options = (env: Record<string, string>) => temporalConnectionOptions(loadConfig({ STRATA_TEMPORAL_ADDRESS: 'temporal.example:7233', ...env }).temporal);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the address alone when neither TLS nor an API key is configured', () => {
  expect(options({})).toEqual({ address: 'temporal.example:7233' });
});

test('mTLS: the client certificate pair, the CA and the server name, from the PEM files', () => {
  const o = options({ STRATA_TEMPORAL_TLS_CERT: cert, STRATA_TEMPORAL_TLS_KEY: key, STRATA_TEMPORAL_TLS_CA: ca, STRATA_TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' });
  expect(o.address).toBe('temporal.example:7233');
  expect(o.tls?.clientCertPair?.crt.toString()).toContain('client.pem');
  expect(o.tls?.clientCertPair?.key.toString()).toContain('client.key');
  expect(o.tls?.serverRootCACertificate?.toString()).toContain('ca.pem');
  expect(o.tls?.serverNameOverride).toBe('temporal.internal');
  expect(o.apiKey).toBeUndefined();
});

test('a CA alone is server-verified TLS without a client certificate', () => {
  const o = options({ STRATA_TEMPORAL_TLS_CA: ca });
  expect(o.tls).toEqual({ serverRootCACertificate: expect.any(Buffer) });
});

test('an API key is passed on (the SDKs then use TLS with the system CAs), with mTLS or without', () => {
  expect(options({ STRATA_TEMPORAL_API_KEY: 'secret' })).toEqual({ address: 'temporal.example:7233', apiKey: 'secret' });
  expect(options({ STRATA_TEMPORAL_API_KEY: 'secret', STRATA_TEMPORAL_TLS_CA: ca })).toMatchObject({ apiKey: 'secret', tls: { serverRootCACertificate: expect.any(Buffer) } });
});

test('the files are read once per process', () => {
  const file = pem('once.pem');
  const first = options({ STRATA_TEMPORAL_TLS_CA: file });
  fs.rmSync(file);
  expect(options({ STRATA_TEMPORAL_TLS_CA: file }).tls?.serverRootCACertificate).toBe(first.tls?.serverRootCACertificate);
});

test('a missing, unreadable or non-PEM file is an error naming the variable and the path', () => {
  const missing = path.join(dir, 'missing.pem');
  expect(() => options({ STRATA_TEMPORAL_TLS_CERT: missing, STRATA_TEMPORAL_TLS_KEY: key })).toThrow(`STRATA_TEMPORAL_TLS_CERT=${missing}: cannot read it (no such file)`);
  expect(() => options({ STRATA_TEMPORAL_TLS_CERT: cert, STRATA_TEMPORAL_TLS_KEY: dir })).toThrow(`STRATA_TEMPORAL_TLS_KEY=${dir}: cannot read it (a folder, not a file)`);
  const text = path.join(dir, 'ca.txt');
  fs.writeFileSync(text, 'not a certificate');
  expect(() => options({ STRATA_TEMPORAL_TLS_CA: text })).toThrow(`STRATA_TEMPORAL_TLS_CA=${text}: not a PEM file`);
});

test('a certificate without its key, or a key without its certificate, is refused', () => {
  expect(() => options({ STRATA_TEMPORAL_TLS_CERT: cert })).toThrow('STRATA_TEMPORAL_TLS_CERT is set but STRATA_TEMPORAL_TLS_KEY is not');
  expect(() => options({ STRATA_TEMPORAL_TLS_KEY: key })).toThrow('STRATA_TEMPORAL_TLS_KEY is set but STRATA_TEMPORAL_TLS_CERT is not');
});
