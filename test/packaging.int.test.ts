/**
 * The packaged desktop app, as electron-builder makes it from electron-builder.yml: the Electron
 * fuses are flipped in the packaged binary, and the app archive holds the built bundles and the
 * native module unpacked.
 *
 * Electron's own binary cannot be downloaded on this machine, so the "Electron distribution"
 * given to electron-builder (`electronDist`) is a stand-in: a small file carrying Electron's fuse
 * wire (the sentinel, wire version 1 and nine fuses in Electron's stock states) and the files
 * electron-builder copies. Everything else is the real packaging path: electron-builder reads the
 * repo's configuration, copies the distribution, writes app.asar and flips the fuses with
 * @electron/fuses, which is exactly what it does to a real binary. Needs `npm run build` first
 * (`npm test` does it); dependencies are not rebuilt for Electron (that needs its headers).
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FuseV1Options, getCurrentFuseWire } from '@electron/fuses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A fuse's byte on the wire (what @electron/fuses writes; its FuseState enum is not exported). */
const FuseState = { DISABLE: '0'.charCodeAt(0), ENABLE: '1'.charCodeAt(0) } as const;

const run = promisify(execFile);
const root = fileURLToPath(new URL('../', import.meta.url));
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** Electron's stock fuse states, in wire order (RunAsNode … GrantFileProtocolExtraPrivileges, then one more). */
const STOCK = '101100010';

let dir = '';
let appDir = '';

beforeAll(async () => {
  if (!existsSync(join(root, 'out', 'main', 'index.js'))) throw new Error('out/ is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-packaging-'));
  const dist = join(dir, 'electron-dist');
  mkdirSync(join(dist, 'resources'), { recursive: true });
  mkdirSync(join(dist, 'locales'));
  const binary = Buffer.concat([Buffer.from('\x7fELF stand-in for the Electron binary\0'), Buffer.from(SENTINEL), Buffer.from([1, STOCK.length]), Buffer.from(STOCK), Buffer.alloc(64)]);
  writeFileSync(join(dist, 'electron'), binary);
  chmodSync(join(dist, 'electron'), 0o755);
  writeFileSync(join(dist, 'version'), 'v45.5.0');
  writeFileSync(join(dist, 'LICENSE'), '');
  writeFileSync(join(dist, 'LICENSES.chromium.html'), '');
  const output = join(dir, 'dist');
  await run(
    join(root, 'node_modules', '.bin', 'electron-builder'),
    ['--linux', 'dir', `--config.electronDist=${dist}`, '--config.electronVersion=45.5.0', '--config.npmRebuild=false', `--config.directories.output=${output}`, '--publish', 'never'],
    { cwd: root, env: { ...process.env, CI: 'true', ELECTRON_SKIP_BINARY_DOWNLOAD: '1' }, timeout: 170_000, maxBuffer: 16 * 1024 * 1024 },
  );
  appDir = join(output, 'linux-unpacked');
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packaged desktop app (electron-builder, linux dir target)', () => {
  it('has every Electron fuse of electron-builder.yml flipped in its binary', async () => {
    const wire = await getCurrentFuseWire(join(appDir, 'meshdeck'));
    const state = (option: number) => wire[option];
    expect(state(FuseV1Options.RunAsNode)).toBe(FuseState.DISABLE);
    expect(state(FuseV1Options.EnableCookieEncryption)).toBe(FuseState.ENABLE);
    expect(state(FuseV1Options.EnableNodeOptionsEnvironmentVariable)).toBe(FuseState.DISABLE);
    expect(state(FuseV1Options.EnableNodeCliInspectArguments)).toBe(FuseState.DISABLE);
    expect(state(FuseV1Options.EnableEmbeddedAsarIntegrityValidation)).toBe(FuseState.ENABLE);
    expect(state(FuseV1Options.OnlyLoadAppFromAsar)).toBe(FuseState.ENABLE);
    expect(state(FuseV1Options.GrantFileProtocolExtraPrivileges)).toBe(FuseState.DISABLE);
    // Left as Electron ships them: the V8 snapshot fuse and the one after it.
    expect(state(FuseV1Options.LoadBrowserProcessSpecificV8Snapshot)).toBe(FuseState.DISABLE);
    expect(wire[8]).toBe(FuseState.DISABLE);
  });

  it('packs the built main, preload and renderer into app.asar, without source maps, with the native module unpacked', async () => {
    const { stdout } = await run(join(root, 'node_modules', '.bin', 'asar'), ['list', join(appDir, 'resources', 'app.asar')], { maxBuffer: 64 * 1024 * 1024 });
    const files = stdout.split('\n').filter(Boolean);
    expect(files).toEqual(expect.arrayContaining(['/package.json', '/out/main/index.js', '/out/preload/index.cjs', '/out/renderer/index.html']));
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    // Sources, tests and dev tooling stay out.
    expect(files.filter((f) => /^\/(core|renderer|electron|agent|test|e2e|bench)\//.test(f))).toEqual([]);
    expect(files.some((f) => f.startsWith('/node_modules/vitest/') || f.startsWith('/node_modules/electron-builder/'))).toBe(false);
    const unpacked = join(appDir, 'resources', 'app.asar.unpacked', 'node_modules', 'better-sqlite3', 'build', 'Release');
    expect(readdirSync(unpacked)).toContain('better_sqlite3.node');
    expect(readdirSync(join(appDir, 'resources', 'tray')).length).toBeGreaterThan(0);
  });
});
