#!/usr/bin/env node
/**
 * `npm run icons`: every icon the packages and the tray need, from the one source resources/icon.svg.
 *
 *   resources/icons/<n>x<n>.png   n = 16 24 32 48 64 128 256 512 1024 (Linux AppImage/deb, and the source of the two below)
 *   resources/icon.png            1024 × 1024 (electron-builder's default)
 *   resources/icon.ico            Windows: 16 24 32 48 64 128 256, PNG-compressed entries
 *   resources/icon.icns           macOS: 16 32 64 128 256 512 1024 (PNG entries icp4 … ic10)
 *   resources/tray/<health>.png and <health>@2x.png   the tray icon at 16 and 32 px with a health badge
 *
 * Rasterising needs `rsvg-convert` (Debian/Ubuntu: `apt install librsvg2-bin`; macOS: `brew install
 * librsvg`). The .ico and .icns containers are written here in plain Node. The generated files are
 * committed, so building the app or the packages never needs this script or rsvg-convert.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const resources = join(root, 'resources');

export const PNG_SIZES = [16, 24, 32, 48, 64, 128, 256, 512, 1024];
export const ICO_SIZES = [16, 24, 32, 48, 64, 128, 256];
/** ICNS entry types holding PNG data, by pixel size. */
export const ICNS_TYPES = { 16: 'icp4', 32: 'icp5', 64: 'icp6', 128: 'ic07', 256: 'ic08', 512: 'ic09', 1024: 'ic10' };
/** Tray badge colour per overall health (the same colours as the renderer's health states). */
export const TRAY_BADGES = { healthy: '#4cc27d', degraded: '#e6a23c', down: '#e5534b', disconnected: '#8b949e' };

function rasterise(svg, size) {
  try {
    return execFileSync('rsvg-convert', ['--width', String(size), '--height', String(size), '--format', 'png'], { input: svg, maxBuffer: 64 << 20 });
  } catch (err) {
    const missing = err && err.code === 'ENOENT';
    throw new Error(missing ? 'rsvg-convert is not installed (Debian/Ubuntu: apt install librsvg2-bin; macOS: brew install librsvg)' : String(err), { cause: err });
  }
}

/** ICO with PNG-compressed images (Windows Vista and later). */
export function ico(images) {
  const header = Buffer.alloc(6);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(images.length, 4);
  const entries = [];
  let offset = 6 + 16 * images.length;
  for (const { size, png } of images) {
    const entry = Buffer.alloc(16);
    entry.writeUInt8(size >= 256 ? 0 : size, 0);
    entry.writeUInt8(size >= 256 ? 0 : size, 1);
    entry.writeUInt8(0, 2);
    entry.writeUInt8(0, 3);
    entry.writeUInt16LE(1, 4);
    entry.writeUInt16LE(32, 6);
    entry.writeUInt32LE(png.length, 8);
    entry.writeUInt32LE(offset, 12);
    offset += png.length;
    entries.push(entry);
  }
  return Buffer.concat([header, ...entries, ...images.map((i) => i.png)]);
}

/** ICNS with PNG entries. */
export function icns(images) {
  const chunks = images.map(({ size, png }) => {
    const head = Buffer.alloc(8);
    head.write(ICNS_TYPES[size], 0, 'ascii');
    head.writeUInt32BE(png.length + 8, 4);
    return Buffer.concat([head, png]);
  });
  const head = Buffer.alloc(8);
  head.write('icns', 0, 'ascii');
  head.writeUInt32BE(8 + chunks.reduce((n, c) => n + c.length, 0), 4);
  return Buffer.concat([head, ...chunks]);
}

/** The app icon with a health badge in the lower right corner. */
function traySvg(source, colour) {
  const badge = `<circle cx="392" cy="392" r="120" fill="${colour}" stroke="#16202c" stroke-width="36"/>`;
  return source.replace('</svg>', `${badge}</svg>`);
}

function main() {
  const source = readFileSync(join(resources, 'icon.svg'), 'utf8');
  mkdirSync(join(resources, 'icons'), { recursive: true });
  mkdirSync(join(resources, 'tray'), { recursive: true });
  const png = new Map(PNG_SIZES.map((size) => [size, rasterise(source, size)]));
  for (const [size, data] of png) writeFileSync(join(resources, 'icons', `${size}x${size}.png`), data);
  writeFileSync(join(resources, 'icon.png'), png.get(1024));
  writeFileSync(join(resources, 'icon.ico'), ico(ICO_SIZES.map((size) => ({ size, png: png.get(size) }))));
  writeFileSync(join(resources, 'icon.icns'), icns(Object.keys(ICNS_TYPES).map(Number).map((size) => ({ size, png: png.get(size) }))));
  for (const [health, colour] of Object.entries(TRAY_BADGES)) {
    const svg = traySvg(source, colour);
    writeFileSync(join(resources, 'tray', `${health}.png`), rasterise(svg, 16));
    writeFileSync(join(resources, 'tray', `${health}@2x.png`), rasterise(svg, 32));
  }
  console.log(`icons written to ${resources}: ${PNG_SIZES.length} PNG sizes, icon.png, icon.ico, icon.icns, ${Object.keys(TRAY_BADGES).length} tray states`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
