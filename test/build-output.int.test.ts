/**
 * What `npm run build` leaves in out/ for the desktop package (electron-builder.yml packs
 * out/main, out/preload and out/renderer): the entry files exist, the main bundle imports only
 * Electron, Node built-ins and production dependencies (the packaged app has no others), the
 * preload is CommonJS that runs in a sandboxed preload's world (only `require('electron')`), and
 * the renderer's index.html references files that exist. Needs `npm run build` first (`npm test` does it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = join(root, 'out');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string; dependencies: Record<string, string> };

beforeAll(() => {
  if (!existsSync(join(out, 'main', 'index.js'))) throw new Error('out/ is missing: run `npm run build` first');
});

describe('npm run build output for the desktop package', () => {
  it('has the main entry package.json points at, importing only Electron, Node and production dependencies', () => {
    const main = join(root, pkg.main);
    expect(pkg.main).toBe('out/main/index.js');
    const code = readFileSync(main, 'utf8');
    const specifiers = [...code.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/gm)].map((m) => m[1]!);
    expect(specifiers).toContain('electron');
    const allowed = new Set(['electron', ...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...Object.keys(pkg.dependencies)]);
    const packageOf = (s: string) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
    const foreign = specifiers.filter((s) => !s.startsWith('.') && !allowed.has(s) && !allowed.has(packageOf(s)));
    expect(foreign).toEqual([]);
    expect(code).not.toMatch(/from\s+["'](react|react-dom|vitest|electron-builder)["']/);
  });

  it('has a CommonJS preload that loads in a sandbox with only require("electron")', () => {
    const code = readFileSync(join(out, 'preload', 'index.cjs'), 'utf8');
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
    const requested: string[] = [];
    const exposed: Record<string, unknown> = {};
    const electron = {
      contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) },
      ipcRenderer: { on: () => undefined, invoke: async () => undefined, send: () => undefined, removeListener: () => undefined },
    };
    const sandbox = {
      // A sandboxed preload gets a limited require: electron plus a few polyfilled modules.
      require: (id: string) => {
        requested.push(id);
        if (id === 'electron') return electron;
        throw new Error(`a sandboxed preload cannot require "${id}"`);
      },
      module: { exports: {} },
      exports: {},
      console,
    };
    vm.runInNewContext(code, sandbox, { filename: 'index.cjs' });
    expect(requested).toEqual(['electron']);
    expect(Object.keys(exposed)).toEqual(['meshdeck']);
    expect(Object.keys(exposed.meshdeck as object).sort()).toEqual(['invoke', 'subscribe']);
  });

  it('has the renderer index.html and every file it references', () => {
    const html = readFileSync(join(out, 'renderer', 'index.html'), 'utf8');
    const refs = [...html.matchAll(/(?:src|href)="(\.\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(refs.some((r) => r.endsWith('.js'))).toBe(true);
    for (const ref of refs) expect(existsSync(join(out, 'renderer', ref)), ref).toBe(true);
  });
});
