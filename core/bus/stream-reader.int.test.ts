/**
 * The lean stream reader against the real broker: what it reads (bodies, offsets, routing, headers
 * decoded on demand, bodies over several frames), where it starts, that its batched acks keep a
 * small prefetch window moving, how it fails (typed errors for every way a broker refuses or ends
 * it, a silent broker caught by heartbeats, bytes that are not AMQP), and TLS.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Connection } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, type TestVhost } from '../../test/support/vhost.js';
import { startTcpProxy } from '../../test/support/tcp-proxy.js';
import { createTestPki, startTlsTerminator } from '../../test/support/tls.js';
import { eventually } from '../../test/support/mesh.js';
import { connectOptionsFromUrl } from './broker-url.js';
import { buildTlsOptions } from './tls.js';
import { readStream, StreamReaderError, type StreamDelivery, type StreamReaderOptions } from './stream-reader.js';

let vhost: TestVhost;
let amqp: Connection;
const STREAM = 'reader-test';
const COUNT = 300;

const connectionTo = (port = 5672, overrides: Partial<StreamReaderOptions['connection']> = {}): StreamReaderOptions['connection'] => ({
  ...connectOptionsFromUrl(vhost.url, 'meshdeck stream-reader test', 60),
  port,
  ...overrides,
});

/** Reads until `count` deliveries arrived; resolves with them and stops the reader. */
async function readN(count: number, options: Partial<StreamReaderOptions> = {}): Promise<{ got: StreamDelivery[]; batches: Array<[number, number]> }> {
  const got: StreamDelivery[] = [];
  const batches: Array<[number, number]> = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const reader = await readStream({
    connection: connectionTo(),
    stream: STREAM,
    start: 'first',
    onMessage: (d) => {
      // The body may be a view of the socket's chunk: copied to keep it.
      if (got.length === count) return; // more may arrive before it stops
      got.push({ ...d, body: Buffer.from(d.body), headers: d.headers });
      if (got.length === count) resolve();
    },
    onBatch: (last, size) => batches.push([last, size]),
    ...options,
  });
  await done;
  await reader.stop();
  return { got, batches };
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-reader');
  amqp = new Connection({ url: vhost.url, connectionName: 'meshdeck stream-reader test publisher' });
  await amqp.onConnect(10_000);
  const ch = await amqp.acquire();
  await ch.queueDeclare({ queue: STREAM, durable: true, arguments: { 'x-queue-type': 'stream' } });
  await ch.close();
  const pub = amqp.createPublisher({ confirm: true });
  for (let i = 0; i < COUNT; i++) {
    // Every 100th message is 300 KB: over two frame-max (128 KB) frames.
    const body = i % 100 === 99 ? Buffer.alloc(300_000, i % 251) : Buffer.from(`message ${i}`);
    await pub.send({ exchange: '', routingKey: STREAM, contentType: i % 2 ? 'application/octet-stream' : 'text/plain', headers: { n: i, who: 'test', flag: i % 3 === 0 } }, body);
  }
  await pub.close();
}, 60_000);

afterAll(async () => {
  await amqp?.close();
  vhost?.remove();
});

