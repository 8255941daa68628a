/** The runner's side of BenchContext: one temporary folder, one dev server, cleanups in reverse order. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, projectRoot } from '../../src/config.js';
import { startDevServer } from '../../src/temporal/devServer.js';
import { childPids, cleanEnv, freePort } from './proc.js';
import type { BenchContext, Temporal } from './types.js';

export interface RunnerContext extends BenchContext {
  /** Runs every deferred cleanup, last first; safe to call twice. */
  cleanup(): Promise<void>;
}

export function createContext(): RunnerContext {
  const cleanups: (() => Promise<void> | void)[] = [];
  const memos = new Map<string, Promise<unknown>>();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-'));
  const defer = (fn: () => Promise<void> | void) => void cleanups.push(fn);
  if (process.env.BENCH_KEEP !== '1') defer(() => fs.rmSync(runDir, { recursive: true, force: true }));
  const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

  let temporal: Promise<Temporal> | undefined;
  const startTemporal = async (): Promise<Temporal> => {
    const dataDir = fs.mkdtempSync(path.join(runDir, 'temporal-'));
    const config = loadConfig({
      ...cleanEnv(),
      STRATA_DATA: dataDir,
      STRATA_TEMPORAL_PORT: String(await freePort()),
      STRATA_UI_PORT: String(await freePort()),
    });
    const before = new Set(childPids(process.pid, 'temporal'));
    const server = await startDevServer(config);
    defer(() => server.stop());
    const pid = childPids(process.pid, 'temporal').find((p) => !before.has(p));
    const connection = await Connection.connect({ address: server.address });
    defer(() => connection.close());
    log(`Temporal dev server on ${server.address} (log ${server.logFile})`);
    return { address: server.address, namespace: config.temporal.namespace, client: new Client({ connection, namespace: config.temporal.namespace }), pid };
  };

  return {
    root: projectRoot,
    temporal: () => (temporal ??= startTemporal()),
    tempDir: (name) => fs.mkdtempSync(path.join(runDir, `${name}-`)),
    defer,
    memo: <T>(key: string, compute: () => Promise<T>) => {
      if (!memos.has(key)) memos.set(key, compute());
      return memos.get(key) as Promise<T>;
    },
    log,
    async cleanup() {
      for (const fn of cleanups.splice(0).reverse()) {
        try {
          await fn();
        } catch (err) {
          console.error(`[bench] cleanup failed: ${(err as Error).message}`);
        }
      }
    },
  };
}
