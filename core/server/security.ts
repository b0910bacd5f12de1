/**
 * Request checks of the headless host: the bearer token, and Host/Origin checks that stop DNS
 * rebinding and cross-site requests from reaching the API.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';

/**
 * The renderer's Content-Security-Policy, the same for the desktop app (meshdeck:// response
 * header) and the headless host (HTTP header). renderer/index.html carries it as a meta tag too,
 * without frame-ancestors, which meta tags cannot set.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison (hashing first so lengths never leak). */
export function tokensEqual(presented: string | undefined | null, expected: string): boolean {
  if (!presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearerFrom(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** The Host header values the host answers to: loopback names, or the bound host, on its port. */
export function allowedHosts(boundHost: string, port: number): Set<string> {
  const names = new Set(LOOPBACK_NAMES);
  if (boundHost !== '0.0.0.0' && boundHost !== '::') names.add(boundHost.includes(':') && !boundHost.startsWith('[') ? `[${boundHost}]` : boundHost);
  const hosts = new Set<string>();
  for (const name of names) hosts.add(`${name}:${port}`.toLowerCase());
  return hosts;
}

export function isAllowedHost(hostHeader: string | undefined, allowed: Set<string>, extra: ReadonlySet<string>): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.toLowerCase();
  return allowed.has(host) || extra.has(host);
}

/** Browsers send Origin on cross-site and on WebSocket requests; it must be this host. */
export function isAllowedOrigin(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true; // not a browser (curl, scripts): the token decides
  if (!hostHeader) return false;
  return origin.toLowerCase() === `http://${hostHeader.toLowerCase()}`;
}
