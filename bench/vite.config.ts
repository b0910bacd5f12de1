/**
 * Bundles the benchmarks (with the core and agent code they import) into out/bench/*.js, so they
 * run on plain Node 20 without a TypeScript runner: `vite build --config bench/vite.config.ts`.
 * Node built-ins and the runtime dependencies (better-sqlite3's native binding, rabbitmq-client,
 * zod, …) stay external and are loaded from node_modules, as in the CLI bundle.
 */
import { builtinModules, createRequire } from 'node:module';
import { defineConfig } from 'vite';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string; dependencies: Record<string, string> };
const external = [...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...Object.keys(pkg.dependencies)];

export default defineConfig({
  logLevel: 'warn',
  define: { __MESHDECK_VERSION__: JSON.stringify(pkg.version) },
  build: {
    ssr: true,
    outDir: 'out/bench',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: {
      input: {
        'balancer.bench': 'bench/balancer.bench.ts',
        'sidecar.bench': 'bench/sidecar.bench.ts',
        'registry.bench': 'bench/registry.bench.ts',
        'telemetry-query.bench': 'bench/telemetry-query.bench.ts',
        'incidents.bench': 'bench/incidents.bench.ts',
        'ingest.bench': 'bench/ingest.bench.ts',
        'ingest-hotpath.bench': 'bench/ingest-hotpath.bench.ts',
        'history-ingest.bench': 'bench/history-ingest.bench.ts',
        'mesh-size.bench': 'bench/mesh-size.bench.ts',
        'core-memory.bench': 'bench/core-memory.bench.ts',
        'failover.bench': 'bench/failover.bench.ts',
        'failover-tick.bench': 'bench/failover-tick.bench.ts',
        'startup.bench': 'bench/startup.bench.ts',
        'console.bench': 'bench/console.bench.ts',
        'heap-summary': 'bench/heap-summary.ts',
        'history-worker': 'core/telemetry/history-worker.ts',
      },
      external: (id) => external.some((dep) => id === dep || id.startsWith(`${dep}/`)),
      output: { format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
    },
  },
});
