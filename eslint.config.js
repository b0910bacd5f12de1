// @ts-check
/**
 * Lint, including the layering rule: imports only point downwards.
 *   renderer/  may import React and the API contract (core/api/contract, wire, mesh-live) — no Node, no Electron.
 *   electron/  is the only place that imports `electron`.
 *   core/      never imports electron, react or code from renderer/ or electron/.
 *   agent/     the data plane; builds on core (protocol, balancer, bus); never electron or react.
 *   cli/       the `meshdeck` command: composes core and agent; never electron or react.
 */
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const electronOnly = {
  name: 'electron',
  message: 'Only electron/ may import electron (layering: see docs/architecture.md).',
};
const uiLibs = ['react', 'react-dom', 'react-dom/client', 'react/jsx-runtime'].map((name) => ({
  name,
  message: 'core/ and agent/ never import React (layering: see docs/architecture.md).',
}));

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'test-results/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronOnly, ...uiLibs],
          patterns: [
            { group: ['**/renderer/**', 'renderer/*'], message: 'core/ never imports renderer code.' },
            { group: ['**/electron/**', 'electron/*'], message: 'core/ never imports electron/ code.' },
            { group: ['**/agent/**', '**/cli/**'], message: 'core/ never imports the data plane (agent/) or the command line (cli/).' },
          ],
        },
      ],
    },
  },
  {
    files: ['agent/**/*.ts', 'cli/**/*.ts', 'demo/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electronOnly, ...uiLibs],
          patterns: [
            { group: ['**/renderer/**', 'renderer/*'], message: 'agent/ and cli/ never import renderer code.' },
            { group: ['**/electron/**', 'electron/*'], message: 'agent/ and cli/ never import electron/ code.' },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          paths: [
            electronOnly,
            ...nodeBuiltins.map((name) => ({ name, message: 'renderer/ never imports Node built-ins; ask the core through the API.' })),
          ],
          patterns: [
            {
              regex: '(^|/)core/(?!api/(contract|wire|mesh-live)(\\.js)?$)',
              message: 'renderer/ may only import the API contract (core/api/contract, core/api/wire, core/api/mesh-live) from core/.',
            },
            { group: ['**/electron/**'], message: 'renderer/ never imports electron/ code.' },
            { group: ['**/agent/**'], message: 'renderer/ never imports agent/ code.' },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/vite.config.ts'],
    languageOptions: { globals: { ...globals.node } },
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['electron/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/renderer/**'], message: 'electron/ talks to the renderer only over IPC.' }] },
      ],
    },
  },
  {
    files: ['bench/**/*.ts', 'e2e/**/*.ts', 'scripts/**/*.{js,ts}', 'bin/**/*.js', '.ci/**/*.{js,mjs}'],
    rules: { 'no-restricted-imports': ['error', { paths: [electronOnly] }] },
  },
);
