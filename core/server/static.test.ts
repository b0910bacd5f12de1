import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_CACHED_FILE_BYTES, resolveStaticFile, serveStatic } from './static.js';

let dir: string;
let root: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-static-'));
  root = join(dir, 'www');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>Meshdeck</title>');
  writeFileSync(join(root, 'assets', 'app-123.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'outside the web root');
  mkdirSync(join(dir, 'www-evil'));
  writeFileSync(join(dir, 'www-evil', 'x.js'), 'sibling folder');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const inside = (path: string | null) => path === root || (path !== null && path.startsWith(root + sep));

describe('resolveStaticFile', () => {
  it('maps normal URL paths to files under the root', () => {
    expect(resolveStaticFile(root, '/index.html')).toBe(join(root, 'index.html'));
    expect(resolveStaticFile(root, '/assets/app-123.js')).toBe(join(root, 'assets', 'app-123.js'));
    expect(resolveStaticFile(root, '/')).toBe(root);
  });

  it('ignores the query string and decodes %-escapes', () => {
    expect(resolveStaticFile(root, '/assets/app-123.js?v=2&x=/../../secret.txt')).toBe(join(root, 'assets', 'app-123.js'));
    expect(resolveStaticFile(root, '/assets/my%20file.css')).toBe(join(root, 'assets', 'my file.css'));
  });

  it('keeps rooted "/../" paths inside the root (they cannot climb above "/")', () => {
    expect(resolveStaticFile(root, '/../etc/passwd')).toBe(join(root, 'etc', 'passwd'));
    expect(resolveStaticFile(root, '/../../../../secret.txt')).toBe(join(root, 'secret.txt'));
    expect(resolveStaticFile(root, '/assets/../../secret.txt')).toBe(join(root, 'secret.txt'));
    expect(resolveStaticFile(root, '/%2e%2e/%2e%2e/etc/passwd')).toBe(join(root, 'etc', 'passwd'));
    expect(resolveStaticFile(root, '/..%2f..%2fsecret.txt')).toBe(join(root, 'secret.txt'));
  });

  it('refuses unrooted paths that climb out of the root, plain or encoded', () => {
    for (const path of ['../secret.txt', '..', '%2e%2e/secret.txt', '%2E%2E%2Fsecret.txt', '..%2f..%2fetc/passwd', 'assets/../../secret.txt']) {
      expect(resolveStaticFile(root, path), path).toBeNull();
    }
  });

  it('refuses a sibling folder whose name starts with the root name', () => {
    expect(resolveStaticFile(root, '../www-evil/x.js')).toBeNull();
  });

  it('never returns a path outside the root, whatever the input', () => {
    const attempts = [
      '/../etc/passwd',
      '/%2e%2e/etc/passwd',
      '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/....//....//etc/passwd',
      '/assets/%2e%2e/%2e%2e/%2e%2e/secret.txt',
      '../secret.txt',
      '%2e%2e',
      '/\\..\\..\\secret.txt',
      '//etc/passwd',
    ];
    for (const path of attempts) {
      const resolved = resolveStaticFile(root, path);
      expect(resolved === null || inside(resolved), `${path} -> ${resolved}`).toBe(true);
    }
  });

  it('refuses NUL bytes, raw or encoded', () => {
    expect(resolveStaticFile(root, '/index.html%00.png')).toBeNull();
    expect(resolveStaticFile(root, '/index.html\0')).toBeNull();
  });

  it('refuses malformed %-escapes', () => {
    expect(resolveStaticFile(root, '/%E0%A4%A')).toBeNull();
    expect(resolveStaticFile(root, '/%zz')).toBeNull();
  });
});

/** Just enough of a ServerResponse for serveStatic: headers plus a writable body. */
class FakeResponse extends Writable {
  status = 0;
  headers: Record<string, string> = {};
  private readonly chunks: Buffer[] = [];

  writeHead(status: number, headers: Record<string, string>): this {
    this.status = status;
    this.headers = headers;
    return this;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    done();
  }

  body(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function serve(urlPath: string, staticRoot = root): Promise<{ served: boolean; res: FakeResponse }> {
  const res = new FakeResponse();
  const served = serveStatic(staticRoot, urlPath, res as unknown as ServerResponse, { 'x-test': '1' });
  if (!served) return Promise.resolve({ served, res });
  return new Promise((resolve, reject) => {
    res.on('finish', () => resolve({ served, res }));
    res.on('error', reject);
  });
}

describe('serveStatic', () => {
  it('reports false when the UI is not built', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const { served, res } = await serve('/', empty);
    expect(served).toBe(false);
    expect(res.status).toBe(0);
  });

  it('serves a file with its type, long caching and the extra headers', async () => {
    const { res } = await serve('/assets/app-123.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['x-test']).toBe('1');
    expect(res.body()).toBe('console.log(1)');
  });

  it('answers "/" and client routes with index.html, uncached', async () => {
    for (const path of ['/', '/profiles', '/connections/abc']) {
      const { res } = await serve(path);
      expect(res.status, path).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body()).toContain('<title>Meshdeck</title>');
    }
  });

  it('answers 404 for a missing file with an extension and for refused paths', async () => {
    for (const path of ['/assets/missing.js', '/index.html%00.png', '%2e%2e/secret.txt']) {
      const { res } = await serve(path);
      expect(res.status, path).toBe(404);
      expect(res.body()).toBe('Not found\n');
      expect(res.headers['x-test']).toBe('1');
    }
  });

  it('never serves a file from outside the root', async () => {
    const { res } = await serve('/../secret.txt');
    expect(res.status).toBe(404);
    expect(res.body()).not.toContain('outside the web root');
  });

  it('answers from memory with a length, and reads a file again once it changed on disk (size or mtime)', async () => {
    const first = await serve('/assets/app-123.js');
    expect(first.res.headers['content-length']).toBe(String('console.log(1)'.length));
    // Same size, newer mtime: read again, not the old contents.
    writeFileSync(join(root, 'assets', 'app-123.js'), 'console.log(2)');
    utimesSync(join(root, 'assets', 'app-123.js'), new Date(), new Date(Date.now() + 5000));
    expect((await serve('/assets/app-123.js')).res.body()).toBe('console.log(2)');
    // Another size.
    writeFileSync(join(root, 'assets', 'app-123.js'), 'console.log("three")');
    const third = await serve('/assets/app-123.js');
    expect(third.res.body()).toBe('console.log("three")');
    expect(third.res.headers['content-length']).toBe(String('console.log("three")'.length));
  });

  it('streams a file too large to keep in memory, whole', async () => {
    const big = Buffer.alloc(MAX_CACHED_FILE_BYTES + 1, 'a');
    writeFileSync(join(root, 'assets', 'big.txt'), big);
    const { res } = await serve('/assets/big.txt');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(big.length));
    expect(res.body().length).toBe(big.length);
  });
});
