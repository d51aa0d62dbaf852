// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/** Which workspace packages each package may import (DESIGN.md, "The parts"). */
const ALLOWED = {
  protocol: [],
  package: ['protocol'],
  config: ['protocol'],
  http: ['protocol'],
  broker: ['protocol', 'config', 'http'],
  agent: ['protocol', 'package', 'http'],
  devices: ['protocol', 'package', 'config', 'http', 'agent'],
  controller: ['protocol', 'package', 'config'],
  cli: ['protocol', 'config'],
  console: ['protocol'],
}
const ALL = ['protocol', 'package', 'config', 'http', 'broker', 'agent', 'devices', 'controller', 'cli', 'console', 'test']

/** no-restricted-imports patterns for code of `pkg`; package tests may also use the shared harness. */
function workspaceImports(pkg, allowed) {
  const banned = ALL.filter((p) => p !== pkg && !allowed.includes(p))
  return [
    'error',
    {
      patterns: [
        {
          regex: `^@liquid-edge/(${banned.join('|')})($|/)`,
          message: `${pkg} may import only ${['zod', ...allowed.filter((p) => p !== 'test')].join(', ')} from the workspace (DESIGN.md, "The parts").`,
        },
        { regex: '^@liquid-edge/[^/]+/(src|dist)(/|$)', message: 'Import workspace packages by name only.' },
      ],
    },
  ]
}

const packageRules = Object.entries(ALLOWED).flatMap(([pkg, allowed]) => [
  {
    files: [`${pkg}/src/**/*.{ts,tsx}`],
    rules: {
      'no-restricted-imports': workspaceImports(pkg, allowed),
    },
  },
  {
    files: [`${pkg}/test/**/*.ts`],
    rules: {
      'no-restricted-imports': workspaceImports(pkg, [...allowed, 'test']),
    },
  },
])

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'docs/**', 'cli/src/api/openapi.ts', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.check.json', './console/tsconfig.json', './console/test/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      'max-lines': ['warn', { max: 400, skipBlankLines: true, skipComments: true }],
    },
  },
  ...packageRules,
  {
    // The contract runs anywhere: zod and its own files, nothing else (no node:*, no I/O).
    files: ['protocol/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(?!zod($|/)|\\.{1,2}/)', message: 'protocol imports only zod (STYLE.md §2).' }] },
      ],
    },
  },
  {
    files: ['**/test/**/*.ts', 'bench/**/*.ts'],
    // The harness and the sandbox launcher poll with deadlines; tests themselves never sleep.
    ignores: ['test/harness/**', 'test/sandbox/**'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'No sleeps in tests: await the event or use waitFor() from the harness.' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['bench/**/*.ts', '*/scripts/**/*.ts'],
    rules: { 'no-console': 'off', 'no-restricted-globals': 'off' },
  },
)
