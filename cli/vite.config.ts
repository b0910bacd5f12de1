/**
 * Bundles the `meshdeck` command line into out/cli/meshdeck.js, and the telemetry history's worker
 * thread into out/cli/history-worker.js (code both use in out/cli/chunks/).
 */
import { builtinModules, createRequire } from 'node:module';
import { defineConfig } from 'vite';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string; dependencies: Record<string, string> };
const external = [...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...Object.keys(pkg.dependencies)];

export default defineConfig({
  define: { __MESHDECK_VERSION__: JSON.stringify(pkg.version) },
  build: {
    ssr: true,
    outDir: 'out/cli',
    emptyOutDir: true,
    target: 'node20',
    sourcemap: true,
    rollupOptions: {
      input: { meshdeck: 'cli/meshdeck.ts', 'history-worker': 'core/telemetry/history-worker.ts' },
      external: (id) => external.some((dep) => id === dep || id.startsWith(`${dep}/`)),
      output: { format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
    },
  },
});
