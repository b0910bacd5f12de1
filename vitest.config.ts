import { defineConfig } from 'vitest/config';

/**
 * Four suites, one command (`npm test`):
 *   unit         pure logic and wiring (*.test.ts beside the code)
 *   integration  real RabbitMQ at 127.0.0.1:5672 and real SQLite files (*.int.test.ts)
 *   e2e          the built console in Debian's Chromium via Playwright (e2e/*.e2e.test.ts)
 *   chaos        faults and hostile input against the real broker and processes (test/chaos/)
 */
export default defineConfig({
  test: {
    // In CI a JSON report feeds the one-line totals printed by .ci/run.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['core/**/*.test.ts', 'electron/**/*.test.ts', 'agent/**/*.test.ts', 'cli/**/*.test.ts', 'renderer/**/*.test.ts', 'scripts/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.chaos.test.ts', '**/node_modules/**'],
          environment: 'node',
          // Generous: some unit tests start ESLint or work through large generated inputs, and a
          // busy machine must not turn them into failures (speed is measured by bench/, not here).
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 0 },
          include: ['core/**/*.int.test.ts', 'agent/**/*.int.test.ts', 'cli/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          exclude: ['**/*.chaos.test.ts', '**/node_modules/**'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.e2e.test.ts'],
          // After unit and integration: the demo runs 16 processes and wants the 2 cores to itself.
          sequence: { groupOrder: 1 },
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.chaos.test.ts'],
          // Last: these cut connections, kill processes and flood the broker.
          sequence: { groupOrder: 2 },
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          // Heap checks force a collection first.
          execArgv: ['--expose-gc'],
        },
      },
    ],
  },
});
