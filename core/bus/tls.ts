/**
 * TLS for broker connections: reading the CA / client certificate / key files with errors that
 * name the file, the warnings shown when a connection is not verified or not encrypted, and the
 * socket's TLS errors said in words an operator can act on.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ValidationError, errorMessage } from '../lib/errors.js';

export interface TlsFiles {
  caFile?: string | null;
  certFile?: string | null;
  keyFile?: string | null;
}

const FILE_LABEL = { caFile: 'CA', certFile: 'client certificate', keyFile: 'client key' } as const;

function readPem(file: string, field: keyof TlsFiles): Buffer {
  const label = FILE_LABEL[field];
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    throw new ValidationError(`Cannot read the TLS ${label} file ${file}: ${errorMessage(err)}`, [
      { path: `tls.${field}`, message: errorMessage(err) },
    ]);
  }
  if (!content.includes('-----BEGIN ')) {
    throw new ValidationError(`The TLS ${label} file ${file} is not a PEM file (no "-----BEGIN" line)`, [
      { path: `tls.${field}`, message: 'not a PEM file' },
    ]);
  }
  return content;
}

/**
 * Node TLS options: verification on unless `verify` is explicitly false, the server name sent
 * (SNI) and checked against the certificate, and the files read now with errors naming them.
 */
export function buildTlsOptions(files: TlsFiles & { servername?: string | null; verify?: boolean }, hostname: string): TlsOptions {
  const tls: TlsOptions = { rejectUnauthorized: files.verify !== false };
  // SNI carries host names only (RFC 6066); an IP address is checked against the certificate's IP SANs.
  const servername = files.servername || (isIP(hostname) ? '' : hostname);
  if (servername) tls.servername = servername;
  if (files.caFile) tls.ca = readPem(files.caFile, 'caFile');
  if (files.certFile) tls.cert = readPem(files.certFile, 'certFile');
  if (files.keyFile) tls.key = readPem(files.keyFile, 'keyFile');
  return tls;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

export const INSECURE_TLS_WARNING =
  'TLS server verification is off: the broker\u2019s certificate is not checked, so anyone on the network path can impersonate it and read the credentials';
export const PLAINTEXT_WARNING =
  'Plain AMQP to a remote host: credentials and messages cross the network unencrypted; use amqps://';

/** What to warn about a connection's security: verification turned off, or no TLS to another host. */
export function securityWarnings(settings: { tls: boolean; verify: boolean; hostname: string }): string[] {
  if (settings.tls) return settings.verify ? [] : [INSECURE_TLS_WARNING];
  return LOCAL_HOSTS.has(settings.hostname) ? [] : [PLAINTEXT_WARNING];
}

/** The warning for options about to be used, or null. */
export function connectWarning(opts: { hostname: string; tls: false | TlsOptions }): string | null {
  return securityWarnings({ tls: opts.tls !== false, verify: opts.tls === false || opts.tls.rejectUnauthorized !== false, hostname: opts.hostname })[0] ?? null;
}

/** OpenSSL's certificate verification results, as Node reports them in `err.code`. */
export const CERT_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/**
 * The socket's TLS error in words that say what to change, with the original text kept in
 * brackets; other errors are returned as they are.
 */
export function explainTlsError(code: string | null, text: string, tls: false | TlsOptions | undefined, beforeOpen = true): string {
  if (!code || !tls) return text;
  const servername = tls.servername ?? 'the broker’s address';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `TLS: the broker\u2019s certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (${text})`;
  }
  if (CERT_VERIFY_CODES.has(code)) {
    const fix = tls.ca
      ? 'the profile\u2019s CA file does not hold the CA that signed it'
      : 'set the profile\u2019s CA file to the CA that signed it';
    return `TLS: the broker\u2019s certificate could not be verified (${code}: ${text}); ${fix}`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS: the broker\u2019s certificate is not for the server name ${servername} (${text}); connect by a name in the certificate or set the profile\u2019s server name`;
  }
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' || (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' && !tls.cert)) {
    return `TLS: the broker requires a client certificate; set the profile\u2019s certificate and key files (${code})`;
  }
  if (['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR'].includes(code) && tls.cert) {
    return `TLS: the broker refused the client certificate (${code}); it must be signed by a CA the broker trusts`;
  }
  if ((code === 'CONN_CLOSE' || code === 'ECONNRESET') && beforeOpen) {
    // A broker that refuses a client certificate may just close the socket after the handshake.
    const hint = tls.cert
      ? 'if it checks client certificates, yours may not be signed by a CA it trusts'
      : 'if it requires a client certificate, set the profile’s certificate and key files';
    return `${text} before the AMQP handshake, over TLS: ${hint}`;
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_OSSL_')) {
    return `TLS: ${text} (${code})`;
  }
  return text;
}