describe('stream reader', () => {
  it('reads every message in order with its offset, routing, content type, headers and body (multi-frame bodies too)', async () => {
    const { got, batches } = await readN(COUNT);
    expect(got.map((d) => d.offset)).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    for (const [i, d] of got.entries()) {
      expect(d.routingKey).toBe(STREAM);
      expect(d.exchange).toBe('');
      expect(d.contentType).toBe(i % 2 ? 'application/octet-stream' : 'text/plain');
      expect(d.headers).toEqual({ n: i, who: 'test', flag: i % 3 === 0, 'x-stream-offset': BigInt(i) });
      if (i % 100 === 99) expect(d.body.equals(Buffer.alloc(300_000, i % 251))).toBe(true);
      else expect(d.body.toString()).toBe(`message ${i}`);
    }
    // Acknowledged in batches, the last one ending at the last offset.
    expect(batches.reduce((a, [, size]) => a + size, 0)).toBeGreaterThanOrEqual(COUNT);
    expect(batches.some(([last]) => last === COUNT - 1)).toBe(true);
  });

  it('starts at a stored offset, and at the tail with next', async () => {
    const { got } = await readN(COUNT - 250, { start: 250 });
    expect(got[0]!.offset).toBe(250);
    expect(got.at(-1)!.offset).toBe(COUNT - 1);
    // 'next': nothing old; a message published after it started is the first it sees.
    const seen: number[] = [];
    const reader = await readStream({ connection: connectionTo(), stream: STREAM, start: 'next', onMessage: (d) => seen.push(d.offset) });
    const pub = amqp.createPublisher();
    await pub.send({ exchange: '', routingKey: STREAM }, 'after');
    await eventually(() => seen.length > 0, 'the new message read');
    expect(seen).toEqual([COUNT]);
    await pub.close();
    await reader.stop();
  });

  it('keeps a prefetch window of 7 moving with batched acks (a window never acknowledged would stop at 7)', async () => {
    const { got, batches } = await readN(COUNT, { prefetch: 7, batchSize: 3 });
    expect(got).toHaveLength(COUNT);
    expect(batches.every(([, size]) => size <= 3)).toBe(true);
  });

  it('holds its acks while mayAck says no (the broker stops at the prefetch window), and goes on after resume()', async () => {
    let allow = false;
    let got = 0;
    let acked = 0;
    let maxUnacked = 0;
    const batches: Array<[number, number]> = [];
    const reader = await readStream({
      connection: connectionTo(),
      stream: STREAM,
      start: 'first',
      prefetch: 7,
      batchSize: 3,
      onMessage: () => {
        got += 1;
        maxUnacked = Math.max(maxUnacked, got - acked);
      },
      onBatch: (last, size) => {
        acked += size;
        batches.push([last, size]);
      },
      mayAck: () => allow,
    });
    await eventually(() => got >= 7, 'the prefetch window delivered');
    // Past its batch size and its batch time, and still nothing acknowledged (nor handed on).
    await eventually(() => batches.length === 0 && got === 7, 'the window held');
    allow = true;
    reader.resume();
    await eventually(() => got >= COUNT, 'the rest of the stream after resume()');
    await reader.stop();
    expect(batches[0]).toEqual([6, 7]); // the held window, acknowledged at once
    expect(acked).toBe(got); // everything read was acknowledged (the stream holds one more message since the test above)
    expect(maxUnacked).toBeLessThanOrEqual(7);
  });

  it('goes on after a handler throws, and says so', async () => {
    const errors: number[] = [];
    let n = 0;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const reader = await readStream({
      connection: connectionTo(),
      stream: STREAM,
      start: 'first',
      onMessage: (d) => {
        if (++n === 20) resolve();
        if (d.offset % 5 === 0) throw new Error('bad one');
      },
      onHandlerError: (_err, offset) => {
        if (offset < 20) errors.push(offset);
      },
    });
    await done;
    await reader.stop();
    expect(errors).toEqual([0, 5, 10, 15]);
  });

  it('refuses with typed errors: no such stream (404), wrong password, no such vhost', async () => {
    const fail = (options: Partial<StreamReaderOptions>) => readStream({ connection: connectionTo(), stream: STREAM, start: 'first', onMessage: () => undefined, ...options }).then(
      () => {
        throw new Error('opened');
      },
      (err: unknown) => err as StreamReaderError,
    );
    const missing = await fail({ stream: 'no-such-stream' });
    expect(missing).toBeInstanceOf(StreamReaderError);
    expect(missing).toMatchObject({ code: 'channel-closed', replyCode: 404 });
    expect(missing.message).toContain('no-such-stream');
    const password = await fail({ connection: connectionTo(5672, { password: 'wrong' }) });
    expect(password).toMatchObject({ code: 'handshake', replyCode: 403 });
    expect(password.message).toMatch(/ACCESS_REFUSED/);
    const noVhost = await fail({ connection: connectionTo(5672, { vhost: 'meshdeck-no-such-vhost' }) });
    expect(noVhost).toMatchObject({ code: 'handshake', replyCode: 530 });
  });

  it('ends with a typed error when the connection is cut, when the broker falls silent (heartbeat), and not after stop()', async () => {
    const proxy = await startTcpProxy();
    try {
      const ends: StreamReaderError[] = [];
      await readStream({ connection: connectionTo(proxy.port), stream: STREAM, start: 'first', onMessage: () => undefined, onEnd: (e) => ends.push(e) });
      proxy.cutAll();
      await eventually(() => ends.length === 1, 'the cut reported');
      expect(ends[0]).toMatchObject({ code: 'socket' });

      // Heartbeat 1 s: with every byte from the broker dropped, it ends after 2 s of silence.
      const silent: StreamReaderError[] = [];
      const started = Date.now();
      await readStream({ connection: connectionTo(proxy.port, { heartbeat: 1 }), stream: STREAM, start: 'next', onMessage: () => undefined, onEnd: (e) => silent.push(e) });
      proxy.dropReplies(true);
      await eventually(() => silent.length === 1, 'the silence reported', 10_000);
      expect(silent[0]).toMatchObject({ code: 'heartbeat' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      proxy.dropReplies(false);
      proxy.cutAll();

      const stopped: StreamReaderError[] = [];
      const reader = await readStream({ connection: connectionTo(proxy.port), stream: STREAM, start: 'next', onMessage: () => undefined, onEnd: (e) => stopped.push(e) });
      await reader.stop();
      proxy.cutAll();
      await new Promise((r) => setImmediate(r));
      expect(stopped).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('ends with a typed error when the stream it reads is deleted', async () => {
    const ch = await amqp.acquire();
    await ch.queueDeclare({ queue: 'reader-doomed', durable: true, arguments: { 'x-queue-type': 'stream' } });
    const ends: StreamReaderError[] = [];
    await readStream({ connection: connectionTo(), stream: 'reader-doomed', start: 'first', onMessage: () => undefined, onEnd: (e) => ends.push(e) });
    await ch.queueDelete({ queue: 'reader-doomed' });
    await ch.close();
    await eventually(() => ends.length === 1, 'the deletion reported');
    expect(['cancelled', 'channel-closed']).toContain(ends[0]!.code);
  });

  it('refuses bytes that are not AMQP, and a server that never answers, with typed errors', async () => {
    const servers: Server[] = [];
    const serve = async (onConnect: (socket: Socket) => void) => {
      const server = createServer(onConnect);
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return (server.address() as AddressInfo).port;
    };
    try {
      const junk = await serve((s) => s.write(Buffer.from([1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 10, 0x00])));
      await expect(readStream({ connection: connectionTo(junk), stream: STREAM, start: 'first', onMessage: () => undefined })).rejects.toMatchObject({ code: 'protocol' });
      // A frame claiming 1 GB: refused at once, not waited for.
      const huge = await serve((s) => s.write(Buffer.from([1, 0, 0, 0x40, 0, 0, 0])));
      await expect(readStream({ connection: connectionTo(huge), stream: STREAM, start: 'first', onMessage: () => undefined, timeoutMs: 5000 })).rejects.toMatchObject({ code: 'protocol', message: expect.stringContaining('frame-max') });
      const mute = await serve(() => undefined);
      await expect(readStream({ connection: connectionTo(mute), stream: STREAM, start: 'first', onMessage: () => undefined, timeoutMs: 300 })).rejects.toMatchObject({ code: 'timeout' });
    } finally {
      for (const s of servers) s.close();
    }
  });

  it('reads over TLS, the server verified against its CA', async () => {
    const pki = createTestPki();
    const tls = await startTlsTerminator(pki);
    try {
      const got: number[] = [];
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      const reader = await readStream({
        connection: connectionTo(tls.port, { tls: buildTlsOptions({ caFile: pki.caFile }, '127.0.0.1') }),
        stream: STREAM,
        start: 'first',
        onMessage: (d) => {
          if (got.length < 10) got.push(d.offset);
          if (got.length === 10) resolve();
        },
      });
      await done;
      await reader.stop();
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      // Not verified against a CA it does not know: refused.
      await expect(readStream({ connection: connectionTo(tls.port, { tls: buildTlsOptions({}, '127.0.0.1') }), stream: STREAM, start: 'first', onMessage: () => undefined })).rejects.toMatchObject({ code: 'socket' });
    } finally {
      await tls.close();
      pki.remove();
    }
  });
});
