#!/usr/bin/env node
/**
 * `npm run dist`: builds the app (`npm run build`) and packages it for the current platform with
 * electron-builder (electron-builder.yml): AppImage + deb on Linux, dmg on macOS, nsis on Windows,
 * into dist/.
 *
 * electron-builder needs Electron's binary for the target and Electron's headers (to rebuild
 * better-sqlite3 for Electron's ABI, `npmRebuild`). It downloads both; offline it can use a local
 * Electron distribution instead: MESHDECK_ELECTRON_DIST=/path/to/electron/dist, or the one
 * `npm install` put in node_modules/electron/dist. Where neither is there and the download host
 * cannot be reached, this script says so in one line instead of a stack trace.
 *
 * Publishing (optional; by default packages are only written to dist/):
 *   MESHDECK_UPDATE_URL=https://host/path   generic provider: latest*.yml next to the packages, upload dist/ there
 *   MESHDECK_GITHUB_REPO=owner/name          GitHub releases (a draft release; needs GH_TOKEN)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Where electron-builder (via @electron/get) caches downloaded Electron zips. */
export function electronCacheDir(env = process.env, platform = process.platform) {
  if (env.ELECTRON_CACHE) return env.ELECTRON_CACHE;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'electron');
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'electron', 'Cache');
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'electron');
}

/**
 * What the packaging run needs: a local Electron distribution, or the download host. Pure, so it
 * is unit-tested; `exists` and `electronVersion` come from the caller.
 */
export function distPlan({ env = process.env, platform = process.platform, arch = process.arch, electronVersion, exists = existsSync, electronBinary }) {
  const args = ['--publish'];
  if (env.MESHDECK_GITHUB_REPO) {
    const [owner, repo] = env.MESHDECK_GITHUB_REPO.split('/');
    if (!owner || !repo) return { error: `MESHDECK_GITHUB_REPO must be owner/name, not "${env.MESHDECK_GITHUB_REPO}"` };
    args.push('always', '--config.publish.provider=github', `--config.publish.owner=${owner}`, `--config.publish.repo=${repo}`, '--config.publish.releaseType=draft');
  } else if (env.MESHDECK_UPDATE_URL) {
    if (!/^https:\/\//.test(env.MESHDECK_UPDATE_URL)) return { error: `MESHDECK_UPDATE_URL must be an https URL, not "${env.MESHDECK_UPDATE_URL}"` };
    args.push('never', '--config.publish.provider=generic', `--config.publish.url=${env.MESHDECK_UPDATE_URL}`);
  } else {
    args.push('never');
  }
  const localDist = env.MESHDECK_ELECTRON_DIST ?? (electronBinary ? dirname(electronBinary) : null);
  if (localDist) {
    if (!exists(localDist)) return { error: `MESHDECK_ELECTRON_DIST=${localDist} does not exist` };
    return { args: [...args, `--config.electronDist=${localDist}`, `--config.electronVersion=${electronVersion}`], download: null };
  }
  const zip = join(electronCacheDir(env, platform), `electron-v${electronVersion}-${platform}-${arch}.zip`);
  if (exists(zip)) return { args, download: null };
  const mirror = env.ELECTRON_MIRROR ?? 'https://github.com/electron/electron/releases/download/';
  return { args, download: `${mirror}v${electronVersion}/electron-v${electronVersion}-${platform}-${arch}.zip` };
}

function fail(reason) {
  process.stderr.write(`Meshdeck: cannot build packages here (${reason}); build them on a machine that can download Electron, see README "Building packages".\n`);
  process.exit(1);
}

async function reachable(url) {
  try {
    const response = await fetch(url, { method: 'HEAD', redirect: 'follow', signal: AbortSignal.timeout(10_000) });
    return response.ok ? null : `HTTP ${response.status} from ${new URL(url).host}`;
  } catch (err) {
    const cause = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(err);
    return `${new URL(url).host} unreachable: ${cause}`;
  }
}

function installedElectronBinary() {
  const dir = join(root, 'node_modules', 'electron');
  const pathFile = join(dir, 'path.txt');
  if (!existsSync(pathFile)) return undefined;
  const binary = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : undefined;
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

async function main() {
  const electronVersion = JSON.parse(readFileSync(join(root, 'node_modules', 'electron', 'package.json'), 'utf8')).version;
  const plan = distPlan({ electronVersion, electronBinary: installedElectronBinary() });
  if (plan.error) fail(plan.error);
  if (plan.download) {
    const problem = await reachable(plan.download);
    if (problem) fail(`Electron ${electronVersion} is not available locally and cannot be downloaded: ${problem}`);
  }
  run('npm', ['run', 'build', '--silent']);
  run(process.execPath, [join(root, 'node_modules', 'electron-builder', 'cli.js'), ...plan.args]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
