import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { connectOptionsFromUrl, parseBrokerUrl, redactUrl } from './broker-url.js';

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('parseBrokerUrl', () => {
  it('defaults amqp:// to port 5672 without TLS', () => {
    expect(parseBrokerUrl('amqp://rabbit.internal')).toEqual({
      url: 'amqp://rabbit.internal:5672',
      tls: false,
      hostname: 'rabbit.internal',
      port: 5672,
      username: null,
      password: null,
      vhost: null,
      tlsQuery: { caFile: null, certFile: null, keyFile: null, servername: null, verify: true },
    });
  });

  it('defaults amqps:// to port 5671 with TLS', () => {
    const parsed = parseBrokerUrl('amqps://rabbit.internal');
    expect(parsed.tls).toBe(true);
    expect(parsed.port).toBe(5671);
    expect(parsed.url).toBe('amqps://rabbit.internal:5671');
  });

  it('keeps an explicit port, also for amqps', () => {
    expect(parseBrokerUrl('amqp://127.0.0.1:5673').port).toBe(5673);
    expect(parseBrokerUrl('amqps://h:443').url).toBe('amqps://h:443');
    // The scheme's "default" port is not dropped (amqp is not a special scheme to WHATWG URL).
    expect(parseBrokerUrl('amqp://h:5672').url).toBe('amqp://h:5672');
  });

  it('accepts upper-case schemes and surrounding whitespace', () => {
    const parsed = parseBrokerUrl('  AMQPS://broker:5671  ');
    expect(parsed.tls).toBe(true);
    expect(parsed.url).toBe('amqps://broker:5671');
  });

  it('splits credentials out of the URL and URL-decodes them', () => {
    const parsed = parseBrokerUrl('amqp://ops%20team:p%40ss%3Aw0rd%2F@h:5672/');
    expect(parsed.username).toBe('ops team');
    expect(parsed.password).toBe('p@ss:w0rd/');
    expect(parsed.url).toBe('amqp://h:5672');
    expect(parsed.url).not.toContain('ops');
    expect(parsed.vhost).toBeNull();
  });

  it('takes a user without a password', () => {
    const parsed = parseBrokerUrl('amqp://alice@h');
    expect(parsed.username).toBe('alice');
    expect(parsed.password).toBeNull();
  });

  it('reads the vhost from the path, decoding %2F as "/"', () => {
    expect(parseBrokerUrl('amqp://h/orders').vhost).toBe('orders');
    expect(parseBrokerUrl('amqp://h/%2F').vhost).toBe('/');
    expect(parseBrokerUrl('amqp://h/%2fstaging').vhost).toBe('/staging');
    expect(parseBrokerUrl('amqp://h/team%20a').vhost).toBe('team a');
    expect(parseBrokerUrl('amqp://h/').vhost).toBeNull();
    expect(parseBrokerUrl('amqp://h').vhost).toBeNull();
  });

  it('handles IPv6 literals: bare hostname for sockets, bracketed in the URL', () => {
    const parsed = parseBrokerUrl('amqp://user:pw@[::1]:5673/v');
    expect(parsed.hostname).toBe('::1');
    expect(parsed.port).toBe(5673);
    expect(parsed.url).toBe('amqp://[::1]:5673');
    expect(parsed.username).toBe('user');
    expect(parsed.vhost).toBe('v');
    expect(parseBrokerUrl('amqps://[fe80::1]').url).toBe('amqps://[fe80::1]:5671');
  });

  it('refuses other schemes with an issue on the given field', () => {
    for (const raw of ['http://h', 'https://h:5672', 'mqtt://h', 'ftp://u:p@h']) {
      const err = validationError(() => parseBrokerUrl(raw));
      expect(err.code).toBe('INVALID_INPUT');
      expect(err.issues).toEqual([{ path: 'url', message: 'must be amqp:// or amqps://' }]);
    }
    expect(validationError(() => parseBrokerUrl('http://h', 'broker')).issues[0]?.path).toBe('broker');
  });

  it('refuses garbage with "not a valid URL" on the field', () => {
    for (const raw of ['', '   ', 'not a url', '127.0.0.1:5672', 'amqp://h:99999', 'amqp://h:port']) {
      const err = validationError(() => parseBrokerUrl(raw, 'profile.url'));
      expect(err.issues).toEqual([{ path: 'profile.url', message: 'not a valid URL' }]);
    }
  });

  it('refuses a URL without a host', () => {
    for (const raw of ['amqp:///vhost', 'amqp:h']) {
      const err = validationError(() => parseBrokerUrl(raw));
      expect(err.issues).toEqual([{ path: 'url', message: 'host is required' }]);
    }
  });

  it('turns broken %-escapes into a ValidationError, not a URIError', () => {
    for (const raw of ['amqp://h/%zz', 'amqp://u:%E0%A4%A@h', 'amqp://%ff@h']) {
      const err = validationError(() => parseBrokerUrl(raw));
      expect(err.issues[0]?.path).toBe('url');
    }
  });

  it('does not echo a password in the error for an unparseable URL', () => {
    for (const raw of ['amqp://bob:hunter2@h:notaport', 'amqp://bob:hun/ter2@h:notaport']) {
      const err = validationError(() => parseBrokerUrl(raw));
      expect(err.message).not.toContain('hunter2');
      expect(err.message).not.toContain('ter2');
      expect(err.message).toBe('The url is not a valid URL');
    }
  });
});

