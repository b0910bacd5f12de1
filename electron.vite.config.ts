/**
 * Desktop build: main and preload from electron/, renderer shared with the headless host.
 * Preload is CommonJS because sandboxed preloads cannot be ES modules.
 */
import { defineConfig } from 'electron-vite';
import { createRequire } from 'node:module';
import { rendererConfig } from './renderer/vite.config';

const require = createRequire(import.meta.url);
const pkg = require('./package.json') as { version: string };
const define = { __MESHDECK_VERSION__: JSON.stringify(pkg.version) };

export default defineConfig({
  main: {
    define,
    build: {
      outDir: 'out/main',
      externalizeDeps: true,
      // The telemetry history's worker thread is an entry of its own (core/telemetry/history-worker.ts).
      rollupOptions: { input: { index: 'electron/main/index.ts', 'history-worker': 'core/telemetry/history-worker.ts' } },
    },
  },
  preload: {
    define,
    build: {
      outDir: 'out/preload',
      externalizeDeps: true,
      rollupOptions: {
        input: { index: 'electron/preload/index.ts' },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: rendererConfig,
});
