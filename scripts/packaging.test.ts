/**
 * The packaging configuration, checked without Electron's binary: electron-builder.yml is loaded
 * with js-yaml (electron-builder's own YAML reader) and validated against electron-builder's own
 * schema; targets, files, asar, fuses, native rebuild and the generated icons are checked here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { distPlan, electronCacheDir } from './dist.js';
import { ICNS_TYPES, ICO_SIZES, PNG_SIZES, TRAY_BADGES, icns, ico } from './icons.js';

const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(text: string): unknown };
const root = fileURLToPath(new URL('..', import.meta.url));
interface BuilderConfig {
  [key: string]: unknown;
  appId: string;
  productName: string;
  directories: { output: string };
  files: string[];
  asar: boolean;
  asarUnpack: string[];
  npmRebuild: boolean;
  extraResources: unknown;
  electronFuses: Record<string, boolean>;
  linux: { target: string[]; icon: string };
  mac: { target: string; icon: string };
  win: { target: string; icon: string };
}
const config = yaml.load(readFileSync(join(root, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string; productName: string; scripts: Record<string, string> };

/** Width and height from a PNG's IHDR chunk. */
function pngSize(data: Buffer): { width: number; height: number } {
  expect(data.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(data.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}

describe('electron-builder.yml', () => {
  it('matches electron-builder 26’s configuration schema', async () => {
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as { validateConfiguration(c: unknown, l: unknown): Promise<void> };
    const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
    await expect(validateConfiguration({ ...config, fileAssociation: [] }, new DebugLogger(false))).rejects.toThrow(/unknown property 'fileAssociation'/);
  }, 60_000);

  it('names the app and builds AppImage + deb, dmg and nsis', () => {
    expect(config.appId).toBe('io.meshdeck.console');
    expect(config.productName).toBe(pkg.productName);
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toBe('dmg');
    expect(config.win.target).toBe('nsis');
    expect(config.directories.output).toBe('dist');
    expect(config.fileAssociations).toBeUndefined();
    expect(config.protocols).toBeUndefined();
  });

  it('packs only the desktop bundles, in asar, with native modules unpacked and rebuilt for Electron', () => {
    expect(config.files).toEqual(['out/main/**', 'out/preload/**', 'out/renderer/**', 'package.json', '!**/*.map']);
    expect(pkg.main.startsWith('out/main/')).toBe(true);
    expect(config.asar).toBe(true);
    expect(config.asarUnpack).toContain('**/*.node');
    expect(config.npmRebuild).toBe(true);
    expect(config.extraResources).toEqual([{ from: 'resources/tray', to: 'tray' }]);
  });

  it('sets the Electron fuses', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('has npm scripts for packages and icons', () => {
    expect(pkg.scripts.dist).toBe('node scripts/dist.js');
    expect(pkg.scripts.icons).toBe('node scripts/icons.js');
  });
});

describe('icons generated from resources/icon.svg', () => {
  it('has a PNG of every size for Linux, named as electron-builder expects', () => {
    expect(config.linux.icon).toBe('resources/icons');
    for (const size of PNG_SIZES) {
      expect(pngSize(readFileSync(join(root, 'resources', 'icons', `${size}x${size}.png`)))).toEqual({ width: size, height: size });
    }
    expect(pngSize(readFileSync(join(root, 'resources', 'icon.png')))).toEqual({ width: 1024, height: 1024 });
  });

  it('has a Windows .ico with every size', () => {
    expect(config.win.icon).toBe('resources/icon.ico');
    const data = readFileSync(join(root, config.win.icon));
    expect(data.readUInt16LE(2)).toBe(1);
    const count = data.readUInt16LE(4);
    const sizes = Array.from({ length: count }, (_, i) => {
      const at = 6 + 16 * i;
      const png = data.subarray(data.readUInt32LE(at + 12), data.readUInt32LE(at + 12) + data.readUInt32LE(at + 8));
      const { width } = pngSize(png);
      expect(data.readUInt8(at) || 256).toBe(width);
      return width;
    });
    expect(sizes).toEqual(ICO_SIZES);
  });

  it('has a macOS .icns with every size', () => {
    expect(config.mac.icon).toBe('resources/icon.icns');
    const data = readFileSync(join(root, config.mac.icon));
    expect(data.subarray(0, 4).toString('ascii')).toBe('icns');
    expect(data.readUInt32BE(4)).toBe(data.length);
    const found: Record<string, number> = {};
    for (let at = 8; at < data.length; ) {
      const type = data.subarray(at, at + 4).toString('ascii');
      const length = data.readUInt32BE(at + 4);
      found[type] = pngSize(data.subarray(at + 8, at + length)).width;
      at += length;
    }
    expect(found).toEqual(Object.fromEntries(Object.entries(ICNS_TYPES).map(([size, type]) => [type, Number(size)])));
  });

  it('has a tray icon per health state at 1x and 2x', () => {
    for (const health of Object.keys(TRAY_BADGES)) {
      expect(pngSize(readFileSync(join(root, 'resources', 'tray', `${health}.png`))).width).toBe(16);
      expect(pngSize(readFileSync(join(root, 'resources', 'tray', `${health}@2x.png`))).width).toBe(32);
    }
  });

  it('writes the containers the readers above accept', () => {
    const png = readFileSync(join(root, 'resources', 'icons', '16x16.png'));
    const built = ico([{ size: 16, png }]);
    expect(built.readUInt16LE(4)).toBe(1);
    expect(built.subarray(built.readUInt32LE(18)).equals(png)).toBe(true);
    const mac = icns([{ size: 16, png }]);
    expect(mac.subarray(8, 12).toString('ascii')).toBe('icp4');
    expect(mac.readUInt32BE(4)).toBe(16 + png.length);
  });
});

describe('npm run dist plan', () => {
  const base = { platform: 'linux' as NodeJS.Platform, arch: 'x64', electronVersion: '45.5.0' };

  it('downloads Electron when no local distribution or cached zip exists', () => {
    const plan = distPlan({ ...base, env: { XDG_CACHE_HOME: '/nowhere' }, exists: () => false });
    expect(plan.download).toBe('https://github.com/electron/electron/releases/download/v45.5.0/electron-v45.5.0-linux-x64.zip');
    expect(plan.args).toEqual(['--publish', 'never']);
  });

  it('uses a cached zip, a mirror, or a local distribution', () => {
    const cache = electronCacheDir({ XDG_CACHE_HOME: '/c' }, 'linux');
    expect(cache).toBe('/c/electron');
    const cached = distPlan({ ...base, env: { XDG_CACHE_HOME: '/c' }, exists: (p: string) => p === '/c/electron/electron-v45.5.0-linux-x64.zip' });
    expect(cached.download).toBeNull();
    expect(distPlan({ ...base, env: { ELECTRON_MIRROR: 'https://mirror.example/e/' }, exists: () => false }).download).toBe(
      'https://mirror.example/e/v45.5.0/electron-v45.5.0-linux-x64.zip',
    );
    const local = distPlan({ ...base, env: { MESHDECK_ELECTRON_DIST: '/opt/electron' }, exists: (p: string) => p === '/opt/electron' });
    expect(local.args).toEqual(['--publish', 'never', '--config.electronDist=/opt/electron', '--config.electronVersion=45.5.0']);
    expect(distPlan({ ...base, env: { MESHDECK_ELECTRON_DIST: '/missing' }, exists: () => false }).error).toMatch(/does not exist/);
  });

  it('publishes to a generic https URL or to GitHub releases only when asked', () => {
    const generic = distPlan({ ...base, env: { MESHDECK_UPDATE_URL: 'https://updates.example/meshdeck' }, exists: () => true });
    expect(generic.args?.slice(0, 4)).toEqual(['--publish', 'never', '--config.publish.provider=generic', '--config.publish.url=https://updates.example/meshdeck']);
    expect(distPlan({ ...base, env: { MESHDECK_UPDATE_URL: 'http://plain.example' }, exists: () => true }).error).toMatch(/https/);
    const github = distPlan({ ...base, env: { MESHDECK_GITHUB_REPO: 'acme/meshdeck' }, exists: () => true });
    expect(github.args).toContain('--config.publish.owner=acme');
    expect(github.args?.slice(0, 2)).toEqual(['--publish', 'always']);
    expect(distPlan({ ...base, env: { MESHDECK_GITHUB_REPO: 'acme' }, exists: () => true }).error).toMatch(/owner\/name/);
  });

  it.runIf(!existsSync(join(root, 'node_modules', 'electron', 'dist')))('fails here in one line saying why', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, [join(root, 'scripts', 'dist.js')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ELECTRON_CACHE: join(root, 'no-such-cache'), ELECTRON_MIRROR: 'https://127.0.0.1:9/' },
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Meshdeck: cannot build packages here \(Electron 45\.5\.0 is not available locally and cannot be downloaded: 127\.0\.0\.1:9 unreachable/);
  });
});
