import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The browser APIs the pages use (a list, so a typo or a Node-only global still fails the lint; AbortSignal is declared per file). */
const BROWSER_GLOBALS = Object.fromEntries(
  [
    'window', 'document', 'history', 'location', 'navigator', 'fetch', 'WebSocket', 'crypto', 'performance',
    'requestAnimationFrame', 'cancelAnimationFrame', 'setInterval', 'clearInterval', 'AbortController',
    'URL', 'URLSearchParams', 'Blob', 'File', 'FileReader', 'TextEncoder', 'TextDecoder', 'MutationObserver',
    'HTMLElement', 'HTMLButtonElement', 'HTMLInputElement', 'HTMLSelectElement',
    'HTMLFormElement', 'HTMLTextAreaElement', 'SVGElement', 'Event', 'KeyboardEvent', 'Intl',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  { ignores: ['**/dist/', '**/node_modules/', 'packages/raft/docs/api/', 'coverage/', 'artifacts/', '.tmp/', 'data/', 'web/sim.bundle.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'max-lines-per-function': ['warn', { max: 70, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Black-box tests and benchmarks read JSON answers of the SPEC's shapes; `describe` blocks are long by nature.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'src/**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'max-lines-per-function': 'off' },
  },
  {
    // The pages (web/*.js) and the simulator's sources (web/sim/*.ts, bundled by esbuild) run in a browser.
    files: ['web/**/*.js', 'web/**/*.ts'],
    languageOptions: { globals: BROWSER_GLOBALS },
  },
);
