/**
 * TLS for integration tests: a throwaway PKI made with the `openssl` CLI (EC keys, so it takes
 * milliseconds), and a TLS terminator on 127.0.0.1 that pipes each socket to the plain AMQP
 * broker at 127.0.0.1:5672 — an amqps:// endpoint without reconfiguring the shared broker.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';

export interface TestPki {
  dir: string;
  /** The CA that signed the server and client certificates. */
  caFile: string;
  /** A CA that signed nothing the terminator presents. */
  otherCaFile: string;
  /** Server certificate for localhost and 127.0.0.1 (SAN), signed by caFile. */
  serverCertFile: string;
  serverKeyFile: string;
  /** Client certificate signed by caFile. */
  clientCertFile: string;
  clientKeyFile: string;
  /** Client certificate signed by otherCaFile. */
  strangerCertFile: string;
  strangerKeyFile: string;
  remove(): void;
}

const openssl = (dir: string, ...args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=Meshdeck test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
}

function makeLeaf(dir: string, name: string, ca: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'meshdeck-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'server', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  makeLeaf(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  makeLeaf(dir, 'stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const f = (name: string) => join(dir, name);
  return {
    dir,
    caFile: f('ca.crt'),
    otherCaFile: f('other-ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    strangerCertFile: f('stranger.crt'),
    strangerKeyFile: f('stranger.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsTerminator {
  port: number;
  /** Client connections whose handshake failed, with the reason (for assertions). */
  handshakeErrors: string[];
  close(): Promise<void>;
}

/**
 * TLS on 127.0.0.1:<free port>, plain AMQP behind it. With `requireClientCert` it asks for a
 * client certificate signed by the PKI's CA and refuses connections without one.
 */
export async function startTlsTerminator(pki: TestPki, options: { requireClientCert?: boolean; upstreamPort?: number } = {}): Promise<TlsTerminator> {
  const sockets = new Set<Socket>();
  const handshakeErrors: string[] = [];
  const server: Server = createServer(
    {
      key: readFileSync(pki.serverKeyFile),
      cert: readFileSync(pki.serverCertFile),
      ca: readFileSync(pki.caFile),
      requestCert: options.requireClientCert ?? false,
      rejectUnauthorized: options.requireClientCert ?? false,
    },
    (client: TLSSocket) => {
      const upstream = connect(options.upstreamPort ?? 5672, '127.0.0.1');
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const done = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
    },
  );
  server.on('tlsClientError', (err) => handshakeErrors.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    handshakeErrors,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