describe('TLS options in the URL query (RabbitMQ URI parameter names)', () => {
  it('reads cacertfile, certfile, keyfile, server_name_indication and verify', () => {
    const parsed = parseBrokerUrl('amqps://h/v?cacertfile=/etc/ca.pem&certfile=/c.pem&keyfile=/k.pem&server_name_indication=rabbit.prod&verify=verify_none');
    expect(parsed.tlsQuery).toEqual({ caFile: '/etc/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', servername: 'rabbit.prod', verify: false });
    expect(parsed.url).toBe('amqps://h:5671');
    expect(parsed.vhost).toBe('v');
  });

  it('verifies unless verify=verify_none, and refuses other values', () => {
    expect(parseBrokerUrl('amqps://h?verify=verify_peer').tlsQuery.verify).toBe(true);
    expect(validationError(() => parseBrokerUrl('amqps://h?verify=false')).message).toContain('verify_peer or verify_none');
  });

  it('refuses TLS options on amqp:// and a certificate without its key', () => {
    expect(validationError(() => parseBrokerUrl('amqp://h?cacertfile=/ca.pem')).message).toContain('use amqps://');
    expect(validationError(() => parseBrokerUrl('amqp://h?verify=verify_none')).message).toContain('use amqps://');
    expect(validationError(() => parseBrokerUrl('amqps://h?certfile=/c.pem')).message).toContain('keyfile');
  });

  it('connectOptionsFromUrl verifies amqps:// by default with the host as server name', () => {
    const opts = connectOptionsFromUrl('amqps://u:p@rabbit.prod/v', 'agent');
    expect(opts.tls).toEqual({ rejectUnauthorized: true, servername: 'rabbit.prod' });
    expect(connectOptionsFromUrl('amqps://h?verify=verify_none', 'agent').tls).toMatchObject({ rejectUnauthorized: false });
    expect(connectOptionsFromUrl('amqp://h', 'agent').tls).toBe(false);
  });
});

describe('redactUrl', () => {
  it('masks the password and keeps the rest', () => {
    expect(redactUrl('amqp://bob:hunter2@h:5672/v')).toBe('amqp://bob:***@h:5672/v');
    expect(redactUrl('amqps://bob:@h')).toBe('amqps://bob:***@h');
  });

  it('leaves URLs without a password alone', () => {
    expect(redactUrl('amqp://h:5672/v')).toBe('amqp://h:5672/v');
    expect(redactUrl('amqp://bob@h:5672')).toBe('amqp://bob@h:5672');
    expect(redactUrl('amqp://[::1]:5672')).toBe('amqp://[::1]:5672');
  });

  it('masks a password that itself contains "@" completely', () => {
    const redacted = redactUrl('amqp://bob:p@ss@h:5672/v');
    expect(redacted).toBe('amqp://bob:***@h:5672/v');
    expect(redacted).not.toContain('ss@');
  });
});
