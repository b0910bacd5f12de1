import { join, resolve, sep } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const fake = vi.hoisted(() => ({
  registerSchemesAsPrivileged: vi.fn(),
  handle: vi.fn(),
  fetch: vi.fn(),
}));

vi.mock('electron', () => ({
  protocol: { registerSchemesAsPrivileged: fake.registerSchemesAsPrivileged, handle: fake.handle },
  net: { fetch: fake.fetch },
}));

const { handleAppProtocol, registerAppScheme, resolveAppFile } = await import('./app-protocol');

const ROOT = resolve('/opt/meshdeck/out/renderer');

beforeEach(() => {
  vi.clearAllMocks();
});

describe('resolveAppFile', () => {
  it('serves index.html for the root', () => {
    expect(resolveAppFile(ROOT, 'meshdeck://app/')).toBe(join(ROOT, 'index.html'));
  });

  it('maps paths into the renderer folder', () => {
    expect(resolveAppFile(ROOT, 'meshdeck://app/index.html')).toBe(join(ROOT, 'index.html'));
    expect(resolveAppFile(ROOT, 'meshdeck://app/assets/x.js')).toBe(join(ROOT, 'assets', 'x.js'));
    expect(resolveAppFile(ROOT, 'meshdeck://app/assets/x.js?v=3#frag')).toBe(join(ROOT, 'assets', 'x.js'));
    expect(resolveAppFile(ROOT, 'meshdeck://app/assets/a%20b.css')).toBe(join(ROOT, 'assets', 'a b.css'));
  });

  it('accepts a folder given with a trailing separator or relative parts', () => {
    expect(resolveAppFile(`${ROOT}${sep}`, 'meshdeck://app/assets/x.js')).toBe(join(ROOT, 'assets', 'x.js'));
    expect(resolveAppFile(join(ROOT, 'assets', '..'), 'meshdeck://app/index.html')).toBe(join(ROOT, 'index.html'));
  });

  // Dot segments, plain or %2e-encoded, are removed by the URL parser and by path
  // normalisation of an absolute path: a traversal attempt lands inside the folder, never outside.
  it.each([
    'meshdeck://app/../../etc/passwd',
    'meshdeck://app/%2e%2e/%2e%2e/etc/passwd',
    'meshdeck://app/%2E%2E/%2e%2E/etc/passwd',
    'meshdeck://app/assets/../../../etc/passwd',
    'meshdeck://app/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    'meshdeck://app/..%2f..%2f..%2fetc%2fpasswd',
    'meshdeck://app/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd',
  ])('keeps %s inside the folder', (url) => {
    const file = resolveAppFile(ROOT, url);
    expect(file).toBe(join(ROOT, 'etc', 'passwd'));
    expect(file!.startsWith(ROOT + sep)).toBe(true);
    expect(file).not.toBe(resolve('/etc/passwd'));
  });

  it.each([
    ['the folder itself (empty path)', 'meshdeck://app'],
    ['the folder itself (double slash)', 'meshdeck://app//'],
    ['the folder itself (encoded slash)', 'meshdeck://app/%2f'],
    ['a traversal to the folder itself', 'meshdeck://app/..%2f'],
    ['malformed percent-encoding', 'meshdeck://app/%E0%A4%A'],
    ['a lone percent sign', 'meshdeck://app/%'],
  ])('returns null for %s', (_name, url) => {
    expect(resolveAppFile(ROOT, url)).toBeNull();
  });

  it('never answers with a sibling folder that shares the prefix', () => {
    const file = resolveAppFile(ROOT, 'meshdeck://app/..%2frenderer-evil%2fx.js');
    expect(file).toBe(join(ROOT, 'renderer-evil', 'x.js'));
  });
});

describe('registerAppScheme', () => {
  it('registers the meshdeck scheme as standard and secure', () => {
    registerAppScheme();
    expect(fake.registerSchemesAsPrivileged).toHaveBeenCalledTimes(1);
    expect(fake.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      { scheme: 'meshdeck', privileges: { standard: true, secure: true, supportFetchAPI: true } },
    ]);
  });
});

describe('handleAppProtocol', () => {
  type ProtocolHandler = (request: { url: string }) => Promise<Response>;

  function installedHandler(): ProtocolHandler {
    handleAppProtocol(ROOT);
    expect(fake.handle).toHaveBeenCalledTimes(1);
    expect(fake.handle.mock.calls[0]?.[0]).toBe('meshdeck');
    return fake.handle.mock.calls[0]?.[1] as ProtocolHandler;
  }

  it('serves files with the CSP and nosniff headers', async () => {
    fake.fetch.mockResolvedValue(new Response('<html></html>', { status: 200, headers: { 'Content-Type': 'text/html' } }));
    const response = await installedHandler()({ url: 'meshdeck://app/index.html' });
    expect(fake.fetch).toHaveBeenCalledTimes(1);
    expect(fake.fetch.mock.calls[0]?.[0]).toMatch(/^file:\/\/.*\/opt\/meshdeck\/out\/renderer\/index\.html$/);
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('text/html');
    expect(response.headers.get('Content-Security-Policy')).toContain("script-src 'self'");
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(await response.text()).toBe('<html></html>');
  });

  it('answers 404 without touching the disk for URLs that resolve to nothing', async () => {
    const response = await installedHandler()({ url: 'meshdeck://app/%E0%A4%A' });
    expect(response.status).toBe(404);
    expect(fake.fetch).not.toHaveBeenCalled();
  });
});
