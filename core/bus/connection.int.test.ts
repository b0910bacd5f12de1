/**
 * BrokerConnection against the real RabbitMQ at 127.0.0.1:5672, with a TCP proxy in between
 * where a test needs to cut connections or make the broker unreachable.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionState } from '../api/contract.js';
import { silentLogger } from '../lib/log.js';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { waitForEvent } from '../../test/support/wait.js';
import { Connection } from 'rabbitmq-client';
import { eventually } from '../../test/support/mesh.js';
import { BrokerConnection, probeConnection, type BackoffPolicy } from './connection.js';
import type { ConnectOptions } from './profiles.js';

const FAST: BackoffPolicy = { baseMs: 20, maxMs: 200, jitter: 0 };

function options(patch: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    hostname: '127.0.0.1',
    port: 5672,
    vhost: '/',
    username: 'guest',
    password: 'guest',
    heartbeat: 10,
    tls: false,
    connectionName: 'meshdeck-test',
    ...patch,
  };
}

function until(connection: BrokerConnection, predicate: (s: ConnectionState) => boolean, what: string): Promise<ConnectionState> {
  if (predicate(connection.state)) return Promise.resolve(connection.state);
  return waitForEvent<ConnectionState>(connection, 'state', predicate, 10_000, what);
}

const open: BrokerConnection[] = [];
const proxies: TcpProxy[] = [];
function make(opts: ConnectOptions, sessionCleanupWaitMs?: number): BrokerConnection {
  const connection = new BrokerConnection({ profileId: 'p1', resolveOptions: () => opts, logger: silentLogger, backoff: FAST, connectTimeoutMs: 3000, ...(sessionCleanupWaitMs ? { sessionCleanupWaitMs } : {}) });
  open.push(connection);
  return connection;
}

/** A connection through a TCP proxy of its own (cut, paused and resumed by the test). */
async function proxied(sessionCleanupWaitMs?: number): Promise<{ proxy: TcpProxy; connection: BrokerConnection }> {
  const proxy = await startTcpProxy();
  proxies.push(proxy);
  return { proxy, connection: make(options({ port: proxy.port }), sessionCleanupWaitMs) };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.stop()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

describe('BrokerConnection on the real broker', () => {
  it('connects and reports connected with no error', async () => {
    const connection = make(options());
    connection.start();
    expect(connection.state.status).toBe('connecting');
    const state = await until(connection, (s) => s.status === 'connected', 'connected');
    expect(state).toMatchObject({ attempt: 0, error: null, errorCode: null, nextRetryAt: null });
    expect(state.connectedAt).toBeGreaterThan(0);
    expect(connection.amqp?.ready).toBe(true);
  });

  it('stops on a wrong password with the broker\u2019s own refusal and does not retry', async () => {
    const connection = make(options({ password: 'definitely-wrong' }));
    const seen: string[] = [];
    connection.on('state', (s: ConnectionState) => seen.push(s.status));
    connection.start();
    const state = await until(connection, (s) => s.status === 'failed', 'failed');
    expect(state.errorCode).toBe('ACCESS_REFUSED');
    expect(state.error).toMatch(/^ACCESS_REFUSED - Login was refused/);
    expect(state.nextRetryAt).toBeNull();
    expect(seen).not.toContain('reconnecting');
  });

  it('stops on an unknown vhost with NOT_ALLOWED', async () => {
    const connection = make(options({ vhost: 'meshdeck-no-such-vhost' }));
    connection.start();
    const state = await until(connection, (s) => s.status === 'failed', 'failed');
    expect(state.errorCode).toBe('NOT_ALLOWED');
    expect(state.error).toContain('meshdeck-no-such-vhost');
  });

  it('retries an unreachable broker with a growing attempt count, then connects when it appears', async () => {
    const proxy = await startTcpProxy();
    proxies.push(proxy);
    await proxy.pause();
    const connection = make(options({ port: proxy.port }));
    connection.start();
    const third = await until(connection, (s) => s.status === 'reconnecting' && s.attempt >= 3 && s.nextRetryAt !== null, 'attempt 3 failed');
    expect(third.errorCode).toBe('ECONNREFUSED');
    expect(third.nextRetryAt).not.toBeNull();
    await proxy.resume();
    const up = await until(connection, (s) => s.status === 'connected', 'connected after broker came back');
    expect(up.attempt).toBe(0);
    expect(up.error).toBeNull();
  });

  it('reconnects on its own after the connection is cut, running session handlers again', async () => {
    const { proxy, connection } = await proxied();
    let sessions = 0;
    let cleanups = 0;
    connection.onSession(() => {
      sessions += 1;
      return () => {
        cleanups += 1;
      };
    });
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected');
    expect(sessions).toBe(1);

    const lost = until(connection, (s) => s.status === 'reconnecting', 'reconnecting');
    proxy.cutAll();
    const down = await lost;
    expect(down.attempt).toBe(1);
    expect(down.error).toBeTruthy();
    await until(connection, (s) => s.status === 'connected', 'connected again');
    expect(sessions).toBe(2);
    expect(cleanups).toBe(1);
  });

  it('starts the next session only once the previous one has cleaned up, however long that takes', async () => {
    // A session's cleanup that takes longer than the reconnection (a core flushing its history,
    // closing consumers) must not run over the next session's setup: it would stop the new
    // session's timers and clear its publisher.
    const { proxy, connection } = await proxied();
    const log: string[] = [];
    let finishCleanup: () => void = () => undefined;
    const cleanupHeld = new Promise<void>((resolve) => (finishCleanup = resolve));
    connection.onSession(() => {
      const n = log.filter((e) => e.startsWith('start')).length + 1;
      log.push(`start ${n}`);
      return async () => {
        log.push(`cleanup ${n} begins`);
        if (n === 1) await cleanupHeld;
        log.push(`cleanup ${n} done`);
      };
    });
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected');
    proxy.cutAll();
    // Reconnected (FAST backoff: tens of ms) while the first session is still cleaning up.
    await until(connection, (s) => s.status === 'connected' && log.includes('cleanup 1 begins'), 'connected again');
    // Sessions used to start in the same turn as the 'connected' state: the second would be here.
    expect(log).toEqual(['start 1', 'cleanup 1 begins']);
    // A handler registered meanwhile starts with the others, once, not before the cleanup.
    connection.onSession(() => {
      log.push('late handler');
    });
    expect(log).toEqual(['start 1', 'cleanup 1 begins']);
    finishCleanup();
    await eventually(() => log.includes('start 2'), 'second session started', 5000, 10);
    expect(log).toEqual(['start 1', 'cleanup 1 begins', 'cleanup 1 done', 'start 2', 'late handler']);
  });

  it('starts the next session anyway when the previous cleanup never ends, after sessionCleanupWaitMs', async () => {
    const { proxy, connection } = await proxied(300);
    const log: string[] = [];
    connection.onSession(() => {
      const n = log.filter((e) => e.startsWith('start')).length + 1;
      log.push(`start ${n}`);
      // The first session's cleanup hangs for good (until the test's end).
      return n === 1 ? () => new Promise<void>(() => log.push('cleanup 1 hangs')) : undefined;
    });
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected');
    proxy.cutAll();
    await until(connection, (s) => s.status === 'connected' && log.includes('cleanup 1 hangs'), 'connected again');
    expect(log).toEqual(['start 1', 'cleanup 1 hangs']);
    await eventually(() => log.includes('start 2'), 'second session started after the bound', 5000, 10);
  });

  it('closes a connection that failed before its sessions clean up: what a cleanup asks of it fails at once, and the next session starts', async () => {
    // A session's cleanup closes its consumers and publishers: on a failed connection not yet
    // closed those waited for it to come back, which it never does (this class owns retries), so
    // the next connection's sessions waited for the cleanup bound (here 20 s).
    const { proxy, connection } = await proxied(20_000);
    const log: string[] = [];
    connection.onSession((amqp) => {
      const n = log.filter((e) => e.startsWith('start')).length + 1;
      log.push(`start ${n}`);
      return async () => {
        // A channel of its own connection, as closing a consumer or publisher asks for.
        await amqp.acquire().then(
          (ch) => ch.close(),
          () => log.push(`cleanup ${n}: the connection is closed`),
        );
        log.push(`cleanup ${n} done`);
      };
    });
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected');
    proxy.cutAll();
    await eventually(() => log.includes('start 2'), 'second session started', 10_000, 10);
    expect(log).toEqual(['start 1', 'cleanup 1: the connection is closed', 'cleanup 1 done', 'start 2']);
  });

  it('starts a session whose setup failed again on the same connection, after cleaning up the failed run', async () => {
    // A restarted broker refuses declares for a moment ("home node … is down") while its queues
    // start. Here the refusal is real too: a passive declare of a queue that does not exist yet.
    const queue = `meshdeck.test.session-retry.${process.pid}.${Date.now()}`;
    const connection = make(options());
    const runs: number[] = [];
    const errors: string[] = [];
    let cleanups = 0;
    let consumer: { close(): Promise<void> } | null = null;
    const ready = new Promise<void>((resolve) => {
      connection.onSession((amqp, session) => {
        runs.push(session.run);
        let closed = false;
        void (async () => {
          try {
            await amqp.queueDeclare({ queue, passive: true });
            if (closed) return;
            const ch = await amqp.acquire();
            await ch.basicConsume({ queue, noAck: true }, () => undefined);
            consumer = ch;
            resolve();
          } catch (err) {
            errors.push((err as { code?: string }).code ?? String(err));
            session.failed(err);
          }
        })();
        return async () => {
          closed = true;
          cleanups += 1;
          await consumer?.close();
        };
      });
    });
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected');
    await eventually(() => runs.length >= 2, "the failed session started again", 10_000, 10);
    const admin = new Connection({ hostname: '127.0.0.1', port: 5672, username: 'guest', password: 'guest' });
    try {
      await admin.queueDeclare({ queue, autoDelete: false, durable: false });
      await ready;
      const before = runs.length;
      expect(runs).toEqual(Array.from({ length: before }, (_, i) => i + 1));
      expect(errors.length).toBe(before - 1);
      expect(new Set(errors)).toEqual(new Set(['NOT_FOUND']));
      // Every failed run was cleaned up; the running one was not, and the connection never dropped.
      expect(cleanups).toBe(before - 1);
      expect(connection.state).toMatchObject({ status: 'connected', attempt: 0 });
      expect((await admin.queueDeclare({ queue, passive: true })).consumerCount).toBe(1);
      // Once stopped, nothing is retried any more, and the running session is cleaned up.
      await connection.stop();
      expect(cleanups).toBe(before);
      expect(runs.length).toBe(before);
    } finally {
      await admin.queueDelete({ queue });
      await admin.close();
    }
  });

  it('drops a pending session retry when the connection stops', async () => {
    const connection = new BrokerConnection({ profileId: 'p2', resolveOptions: () => options(), logger: silentLogger, backoff: { baseMs: 300, maxMs: 300, jitter: 0 }, connectTimeoutMs: 3000 });
    open.push(connection);
    const runs: number[] = [];
    connection.onSession((_amqp, session) => {
      runs.push(session.run);
      session.failed(Object.assign(new Error('refused'), { code: 'NOT_FOUND' }));
    });
    const stopped = new Promise<void>((resolve) => {
      connection.start();
      void until(connection, (s) => s.status === 'connected', 'connected').then(async () => {
        await connection.stop();
        resolve();
      });
    });
    await stopped;
    expect(runs).toEqual([1]);
    // The retry was due 300 ms after the failure; a fresh connection's session runs once, from 1.
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected again');
    await eventually(() => runs.length >= 2, 'the session ran on the new connection', 5000, 10);
    expect(runs.slice(0, 2)).toEqual([1, 1]);
  });

  it('stop() closes the connection and reports disconnected', async () => {
    const connection = make(options());
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected');
    await connection.stop();
    expect(connection.state.status).toBe('disconnected');
    expect(connection.amqp).toBeNull();
  });
});

describe('broker resource alarm', () => {
  // Raises a real memory alarm on the local broker for a moment, so keep it short and always clear it.
  const setWatermark = (value: string) => execFileSync('rabbitmqctl', ['set_vm_memory_high_watermark', value], { stdio: 'ignore' });

  it('shows blocked with the broker\u2019s reason while the alarm lasts, then connected again', async () => {
    const connection = make(options());
    let publisher: ReturnType<NonNullable<BrokerConnection['amqp']>['createPublisher']> | null = null;
    connection.onSession((amqp) => {
      publisher = amqp.createPublisher({ confirm: false });
      return () => publisher?.close();
    });
    connection.start();
    await until(connection, (s) => s.status === 'connected', 'connected');
    const blocked = until(connection, (s) => s.status === 'blocked', 'blocked');
    try {
      setWatermark('0.0000001');
      // The broker tells a connection it is blocked when the connection publishes during the alarm.
      await publisher!.send({ routingKey: 'meshdeck.test.nowhere' }, 'x').catch(() => undefined);
      const state = await blocked;
      expect(state.blockedReason).toBe('low on memory');
    } finally {
      setWatermark('0.4');
    }
    const back = await until(connection, (s) => s.status === 'connected', 'unblocked');
    expect(back.blockedReason).toBeNull();
  });
});

describe('probeConnection', () => {
  it('reports success with a latency', async () => {
    const result = await probeConnection(options(), 5000);
    expect(result.ok).toBe(true);
    expect(result.error).toBeNull();
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('reports the broker refusal', async () => {
    const result = await probeConnection(options({ password: 'nope' }), 5000);
    expect(result).toMatchObject({ ok: false, errorCode: 'ACCESS_REFUSED' });
    expect(result.error).toContain('Login was refused');
  });

  it('reports an unreachable broker', async () => {
    const result = await probeConnection(options({ port: 1 }), 5000);
    expect(result).toMatchObject({ ok: false, errorCode: 'ECONNREFUSED' });
  });
});
