/**
 * Serves the built renderer: no directory listing, no path traversal, SPA fallback. Files are
 * answered from memory (read once, read again when their size or mtime changes): a streamed file
 * takes one event-loop turn per 64 KB chunk, and a core busy with a large mesh made each turn
 * long enough that the 800 KB bundle took seconds to reach the page (npm run bench:console).
 */
import { createReadStream, readFileSync, statSync, type Stats } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export function resolveStaticFile(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const base = resolve(root);
  const target = resolve(join(base, normalize(decoded)));
  if (target !== base && !target.startsWith(base + sep)) return null;
  return target;
}

function fileStats(path: string): Stats | null {
  try {
    const stats = statSync(path);
    return stats.isFile() ? stats : null;
  } catch {
    return null;
  }
}

/** Larger files (none in the built renderer) are streamed. */
export const MAX_CACHED_FILE_BYTES = 16 * 1024 * 1024;

const cache = new Map<string, { size: number; mtimeMs: number; body: Buffer }>();

/** The file's contents from memory when it has not changed since read; null for a file too large to keep. */
function cachedBody(path: string, stats: Stats): Buffer | null {
  if (stats.size > MAX_CACHED_FILE_BYTES) return null;
  const hit = cache.get(path);
  if (hit && hit.size === stats.size && hit.mtimeMs === stats.mtimeMs) return hit.body;
  const body = readFileSync(path);
  cache.set(path, { size: stats.size, mtimeMs: stats.mtimeMs, body });
  return body;
}

/** Returns false when the UI is not built (no index.html). */
export function serveStatic(root: string, urlPath: string, res: ServerResponse, headers: Record<string, string>): boolean {
  const index = join(root, 'index.html');
  const indexStats = fileStats(index);
  if (!indexStats) return false;
  let file = resolveStaticFile(root, urlPath);
  let stats = file ? fileStats(file) : null;
  // Unknown paths without an extension are client routes (and "/" is the root): answer with the app.
  if (file && !stats) {
    file = extname(file) ? null : index;
    stats = indexStats;
  }
  if (!file || !stats) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end('Not found\n');
    return true;
  }
  const isIndex = file === index;
  const body = cachedBody(file, stats);
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': isIndex ? 'no-cache' : 'public, max-age=31536000, immutable',
    'content-length': String(body?.length ?? stats.size),
    ...headers,
  });
  if (body) res.end(body);
  else createReadStream(file).pipe(res);
  return true;
}
