/**
 * Pure parts of the supervised connection only: retry timing and error classification.
 * Sockets and brokers are the integration suite's business (*.int.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { BrokerError, MeshdeckError, SecretsUnavailableError, ValidationError } from '../lib/errors.js';
import { DEFAULT_BACKOFF, backoffDelay, errorCodeOf, isFatalConnectError, type BackoffPolicy } from './connection.js';
import { mulberry32 } from '../balancer/random.js';

const NO_JITTER: BackoffPolicy = { baseMs: 500, maxMs: 30_000, jitter: 0 };
const middle = () => 0.5; // random() * 2 - 1 === 0: no spread
const lowest = () => 0;
const highest = () => 1;

/** The project's seeded PRNG (mulberry32), so runs are repeatable. */
const seeded = mulberry32;

describe('DEFAULT_BACKOFF', () => {
  it('starts at 500 ms, caps at 30 s, spreads ±20 %', () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 500, maxMs: 30_000, jitter: 0.2 });
  });
});

describe('backoffDelay', () => {
  it('doubles from the base delay on each attempt', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, NO_JITTER))).toEqual([500, 1000, 2000, 4000, 8000, 16_000]);
  });

  it('is capped at maxMs, also for very large attempt numbers', () => {
    expect(backoffDelay(7, NO_JITTER)).toBe(30_000); // 32 000 without the cap
    expect(backoffDelay(50, NO_JITTER)).toBe(30_000);
    expect(backoffDelay(5000, NO_JITTER)).toBe(30_000); // 2 ** 4999 is Infinity
  });

  it('treats attempt 0 or below like the first attempt', () => {
    expect(backoffDelay(0, NO_JITTER)).toBe(500);
    expect(backoffDelay(-3, NO_JITTER)).toBe(500);
  });

  it('adds no spread when random() is in the middle', () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, middle)).toBe(500);
    expect(backoffDelay(3, DEFAULT_BACKOFF, middle)).toBe(2000);
  });

  it('spreads by exactly ±jitter at the ends of random()', () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, lowest)).toBe(400);
    expect(backoffDelay(1, DEFAULT_BACKOFF, highest)).toBe(600);
    expect(backoffDelay(4, DEFAULT_BACKOFF, lowest)).toBe(3200);
    expect(backoffDelay(4, DEFAULT_BACKOFF, highest)).toBe(4800);
  });

  it('never goes above maxMs even with upward jitter at the cap', () => {
    expect(backoffDelay(20, DEFAULT_BACKOFF, highest)).toBe(30_000);
    expect(backoffDelay(20, DEFAULT_BACKOFF, lowest)).toBe(24_000);
  });

  it('never goes below zero, even with jitter above 100 %', () => {
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1000, jitter: 3 }, lowest)).toBe(0);
  });

  it('returns whole milliseconds', () => {
    expect(backoffDelay(1, { baseMs: 333, maxMs: 10_000, jitter: 0.1 }, () => 0.123)).toBe(Math.round(333 + 333 * 0.1 * (0.123 * 2 - 1)));
  });

  it('stays within [exp·(1−j), min(max, exp·(1+j))] for many random values', () => {
    const random = seeded(42);
    const seen = new Set<number>();
    for (let attempt = 1; attempt <= 10; attempt++) {
      const exp = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.baseMs * 2 ** (attempt - 1));
      const low = Math.round(exp * (1 - DEFAULT_BACKOFF.jitter));
      const high = Math.min(DEFAULT_BACKOFF.maxMs, Math.round(exp * (1 + DEFAULT_BACKOFF.jitter)));
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt, DEFAULT_BACKOFF, random);
        expect(delay).toBeGreaterThanOrEqual(low);
        expect(delay).toBeLessThanOrEqual(high);
        expect(Number.isInteger(delay)).toBe(true);
        if (attempt === 1) seen.add(delay);
      }
    }
    // The spread is real: attempt 1 produced many distinct delays, not one.
    expect(seen.size).toBeGreaterThan(50);
  });
});

describe('isFatalConnectError', () => {
  it('treats refusals the same settings will meet again as fatal', () => {
    for (const code of [
      'ACCESS_REFUSED',
      'NOT_ALLOWED',
      'CERT_HAS_EXPIRED',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'INVALID_INPUT',
      'SECRETS_UNAVAILABLE',
    ]) {
      expect(isFatalConnectError(code), code).toBe(true);
    }
  });

  it('treats any ERR_SSL_* and ERR_TLS_* code as fatal', () => {
    expect(isFatalConnectError('ERR_SSL_WRONG_VERSION_NUMBER')).toBe(true);
    expect(isFatalConnectError('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')).toBe(true);
    expect(isFatalConnectError('ERR_TLS_HANDSHAKE_TIMEOUT')).toBe(true);
  });

  it('retries network trouble and unknown codes', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'CONNECTION_FORCED', 'TIMEOUT', 'BROKER_ERROR', 'access_refused', 'ERR_SOCKET_CLOSED']) {
      expect(isFatalConnectError(code), code).toBe(false);
    }
  });

  it('retries when there is no code', () => {
    expect(isFatalConnectError(null)).toBe(false);
    expect(isFatalConnectError('')).toBe(false);
  });
});

describe('errorCodeOf', () => {
  it('reads a string code from errors and error-like objects', () => {
    expect(errorCodeOf(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(errorCodeOf({ code: 'ACCESS_REFUSED', message: 'x' })).toBe('ACCESS_REFUSED');
    expect(errorCodeOf(new ValidationError('bad', []))).toBe('INVALID_INPUT');
    expect(errorCodeOf(new SecretsUnavailableError('locked'))).toBe('SECRETS_UNAVAILABLE');
    expect(errorCodeOf(new BrokerError('x', {}))).toBe('BROKER_ERROR');
  });

  it('returns null for anything without a string code', () => {
    expect(errorCodeOf(new Error('no code'))).toBeNull();
    expect(errorCodeOf({ code: 320 })).toBeNull();
    expect(errorCodeOf({ code: null })).toBeNull();
    expect(errorCodeOf(null)).toBeNull();
    expect(errorCodeOf(undefined)).toBeNull();
    expect(errorCodeOf('ECONNREFUSED')).toBeNull();
    expect(errorCodeOf(42)).toBeNull();
  });

  it('feeds isFatalConnectError so that validation and secret failures stop the retry loop', () => {
    expect(isFatalConnectError(errorCodeOf(new ValidationError('bad ca file', [])))).toBe(true);
    expect(isFatalConnectError(errorCodeOf(new MeshdeckError('NOT_FOUND', 'gone')))).toBe(false);
    expect(isFatalConnectError(errorCodeOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })))).toBe(false);
  });
});
