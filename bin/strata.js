#!/usr/bin/env node
// The `strata` CLI. Strata runs from its TypeScript sources, so the CLI loads them through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
