/** The agent's queue of unconfirmed telemetry batches: bounded by count and bytes, oldest dropped first and counted. */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/lib/log.js';
import { MAX_UNSENT_TELEMETRY, MAX_UNSENT_TELEMETRY_BYTES, MeshAgent } from './mesh-agent.js';

/** The private queue, as a broker that never confirms (blocked, or gone) leaves it. */
interface QueueInternals {
  queueTelemetry(body: Buffer): void;
  unsentTelemetry: Buffer[];
  sendingTelemetry: boolean;
}

function agent(): { agent: MeshAgent; queue: QueueInternals } {
  const a = new MeshAgent({ broker: 'amqp://guest:guest@127.0.0.1:1/%2F', service: 'svc', zone: 'z', address: '127.0.0.1:1', logger: silentLogger });
  return { agent: a, queue: a as unknown as QueueInternals };
}

const batch = (tag: number, size = 100) => Buffer.alloc(size, tag % 256);

describe('MeshAgent unconfirmed telemetry queue', () => {
  it('keeps at most MAX_UNSENT_TELEMETRY batches, dropping the oldest and counting them', () => {
    const { agent: a, queue } = agent();
    for (let i = 0; i < MAX_UNSENT_TELEMETRY + 5; i++) queue.queueTelemetry(batch(i));
    expect(a.stats).toMatchObject({ telemetryQueued: MAX_UNSENT_TELEMETRY, telemetryDropped: 5, telemetryQueuedBytes: MAX_UNSENT_TELEMETRY * 100 });
    expect(queue.unsentTelemetry[0]![0]).toBe(5);
  });

  it('keeps at most MAX_UNSENT_TELEMETRY_BYTES, the newest batch always', () => {
    const { agent: a, queue } = agent();
    const mib = 1024 * 1024;
    for (let i = 0; i < 20; i++) queue.queueTelemetry(batch(i, mib));
    expect(a.stats.telemetryQueuedBytes).toBeLessThanOrEqual(MAX_UNSENT_TELEMETRY_BYTES);
    expect(a.stats.telemetryQueued).toBe(MAX_UNSENT_TELEMETRY_BYTES / mib);
    expect(a.stats.telemetryDropped).toBe(20 - MAX_UNSENT_TELEMETRY_BYTES / mib);
    expect(queue.unsentTelemetry.at(-1)![0]).toBe(19);
    // One batch larger than the whole bound is still kept (alone) rather than dropped unsent.
    queue.queueTelemetry(batch(99, MAX_UNSENT_TELEMETRY_BYTES + 1));
    expect(queue.unsentTelemetry.map((b) => b[0])).toEqual([99]);
  });

  it('never drops the batch being sent', () => {
    const { agent: a, queue } = agent();
    queue.queueTelemetry(batch(0));
    queue.sendingTelemetry = true; // batch 0 is on the wire, waiting for its confirm
    for (let i = 1; i < MAX_UNSENT_TELEMETRY + 3; i++) queue.queueTelemetry(batch(i));
    expect(queue.unsentTelemetry[0]![0]).toBe(0);
    expect(queue.unsentTelemetry[1]![0]).toBe(4);
    expect(a.stats.telemetryDropped).toBe(3);
  });
});
