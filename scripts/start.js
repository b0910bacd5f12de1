#!/usr/bin/env node
// `npm start` (and `npm run dev`): launch the desktop app through electron-vite. Where Electron
// cannot start (no display, binary missing and not downloadable) say so in one line and point
// to the browser console instead of failing with a stack trace.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');
const electronDir = join(root, 'node_modules', 'electron');

function cannotStart(reason) {
  process.stderr.write(`Meshdeck: cannot start the desktop app here (${reason}); run \`npm run serve\` to use the console in a browser.\n`);
  process.exit(1);
}

function electronBinary() {
  const pathFile = join(electronDir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const binary = join(electronDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : null;
}

if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  cannotStart('no display: DISPLAY and WAYLAND_DISPLAY are unset');
}
if (!existsSync(electronDir)) cannotStart('Electron is not installed: run `npm install`');
if (!electronBinary()) {
  // Electron fetches its binary on first use; try once, quietly.
  const fetched = spawnSync(process.execPath, [join(electronDir, 'install.js')], { stdio: 'ignore' });
  if (fetched.status !== 0 || !electronBinary()) cannotStart('the Electron binary is missing and could not be downloaded');
}

const cli = join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
const child = spawn(process.execPath, [cli, dev ? 'dev' : 'preview'], { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
