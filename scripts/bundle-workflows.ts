/**
 * Bundles Strata's workflow code into one file (`tsx scripts/bundle-workflows.ts <out.js>`). The worker
 * runs this as a short-lived child process: bundling with webpack peaks at about 100 MB, which would
 * otherwise stay in the long-lived worker's resident memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const out = process.argv[2];
if (!out) throw new Error('usage: tsx scripts/bundle-workflows.ts <out.js>');
const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
const silent = () => undefined;
const { code } = await bundleWorkflowCode({
  workflowsPath,
  logger: { log: silent, trace: silent, debug: silent, info: silent, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) },
});
fs.mkdirSync(path.dirname(out), { recursive: true });
// Written aside and renamed, so a worker never loads half a bundle.
fs.writeFileSync(`${out}.tmp`, code);
fs.renameSync(`${out}.tmp`, out);
