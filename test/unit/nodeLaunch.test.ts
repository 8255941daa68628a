/**
 * Strata's Node flags and malloc setting are spelled in package.json's start and worker scripts; the
 * Dockerfile says them again (an image has no npm script) and the benchmarks read them from package.json.
 */
import fs from 'node:fs';
import { npmScriptLaunch, STRATA_NODE_ENV, STRATA_NODE_FLAGS } from '../../bench/lib/proc.js';

const dockerfileEnv = (): Record<string, string> => {
  const text = fs.readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('ENV '));
  const pairs = lines.flatMap((l) => l.slice(4).trim().split(/\s+/));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
};

test('npm start and npm run worker run Strata with the same Node flags and environment', () => {
  const start = npmScriptLaunch('start');
  expect(start.flags).toContain('--max-semi-space-size=4');
  expect(start.env).toEqual({ MALLOC_ARENA_MAX: '2' });
  expect(npmScriptLaunch('worker')).toEqual(start);
  expect({ flags: STRATA_NODE_FLAGS, env: STRATA_NODE_ENV }).toEqual(start);
});

test("the image's NODE_OPTIONS and environment are the npm scripts'", () => {
  const { flags, env } = npmScriptLaunch('start');
  const image = dockerfileEnv();
  expect(image.NODE_OPTIONS?.split(' ')).toEqual(flags);
  for (const [key, value] of Object.entries(env)) expect(image[key]).toBe(value);
});
