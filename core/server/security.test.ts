import { describe, expect, it } from 'vitest';
import { allowedHosts, bearerFrom, generateToken, isAllowedHost, isAllowedOrigin, tokensEqual } from './security.js';

const NONE: ReadonlySet<string> = new Set();

describe('generateToken', () => {
  it('makes 32 random bytes as base64url (43 characters), different every time', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
  });
});

describe('tokensEqual', () => {
  const token = 'Zm9vYmFyYmF6cXV4LXRva2VuLXZhbHVlLTEyMzQ1Njc4OQ';

  it('accepts the exact token', () => {
    expect(tokensEqual(token, token)).toBe(true);
    expect(tokensEqual(String(token), token)).toBe(true);
  });

  it('refuses anything else, including prefixes, longer strings and case changes', () => {
    expect(tokensEqual(token.slice(0, -1), token)).toBe(false);
    expect(tokensEqual(token + 'x', token)).toBe(false);
    expect(tokensEqual(token.toLowerCase(), token)).toBe(false);
    expect(tokensEqual('x', token)).toBe(false);
  });

  it('refuses missing or empty tokens', () => {
    expect(tokensEqual(undefined, token)).toBe(false);
    expect(tokensEqual(null, token)).toBe(false);
    expect(tokensEqual('', token)).toBe(false);
    // Even if the expected token were empty, an empty presentation is not a credential.
    expect(tokensEqual('', '')).toBe(false);
  });
});

describe('bearerFrom', () => {
  it('extracts the token of a Bearer header, any case, trimmed', () => {
    expect(bearerFrom('Bearer abc.def-123')).toBe('abc.def-123');
    expect(bearerFrom('bearer abc')).toBe('abc');
    expect(bearerFrom('BEARER   abc')).toBe('abc');
    expect(bearerFrom('  Bearer abc  ')).toBe('abc');
  });

  it('returns null for other schemes and malformed headers', () => {
    expect(bearerFrom(undefined)).toBeNull();
    expect(bearerFrom('')).toBeNull();
    expect(bearerFrom('Bearer')).toBeNull();
    expect(bearerFrom('Bearer ')).toBeNull();
    expect(bearerFrom('Basic dXNlcjpwYXNz')).toBeNull();
    expect(bearerFrom('Bearer two tokens')).toBeNull();
    expect(bearerFrom('Bearerabc')).toBeNull();
    expect(bearerFrom('abc')).toBeNull();
  });
});

describe('allowedHosts', () => {
  it('answers to the loopback names on the bound port', () => {
    expect([...allowedHosts('127.0.0.1', 7400)].sort()).toEqual(['127.0.0.1:7400', '[::1]:7400', 'localhost:7400']);
  });

  it('adds a specific bound host name, lower-cased', () => {
    expect([...allowedHosts('Console.Example.Lan', 8080)].sort()).toEqual([
      '127.0.0.1:8080',
      '[::1]:8080',
      'console.example.lan:8080',
      'localhost:8080',
    ]);
    expect(allowedHosts('192.168.1.20', 7400).has('192.168.1.20:7400')).toBe(true);
  });

  it('brackets a bound IPv6 address', () => {
    const hosts = allowedHosts('fd00::5', 7400);
    expect(hosts.has('[fd00::5]:7400')).toBe(true);
    expect(hosts.has('fd00::5:7400')).toBe(false);
    expect(allowedHosts('[fd00::5]', 7400).has('[fd00::5]:7400')).toBe(true);
    expect(allowedHosts('::1', 7400).size).toBe(3);
  });

  it('does not add wildcard bind addresses (they are not names a browser would use)', () => {
    expect([...allowedHosts('0.0.0.0', 7400)].sort()).toEqual(['127.0.0.1:7400', '[::1]:7400', 'localhost:7400']);
    expect([...allowedHosts('::', 7400)].sort()).toEqual(['127.0.0.1:7400', '[::1]:7400', 'localhost:7400']);
  });
});

describe('isAllowedHost (DNS rebinding)', () => {
  const allowed = allowedHosts('127.0.0.1', 7400);

  it('accepts loopback names on the right port, case-insensitively', () => {
    for (const host of ['127.0.0.1:7400', 'localhost:7400', 'LOCALHOST:7400', '[::1]:7400']) {
      expect(isAllowedHost(host, allowed, NONE), host).toBe(true);
    }
  });

  it('refuses a rebinding domain, even on the right port', () => {
    for (const host of ['evil.com:7400', 'evil.com', '127.0.0.1.evil.com:7400', 'localhost.evil.com:7400', 'evil.com:7400@127.0.0.1:7400']) {
      expect(isAllowedHost(host, allowed, NONE), host).toBe(false);
    }
  });

  it('refuses loopback names on another port or without a port', () => {
    for (const host of ['127.0.0.1:7401', 'localhost:80', '127.0.0.1', 'localhost', '127.0.0.1:7400 ']) {
      expect(isAllowedHost(host, allowed, NONE), host).toBe(false);
    }
  });

  it('refuses a missing or empty Host header', () => {
    expect(isAllowedHost(undefined, allowed, NONE)).toBe(false);
    expect(isAllowedHost('', allowed, NONE)).toBe(false);
  });

  it('accepts extra configured hosts (given lower-case by the host)', () => {
    const extra = new Set(['console.example.com:443']);
    expect(isAllowedHost('Console.Example.com:443', allowed, extra)).toBe(true);
    expect(isAllowedHost('console.example.com:444', allowed, extra)).toBe(false);
  });
});

describe('isAllowedOrigin', () => {
  it('lets non-browser clients without Origin through (the token decides)', () => {
    expect(isAllowedOrigin(undefined, '127.0.0.1:7400')).toBe(true);
    expect(isAllowedOrigin(undefined, undefined)).toBe(true);
  });

  it('accepts the page served by this host', () => {
    expect(isAllowedOrigin('http://127.0.0.1:7400', '127.0.0.1:7400')).toBe(true);
    expect(isAllowedOrigin('http://LOCALHOST:7400', 'localhost:7400')).toBe(true);
  });

  it('refuses other origins', () => {
    expect(isAllowedOrigin('http://evil.com', '127.0.0.1:7400')).toBe(false);
    expect(isAllowedOrigin('http://localhost:7400', '127.0.0.1:7400')).toBe(false);
    expect(isAllowedOrigin('http://127.0.0.1:7401', '127.0.0.1:7400')).toBe(false);
    expect(isAllowedOrigin('https://127.0.0.1:7400', '127.0.0.1:7400')).toBe(false);
    expect(isAllowedOrigin('null', '127.0.0.1:7400')).toBe(false);
    expect(isAllowedOrigin('', '127.0.0.1:7400')).toBe(false);
  });

  it('refuses a browser request without a Host header', () => {
    expect(isAllowedOrigin('http://127.0.0.1:7400', undefined)).toBe(false);
  });
});

describe('CONTENT_SECURITY_POLICY', () => {
  it('is the same policy the renderer declares in its meta tag (less frame-ancestors)', async () => {
    const { readFileSync } = await import('node:fs');
    const { CONTENT_SECURITY_POLICY } = await import('./security.js');
    const html = readFileSync(new URL('../../renderer/index.html', import.meta.url), 'utf8');
    const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
    const withoutFrameAncestors = CONTENT_SECURITY_POLICY.split('; ')
      .filter((d) => !d.startsWith('frame-ancestors'))
      .join('; ');
    expect(meta).toBe(withoutFrameAncestors);
  });
});
