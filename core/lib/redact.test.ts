import { describe, expect, it } from 'vitest';
import { REDACTED, redact, redactString } from './redact.js';

describe('redactString', () => {
  it('masks the password of URLs of any scheme', () => {
    expect(redactString('amqp://bob:hunter2@rabbit:5672/vh')).toBe('amqp://bob:***@rabbit:5672/vh');
    expect(redactString('https://admin:s3cr3t@mgmt.local:15672/api')).toBe('https://admin:***@mgmt.local:15672/api');
    expect(redactString('AMQPS://Bob:Pw@h')).toBe('AMQPS://Bob:***@h');
  });

  it('masks every URL in a longer text', () => {
    expect(redactString('from amqp://a:one@h1 to amqp://b:two@h2 failed')).toBe('from amqp://a:***@h1 to amqp://b:***@h2 failed');
  });

  it('masks a password containing "@" or ":" completely', () => {
    const out = redactString('connect amqp://bob:p@ss:w@rd@rabbit/vh failed');
    expect(out).toBe('connect amqp://bob:***@rabbit/vh failed');
    expect(out).not.toMatch(/ss|rd@/);
  });

  it('leaves URLs without a password unchanged', () => {
    for (const text of ['amqp://rabbit:5672/vh', 'amqp://bob@rabbit', 'http://127.0.0.1:7400/api/ws', 'see https://example.com/a:b']) {
      expect(redactString(text)).toBe(text);
    }
  });

  it('masks bearer tokens', () => {
    expect(redactString('Authorization: Bearer abc.DEF-123_~+/=')).toBe('Authorization: Bearer ***');
    expect(redactString('retry with Bearer  xyz789 failed')).toBe('retry with Bearer  *** failed');
  });

  it('leaves ordinary text alone', () => {
    expect(redactString('the bearer of bad news')).toBe('the bearer of bad news');
    expect(redactString('queue orders.created has 3 consumers')).toBe('queue orders.created has 3 consumers');
  });
});

describe('redact', () => {
  it('masks values under secret keys, whatever their case', () => {
    const input = {
      password: 'hunter2',
      Passphrase: 'long phrase',
      secret: 's',
      TOKEN: 't',
      authorization: 'Bearer x',
      apiKey: 'k1',
      api_key: 'k2',
      key: 'k3',
      privateKey: 'pem',
      private_key: 'pem2',
      passwordCipher: 'blob',
      cookie: 'c=1',
      name: 'visible',
    };
    expect(redact(input)).toEqual({
      password: REDACTED,
      Passphrase: REDACTED,
      secret: REDACTED,
      TOKEN: REDACTED,
      authorization: REDACTED,
      apiKey: REDACTED,
      api_key: REDACTED,
      key: REDACTED,
      privateKey: REDACTED,
      private_key: REDACTED,
      passwordCipher: REDACTED,
      cookie: REDACTED,
      name: 'visible',
    });
  });

  it('masks non-string secrets too (numbers, objects)', () => {
    expect(redact({ password: 12345, token: { nested: 'x' } })).toEqual({ password: REDACTED, token: REDACTED });
  });

  it('keeps empty secret values visible as empty (nothing to hide)', () => {
    expect(redact({ password: '', token: null, secret: undefined })).toEqual({ password: '', token: null, secret: undefined });
  });

  it('only matches whole key names', () => {
    expect(redact({ keyFile: '/etc/tls/key.pem', passwordStorage: 'encrypted', tokens: 3 })).toEqual({
      keyFile: '/etc/tls/key.pem',
      passwordStorage: 'encrypted',
      tokens: 3,
    });
  });

  it('walks nested objects and arrays, and URLs in string values', () => {
    const input = {
      profile: { url: 'amqp://bob:pw@h', credentials: { password: 'pw', username: 'bob' } },
      list: [{ token: 'abc' }, 'amqps://u:p@h2', 7, true, null],
    };
    expect(redact(input)).toEqual({
      profile: { url: 'amqp://bob:***@h', credentials: { password: REDACTED, username: 'bob' } },
      list: [{ token: REDACTED }, 'amqps://u:***@h2', 7, true, null],
    });
  });

  it('does not modify its input', () => {
    const input = { password: 'pw', nested: { url: 'amqp://a:b@c' } };
    const copy = structuredClone(input);
    redact(input);
    expect(input).toEqual(copy);
  });

  it('passes primitives through', () => {
    expect(redact(42)).toBe(42);
    expect(redact(null)).toBeNull();
    expect(redact(undefined)).toBeUndefined();
    expect(redact(false)).toBe(false);
    expect(redact('amqp://x:y@z')).toBe('amqp://x:***@z');
  });

  it('stops at a depth limit instead of recursing forever on cycles', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const out = redact(cyclic) as Record<string, unknown>;
    expect(out.name).toBe('loop');
    expect(out.self).not.toBe(cyclic);
  });
});
