import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

// Dependencies point one way: cli → api → client → workflows → activities → domain modules → engine.
// Each layer may import the layers after it, never one before it.
const ONE_WAY = 'dependencies point one way: cli → api → client → workflows → activities → domain modules → engine';
const entryPoints = ['**/worker.js', '**/worker.ts', '**/main.js', '**/main.ts'];
const upper = {
  cli: ['**/cli/*'],
  api: ['**/api/*'],
  client: ['**/client/*'],
  workflows: ['**/workflows/*'],
  activities: ['**/activities/*'],
};
const above = {
  api: [...upper.cli, ...entryPoints, ...upper.workflows, ...upper.activities, '**/launchers/*'],
  client: [...upper.cli, ...upper.api, ...entryPoints, ...upper.activities],
  workflows: [...upper.cli, ...upper.api, ...upper.client, ...entryPoints],
  activities: [...upper.cli, ...upper.api, ...upper.client, ...upper.workflows, ...entryPoints],
  domain: [...upper.cli, ...upper.api, ...upper.client, ...upper.workflows, ...upper.activities, ...entryPoints],
  engine: [
    ...upper.cli, ...upper.api, ...upper.client, ...upper.workflows, ...upper.activities, ...entryPoints,
    ...['store', 'jobs', 'jobtypes', 'launchers', 'builders', 'deploy', 'notify', 'schedules', 'backfills', 'temporal'].map((d) => `**/${d}/*`),
    ...['config', 'log', 'metrics', 'files'].map((f) => `**/${f}.js`),
    ...nodeBuiltins,
  ],
};
const layer = (files, group, message = ONE_WAY) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: [{ group, message }] }] },
});

export default tseslint.config(
  { ignores: ['node_modules/', '.strata/', '.tools/', 'coverage/', 'examples/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed: deterministic, no I/O, no Node APIs, no promise left unawaited.
    files: ['workflows/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflows may not use Node APIs; put side effects in activities/' })),
          patterns: [
            { group: ['../src/store/sqlite*', '../src/store/postgres*', '../src/launchers/*', '../src/jobs/loader*', '../src/files*'], message: 'workflows may not import I/O modules' },
            { group: above.workflows, message: ONE_WAY },
          ],
        },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../activities/*'], allowTypeImports: true, message: 'workflows import only types from activities/' }] },
      ],
    },
  },
  layer(['src/engine/**/*.ts'], above.engine, 'the engine is pure and at the bottom: it imports only itself, src/errors.ts and src/generated/'),
  layer(['src/{store,jobs,jobtypes,launchers,builders,deploy,notify,schedules,backfills,temporal}/**/*.ts', 'src/{config,log,metrics,errors,files}.ts'], above.domain),
  layer(['activities/**/*.ts'], above.activities),
  layer(['src/client/**/*.ts'], above.client),
  {
    files: ['src/api/**/*.ts'],
    // The API is given the job loader (ApiDeps); it does not reach into it, or into launchers, for helpers.
    rules: {
      ...layer([], above.api).rules,
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/jobs/loader*'], allowTypeImports: true, message: 'the API takes the job loader from ApiDeps; put shared helpers in a domain module' }] },
      ],
    },
  },
);
