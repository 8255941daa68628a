/**
 * How every process of Strata connects to Temporal: the address, and mTLS (client certificate, key, CA)
 * and an API key when the configuration gives them. One function for the workers' NativeConnection and
 * the API's and CLI's Connection, so they cannot differ.
 */
import fs from 'node:fs';
import type { StrataConfig } from '../config.js';

/** What both NativeConnection.connect (@temporalio/worker) and Connection.connect (@temporalio/client) accept. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    /** The client certificate and its key (STRATA_TEMPORAL_TLS_CERT, STRATA_TEMPORAL_TLS_KEY): mTLS. */
    clientCertPair?: { crt: Buffer; key: Buffer };
    /** The CA that signed the server's certificate (STRATA_TEMPORAL_TLS_CA); absent: the system's CAs. */
    serverRootCACertificate?: Buffer;
    /** The name the server's certificate carries, when it is not the address's host (STRATA_TEMPORAL_TLS_SERVER_NAME). */
    serverNameOverride?: string;
  };
  /** Sent as `Authorization: Bearer <key>`; without tls it turns TLS on (with the system's CAs), as both SDK connections do. */
  apiKey?: string;
}

/** PEM files read by this process, by path: a certificate is read once, however many connections use it. */
const pemFiles = new Map<string, Buffer>();

/** The PEM file a variable names, or a startup error that names the variable, the path and what is wrong. */
function readPem(variable: string, file: string): Buffer {
  const known = pemFiles.get(file);
  if (known) return known;
  let text: Buffer;
  try {
    text = fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'a folder, not a file' : e.message;
    throw new Error(`${variable}=${file}: cannot read it (${why})`);
  }
  if (!text.toString('latin1').includes('-----BEGIN ')) throw new Error(`${variable}=${file}: not a PEM file (no -----BEGIN line)`);
  pemFiles.set(file, text);
  return text;
}

export function temporalConnectionOptions(temporal: StrataConfig['temporal'], address = temporal.address): TemporalConnectionOptions {
  const options: TemporalConnectionOptions = { address };
  const { tls, apiKey } = temporal;
  if (tls) {
    if (Boolean(tls.cert) !== Boolean(tls.key))
      throw new Error(
        tls.cert
          ? `STRATA_TEMPORAL_TLS_CERT is set but STRATA_TEMPORAL_TLS_KEY is not: a client certificate needs its key`
          : `STRATA_TEMPORAL_TLS_KEY is set but STRATA_TEMPORAL_TLS_CERT is not: a client key needs its certificate`,
      );
    options.tls = {
      ...(tls.cert && tls.key
        ? { clientCertPair: { crt: readPem('STRATA_TEMPORAL_TLS_CERT', tls.cert), key: readPem('STRATA_TEMPORAL_TLS_KEY', tls.key) } }
        : {}),
      ...(tls.ca ? { serverRootCACertificate: readPem('STRATA_TEMPORAL_TLS_CA', tls.ca) } : {}),
      ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    };
  }
  if (apiKey) options.apiKey = apiKey;
  return options;
}
