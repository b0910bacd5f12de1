/**
 * Shutdown while the mesh session is still starting (quit right after launch): core.close()
 * finishes — broker connection, then database — and nothing the starting session opened
 * outlives it: no consumer is left on the broker. Closed at each step of the session's start,
 * found by the core's own log lines, on the real broker in a vhost of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCore } from '../../core/app.js';
import { createLogger } from '../../core/lib/log.js';
import { QUEUES } from '../../core/protocol/topology.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

let vhost: TestVhost;
let dir: string;

beforeAll(() => {
  vhost = createTestVhost('meshdeck-shutdown');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-shutdown-'));
});
afterAll(() => {
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function consumersOn(queue: string): Promise<number> {
  const amqp = new Connection(vhost.url);
  try {
    const channel = await amqp.acquire();
    try {
      const { consumerCount } = await channel.queueDeclare({ queue, passive: true });
      return consumerCount;
    } catch (err) {
      // Closed before the session declared its topology: no queue, so no consumer either.
      if ((err as { code?: string }).code === 'NOT_FOUND') return 0;
      throw err;
    } finally {
      await channel.close().catch(() => undefined);
    }
  } finally {
    await amqp.close();
  }
}

describe('closing the core while its mesh session starts', () => {
  // Besides the logged steps, a few points in between: whatever step the start is at, close finishes.
  it.each([
    ['the broker connection is up', /"msg":"connected"/, 0],
    ['15 ms after the connection is up', /"msg":"connected"/, 15],
    ['30 ms after the connection is up', /"msg":"connected"/, 30],
    ['60 ms after the connection is up', /"msg":"connected"/, 60],
    ['the control session has started', /"msg":"control session started"/, 0],
    ['the registry stream is consumed', /"msg":"consuming stream".*"stream":"meshdeck\.registry"/, 0],
    ['the telemetry stream is consumed', /"msg":"consuming stream".*"stream":"meshdeck\.telemetry"/, 0],
    ['the mesh session has started', /"msg":"mesh session started"/, 0],
  ] as const)('finishes when closed as soon as %s, and leaves no consumer behind', async (_when, trigger, delayMs) => {
    let closing: Promise<void> | null = null;
    const lines: string[] = [];
    // eslint-disable-next-line prefer-const -- assigned after the logger that refers to it
    let core: ReturnType<typeof createMeshCore>;
    const logger = createLogger({
      level: 'info',
      sink: (line) => {
        lines.push(line);
        if (closing || !trigger.test(line)) return;
        closing = delayMs === 0 ? core.close() : new Promise<void>((resolve, reject) => setTimeout(() => core.close().then(resolve, reject), delayMs));
      },
    });
    core = createMeshCore({
      databasePath: join(dir, `${Math.random().toString(36).slice(2)}.db`),
      secrets: memorySecretStore('in memory for the test'),
      logger,
      host: 'headless',
      commandLineBroker: vhost.url,
    });
    const deadline = Date.now() + 20_000;
    while (!closing) {
      if (Date.now() > deadline) throw new Error(`the core never logged ${trigger}; log:\n${lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      (closing as Promise<void>).then(() => 'closed'),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still closing after 10 s'), 10_000))),
    ]);
    clearTimeout(timer);
    expect(outcome, lines.join('\n')).toBe('closed');
    expect(core.db.open).toBe(false);
    expect(lines.at(-1)).toContain('"msg":"core closed"');
    expect(lines.join('\n')).not.toContain('mesh session failed to start');
    // Every consumer the session opened went with the connection; none was started after it.
    expect(await consumersOn(QUEUES.discoveryRequests)).toBe(0);
  });
});
