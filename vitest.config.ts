import { defineConfig } from 'vitest/config';

/**
 * Tests import @raftquotes/raft from its sources (the "@raftquotes/source" condition of its
 * exports), so they never run against a stale packages/raft/dist; the process tests run the
 * built dist/ of the root, which imports the package's built dist/.
 */
const SOURCE_CONDITION = '@raftquotes/source';

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, 'module', 'browser', 'development|production'] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'module', 'node', 'development|production'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'packages/*/src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real 5-process clusters on fixed ports: run files one at a time.
    fileParallelism: false,
    reporters: ['default'],
  },
});
