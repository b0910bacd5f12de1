/**
 * The renderer build, shared by electron-vite (desktop) and `npm run build:web` (headless host).
 * Relative asset paths so the same bundle loads from file:// in Electron and from the host.
 */
import react from '@vitejs/plugin-react';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig, type UserConfig } from 'vite';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string };

export const rendererConfig: UserConfig = {
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react()],
  define: { __MESHDECK_VERSION__: JSON.stringify(pkg.version) },
  build: {
    outDir: fileURLToPath(new URL('../out/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    minify: true,
    sourcemap: true,
    rollupOptions: { input: fileURLToPath(new URL('./index.html', import.meta.url)) },
  },
};

export default defineConfig(rendererConfig);
