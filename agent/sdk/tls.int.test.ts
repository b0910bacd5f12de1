/**
 * Agents (SDK, and so the sidecar and the gateway, which take the same --broker URL) over
 * amqps://: TLS options ride in the URL's query with RabbitMQ's URI parameter names. Same
 * throwaway PKI and TLS terminator as core/bus/tls.int.test.ts, on a vhost of its own.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionState } from '../../core/api/contract.js';
import { createLogger } from '../../core/lib/log.js';
import { createTestPki, startTlsTerminator, type TestPki, type TlsTerminator } from '../../test/support/tls.js';
import { createTestVhost, type TestVhost } from '../../test/support/vhost.js';
import { waitForEvent } from '../../test/support/wait.js';
import { MeshAgent } from './mesh-agent.js';

let pki: TestPki;
let server: TlsTerminator;
let mutual: TlsTerminator;
let vhost: TestVhost;
const agents: MeshAgent[] = [];
const logLines: string[] = [];
const logger = createLogger({ level: 'debug', sink: (line) => logLines.push(line) });

beforeAll(async () => {
  pki = createTestPki();
  server = await startTlsTerminator(pki);
  mutual = await startTlsTerminator(pki, { requireClientCert: true });
  vhost = createTestVhost('meshdeck-agent-tls');
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});

afterAll(async () => {
  await server?.close();
  await mutual?.close();
  vhost?.remove();
  pki?.remove();
});

function url(port: number, query: Record<string, string> = {}, host = 'localhost'): string {
  const q = new URLSearchParams(query).toString();
  return `amqps://guest:guest@${host}:${port}/${encodeURIComponent(vhost.name)}${q ? `?${q}` : ''}`;
}

function agent(broker: string): MeshAgent {
  const a = new MeshAgent({ broker, service: `tls-${randomUUID().slice(0, 6)}`, zone: 'zone-a', address: '127.0.0.1:1', agent: 'sidecar', logger });
  agents.push(a);
  return a;
}

/** Starts the agent; resolves with its registered session, or its connection's failure. */
async function settle(a: MeshAgent): Promise<ConnectionState> {
  const session = new Promise<void>((resolve) => a.once('session', () => resolve()));
  const failed = waitForEvent<ConnectionState>(a.connection, 'state', (s) => s.status === 'failed', 15_000, 'failed');
  failed.catch(() => undefined); // the race is decided by the session when it connects
  a.start();
  return Promise.race([session.then(() => a.connection.state), failed]);
}

describe('agent over amqps', () => {
  it('verifies the broker against cacertfile= and registers', async () => {
    const state = await settle(agent(url(server.port, { cacertfile: pki.caFile })));
    expect(state).toMatchObject({ status: 'connected', warning: null });
  });

  it('verifies by default: without cacertfile= the test CA is unknown, and it fails once, clearly', async () => {
    const a = agent(url(server.port));
    const seen: string[] = [];
    a.connection.on('state', (s: ConnectionState) => seen.push(s.status));
    const state = await settle(a);
    expect(state.status).toBe('failed');
    expect(state.error).toMatch(/certificate could not be verified/);
    expect(seen).not.toContain('reconnecting');
  });

  it('checks the server name (server_name_indication=)', async () => {
    const state = await settle(agent(url(server.port, { cacertfile: pki.caFile, server_name_indication: 'broker.example.com' })));
    expect(state).toMatchObject({ status: 'failed', errorCode: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('a missing cacertfile is a clear failure', async () => {
    const state = await settle(agent(url(server.port, { cacertfile: '/nonexistent/ca.pem' })));
    expect(state).toMatchObject({ status: 'failed', errorCode: 'INVALID_INPUT' });
    expect(state.error).toContain('Cannot read the TLS CA file /nonexistent/ca.pem');
  });

  it('mutual TLS with certfile= and keyfile=; without them it fails clearly', async () => {
    const ok = await settle(agent(url(mutual.port, { cacertfile: pki.caFile, certfile: pki.clientCertFile, keyfile: pki.clientKeyFile })));
    expect(ok.status).toBe('connected');
    const refused = await settle(agent(url(mutual.port, { cacertfile: pki.caFile })));
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/requires a client certificate/);
  });

  it('verify=verify_none connects, and says so in its state and log', async () => {
    logLines.length = 0;
    const state = await settle(agent(url(server.port, { verify: 'verify_none' })));
    expect(state.status).toBe('connected');
    expect(state.warning).toMatch(/verification is off/);
    expect(logLines.some((l) => /"level":"warn"/.test(l) && /verification is off/.test(l))).toBe(true);
  });

  it('refuses TLS options on an amqp:// URL instead of silently connecting in plain text', async () => {
    const state = await settle(agent(`amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(vhost.name)}?cacertfile=${pki.caFile}`));
    expect(state).toMatchObject({ status: 'failed', errorCode: 'INVALID_INPUT' });
    expect(state.error).toContain('use amqps://');
  });
});
