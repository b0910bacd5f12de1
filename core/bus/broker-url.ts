/**
 * Broker URLs: split what the user pasted (`amqps://user:pass@host:5671/vhost`) into the parts
 * a profile keeps, so that a password never ends up in a stored or displayed URL.
 */
import { ValidationError } from '../lib/errors.js';
import type { ConnectOptions } from './profiles.js';
import { buildTlsOptions } from './tls.js';

export interface ParsedBrokerUrl {
  /** `amqp://host:port` or `amqps://host:port`: no credentials, no vhost. */
  url: string;
  tls: boolean;
  hostname: string;
  port: number;
  username: string | null;
  password: string | null;
  vhost: string | null;
  /**
   * TLS settings from the query, with RabbitMQ's URI parameter names: `cacertfile`, `certfile`,
   * `keyfile`, `server_name_indication`, `verify=verify_peer|verify_none`. Null fields are unset.
   */
  tlsQuery: { caFile: string | null; certFile: string | null; keyFile: string | null; servername: string | null; verify: boolean };
}

export function parseBrokerUrl(raw: string, field = 'url'): ParsedBrokerUrl {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    // The text is not echoed: an unparseable URL may hold a password we cannot find to mask.
    throw new ValidationError(`The ${field} is not a valid URL`, [{ path: field, message: 'not a valid URL' }]);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (scheme !== 'amqp' && scheme !== 'amqps') {
    throw new ValidationError(`Broker URLs start with amqp:// or amqps://, not ${scheme}://`, [
      { path: field, message: 'must be amqp:// or amqps://' },
    ]);
  }
  if (!u.hostname) {
    throw new ValidationError('The broker URL has no host', [{ path: field, message: 'host is required' }]);
  }
  const tls = scheme === 'amqps';
  const port = u.port ? Number(u.port) : tls ? 5671 : 5672;
  const hostname = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const path = u.pathname.replace(/^\//, '');
  const decode = (text: string, part: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new ValidationError(`The broker URL's ${part} has an invalid %-escape`, [
        { path: field, message: `invalid %-escape in the ${part}` },
      ]);
    }
  };
  const q = (name: string): string | null => u.searchParams.get(name) || null;
  const verifyParam = q('verify');
  if (verifyParam !== null && verifyParam !== 'verify_peer' && verifyParam !== 'verify_none') {
    throw new ValidationError(`The broker URL's verify= is verify_peer or verify_none, not ${verifyParam}`, [
      { path: field, message: 'verify must be verify_peer or verify_none' },
    ]);
  }
  const tlsQuery = { caFile: q('cacertfile'), certFile: q('certfile'), keyFile: q('keyfile'), servername: q('server_name_indication'), verify: verifyParam !== 'verify_none' };
  if (!tls && (tlsQuery.caFile || tlsQuery.certFile || tlsQuery.keyFile || verifyParam)) {
    throw new ValidationError('The broker URL sets TLS options but starts with amqp://; use amqps://', [
      { path: field, message: 'use amqps:// with TLS options' },
    ]);
  }
  if (Boolean(tlsQuery.certFile) !== Boolean(tlsQuery.keyFile)) {
    throw new ValidationError('A client certificate needs both certfile= and keyfile=', [{ path: field, message: 'set both certfile and keyfile' }]);
  }
  return {
    tlsQuery,
    url: `${scheme}://${u.hostname}:${port}`,
    tls,
    hostname,
    port,
    username: u.username ? decode(u.username, 'user name') : null,
    password: u.password ? decode(u.password, 'password') : null,
    vhost: path ? decode(path, 'vhost') : null,
  };
}

/** For messages and logs: the URL with its password masked. */
export function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^:@/\s]+):[^/\s]*@/, '$1:***@');
}

/**
 * Connection options for a URL given on a command line (agents, tools): no profile, no store.
 * amqps:// verifies the broker against the system CAs, or the `cacertfile=` of the query; only
 * `verify=verify_none` turns that off (and the connection then warns).
 */
export function connectOptionsFromUrl(raw: string, connectionName: string, heartbeat = 10): ConnectOptions {
  const parsed = parseBrokerUrl(raw, 'broker');
  return {
    hostname: parsed.hostname,
    port: parsed.port,
    vhost: parsed.vhost ?? '/',
    username: parsed.username ?? 'guest',
    password: parsed.password ?? (parsed.username ? '' : 'guest'),
    heartbeat,
    tls: parsed.tls ? buildTlsOptions(parsed.tlsQuery, parsed.hostname) : false,
    connectionName,
  };
}
