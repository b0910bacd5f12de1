/**
 * amqps:// with the real profile → connection path, against a TLS terminator in front of the
 * shared broker (plain AMQP on 127.0.0.1:5672) and a throwaway PKI made with `openssl`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProfileInput, type ConnectionState } from '../api/contract.js';
import { createLogger, type Logger } from '../lib/log.js';
import { memorySecretStore } from '../secrets/secret-store.js';
import { openDatabase, type Db } from '../store/database.js';
import { createTestPki, startTlsTerminator, type TestPki, type TlsTerminator } from '../../test/support/tls.js';
import { waitForEvent } from '../../test/support/wait.js';
import { ConnectionManager } from './connection-manager.js';
import { probeConnection, type BackoffPolicy } from './connection.js';
import { ProfileService } from './profiles.js';

const FAST: BackoffPolicy = { baseMs: 20, maxMs: 200, jitter: 0 };

let pki: TestPki;
let server: TlsTerminator;
let mutual: TlsTerminator;
let dir: string;
let db: Db;
let logLines: string[];
let logger: Logger;
let profiles: ProfileService;
let manager: ConnectionManager;

beforeAll(async () => {
  pki = createTestPki();
  server = await startTlsTerminator(pki);
  mutual = await startTlsTerminator(pki, { requireClientCert: true });
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-tls-'));
  logLines = [];
  logger = createLogger({ level: 'debug', sink: (line) => logLines.push(line) });
  db = openDatabase({ path: join(dir, 'meshdeck.db'), logger });
  profiles = new ProfileService(db, memorySecretStore('test'), logger);
  manager = new ConnectionManager(profiles, logger, FAST);
});

afterEach(async () => {
  await manager.closeAll();
});

afterAll(async () => {
  await manager.closeAll();
  await server.close();
  await mutual.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  pki.remove();
});

let n = 0;
function profile(port: number, tls: ProfileInput['tls'], host = '127.0.0.1'): string {
  n += 1;
  return profiles.create(ProfileInput.parse({ name: `tls-${n}`, url: `amqps://guest:guest@${host}:${port}`, tls })).id;
}

/** Connects a profile and waits until it is connected or gives up (failed). */
async function settle(id: string): Promise<{ state: ConnectionState; seen: string[] }> {
  const seen: string[] = [];
  const connection = (() => {
    manager.connect(id);
    return manager.get(id)!;
  })();
  connection.on('state', (s: ConnectionState) => {
    seen.push(s.status);
    if (process.env.DEBUG_TLS) console.log(s);
  });
  seen.push(connection.state.status);
  const done = (s: ConnectionState) => s.status === 'connected' || s.status === 'failed';
  const state = done(connection.state) ? connection.state : await waitForEvent<ConnectionState>(connection, 'state', done, 15_000, 'connected or failed');
  return { state, seen };
}

