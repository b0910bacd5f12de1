/**
 * Bundles the benchmarks (with the core code they import) into out/bench/*.js, so they run on
 * plain Node 20 without a TypeScript runner: `vite build --config bench/vite.config.ts`.
 */
import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

export default defineConfig({
  logLevel: 'warn',
  build: {
    ssr: true,
    outDir: 'out/bench',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: {
      input: { 'balancer.bench': 'bench/balancer.bench.ts' },
      external: (id) => builtins.has(id),
      output: { format: 'esm', entryFileNames: '[name].js' },
    },
  },
});
