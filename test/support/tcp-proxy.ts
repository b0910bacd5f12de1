/**
 * A TCP proxy on 127.0.0.1 in front of the real broker, so tests can cut live connections or
 * make the broker "disappear" and "come back" without touching the shared RabbitMQ.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';

export interface TcpProxy {
  port: number;
  /** Destroys every proxied connection (both sides), keeps listening. */
  cutAll(): void;
  /**
   * While on, bytes from the broker to clients are discarded (clients still reach the broker):
   * e.g. a publish arrives but its confirm never does. Usually followed by cutAll().
   */
  dropReplies(on: boolean): void;
  /** Stops accepting: new connections are refused. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort = 5672, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  let dropping = false;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        const gate = new Transform({ transform: (chunk: Buffer, _encoding, done) => done(null, dropping ? undefined : chunk) });
        client.pipe(upstream);
        upstream.pipe(gate).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });

  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const stopListening = () => new Promise<void>((resolve) => server.close(() => resolve()));

  await listen();
  return {
    get port() {
      return port;
    },
    cutAll,
    dropReplies(on: boolean) {
      dropping = on;
    },
    async pause() {
      const closed = stopListening();
      cutAll();
      await closed;
    },
    resume: listen,
    async close() {
      const closed = stopListening();
      cutAll();
      await closed;
    },
  };
}