describe('amqps with server verification (on by default)', () => {
  it('connects with the right CA and can publish and consume', async () => {
    const id = profile(server.port, { caFile: pki.caFile });
    expect(profiles.get(id).tls).toMatchObject({ enabled: true, verify: true });
    // No SNI for an IP address (RFC 6066); Node checks the address against the certificate's IP SANs.
    expect(profiles.connectOptions(id).tls).toMatchObject({ rejectUnauthorized: true });
    const { state } = await settle(id);
    expect(state).toMatchObject({ status: 'connected', error: null });
    expect(state.warning ?? null).toBeNull();

    const amqp = manager.get(id)!.amqp!;
    const queue = `meshdeck-tls-test-${process.pid}`;
    let resolveBody: (body: string) => void = () => undefined;
    const received = new Promise<string>((resolve) => (resolveBody = resolve));
    const consumer = amqp.createConsumer({ queue, queueOptions: { exclusive: true }, noAck: true }, (message) => resolveBody(String(message.body)));
    await new Promise<void>((resolve) => consumer.once('ready', () => resolve()));
    const publisher = amqp.createPublisher({ confirm: true });
    await publisher.send({ routingKey: queue }, 'over tls');
    expect(await received).toBe('over tls');
    await publisher.close();
    await consumer.close();
  });

  it('connects by host name too (servername defaults to the URL host)', async () => {
    const id = profile(server.port, { caFile: pki.caFile }, 'localhost');
    expect(profiles.connectOptions(id).tls).toMatchObject({ servername: 'localhost' });
    expect((await settle(id)).state.status).toBe('connected');
  });

  it('fails, once and clearly, without a CA file (system roots do not know the test CA)', async () => {
    const { state, seen } = await settle(profile(server.port, {}));
    expect(state.status).toBe('failed');
    expect(state.errorCode).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    expect(state.error).toMatch(/certificate.*could not be verified/i);
    expect(state.nextRetryAt).toBeNull();
    expect(seen).not.toContain('reconnecting');
  });

  it('fails with a CA that did not sign the server certificate', async () => {
    const { state, seen } = await settle(profile(server.port, { caFile: pki.otherCaFile }));
    expect(state.status).toBe('failed');
    expect(state.errorCode).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    expect(state.error).toMatch(/could not be verified/);
    expect(state.error).toContain('CA file');
    expect(seen).not.toContain('reconnecting');
  });

  it('fails when the certificate is not for the server name', async () => {
    const { state, seen } = await settle(profile(server.port, { caFile: pki.caFile, servername: 'broker.example.com' }));
    expect(state.status).toBe('failed');
    expect(state.errorCode).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(state.error).toContain('broker.example.com');
    expect(seen).not.toContain('reconnecting');
  });

  it('a missing or unreadable CA file is a clear failure, not a crash or a retry loop', async () => {
    const { state, seen } = await settle(profile(server.port, { caFile: join(dir, 'no-such-ca.pem') }));
    expect(state).toMatchObject({ status: 'failed', errorCode: 'INVALID_INPUT' });
    expect(state.error).toMatch(/Cannot read the TLS CA file .*no-such-ca\.pem/);
    expect(seen).not.toContain('reconnecting');
    const { state: dirState } = await settle(profile(server.port, { caFile: dir }));
    expect(dirState).toMatchObject({ status: 'failed', errorCode: 'INVALID_INPUT' });
    expect(dirState.error).toMatch(/EISDIR/);
  });

  it('a file that is not PEM is a clear failure', async () => {
    const { state } = await settle(profile(server.port, { caFile: join(pki.dir, 'server.ext') }));
    expect(state.status).toBe('failed');
    expect(state.error).toMatch(/CA file/);
  });

  it('"Test" on the form (probe) reports the same verification failure', async () => {
    const opts = profiles.connectOptionsForInput(ProfileInput.parse({ name: 'x', url: `amqps://guest:guest@127.0.0.1:${server.port}`, tls: { caFile: pki.otherCaFile } }));
    const result = await probeConnection(opts, 5000);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/could not be verified/);
  });
});

describe('mutual TLS', () => {
  it('connects with the client certificate and key', async () => {
    const { state } = await settle(profile(mutual.port, { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile }));
    expect(state).toMatchObject({ status: 'connected', error: null });
  });

  it('fails clearly without a client certificate', async () => {
    const { state, seen } = await settle(profile(mutual.port, { caFile: pki.caFile }));
    expect(state.status).toBe('failed');
    expect(state.error).toMatch(/client certificate/i);
    expect(seen).not.toContain('reconnecting');
  });

  it('says why with a client certificate from another CA (the server only closes the socket)', async () => {
    // Node's TLS server checks a client certificate after the handshake and closes without an
    // alert, so the client cannot tell this from a broker going away: it retries, visibly, saying
    // what to check. (A RabbitMQ listener sends an alert, which fails at once like the cases above.)
    const id = profile(mutual.port, { caFile: pki.caFile, certFile: pki.strangerCertFile, keyFile: pki.strangerKeyFile });
    manager.connect(id);
    const connection = manager.get(id)!;
    const state = await waitForEvent<ConnectionState>(connection, 'state', (s) => s.status === 'reconnecting' && s.error !== null, 10_000, 'reconnecting');
    expect(state.error).toMatch(/before the AMQP handshake, over TLS: .*client certificates.*not be signed by a CA it trusts/);
    expect(mutual.handshakeErrors.join(' ')).toMatch(/certificate/i);
  });
});

describe('verification off', () => {
  it('is only the explicit verify: false, and then shows a warning in the profile, the state and the log', async () => {
    const id = profile(server.port, { verify: false });
    const p = profiles.get(id);
    expect(p.tls.verify).toBe(false);
    expect(p.warnings?.join(' ')).toMatch(/verification is off/i);
    expect(profiles.connectOptions(id).tls).toMatchObject({ rejectUnauthorized: false });
    logLines.length = 0;
    const { state } = await settle(id);
    expect(state.status).toBe('connected');
    expect(state.warning).toMatch(/verification is off/i);
    expect(logLines.some((l) => /"level":"warn"/.test(l) && /verification is off/i.test(l))).toBe(true);
  });

  it('a saved verifying profile has no warning', () => {
    const p = profiles.get(profile(server.port, { caFile: pki.caFile }));
    expect(p.warnings ?? []).toEqual([]);
  });
});
