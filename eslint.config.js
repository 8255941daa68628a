import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

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
            { group: ['../src/store/sqlite*', '../src/launchers/*', '../src/jobs/repository*', '../src/api/*', '../src/worker*'], message: 'workflows may not import I/O modules' },
            { group: ['../src/client/*', '../src/cli/*'], message: 'dependencies point one way: cli → api → client → workflows → activities' },
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
  {
    // Dependencies point one way: cli → api → client → workflows → activities → domain modules → engine.
    files: ['activities/**/*.ts', 'src/{engine,store,jobs,schedules,backfills,deploy,builders,launchers,jobtypes,notify}/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/client/*', '**/api/*', '**/cli/*', '**/worker*', '**/workflows/*.js', '!**/workflows/*.messages.js'], message: 'dependencies point one way: cli → api → client → workflows → activities → domain modules → engine' },
          ],
        },
      ],
    },
  },
);
