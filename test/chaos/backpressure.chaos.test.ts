/**
 * The broker raises a memory alarm (on a private RabbitMQ node: `rabbitmqctl
 * set_vm_memory_high_watermark 0.0000001`; the shared node is never alarmed) and blocks every
 * publishing connection for a while, under load: clients keep sending requests through the
 * caller's sidecar, the agents keep recording telemetry and beating, the operator keeps issuing
 * commands. Checked with measurements, not timings: every connection shows `blocked` (the core's
 * through the API); the agents' queues of unconfirmed telemetry stay within their bounds and the
 * heap (after a forced GC) grows by little; commands wait in the SQLite outbox. Once the alarm is
 * cleared everything flows again: queues drain, every command is applied once, the telemetry
 * history counts every request once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_UNSENT_TELEMETRY, MAX_UNSENT_TELEMETRY_BYTES } from '../../agent/sdk/mesh-agent.js';
import type { ConnectionState } from '../../core/api/contract.js';
import { eventually } from '../support/mesh.js';
import { PrivateMesh } from '../support/private-mesh.js';
import { startLoad } from '../support/reconnect.js';

/** How long the alarm lasts, counted in telemetry batches the caller's agent could not send (one a second). */
const BLOCKED_BATCHES = 15;
const COMMANDS_WHILE_BLOCKED = 5;
const run = randomUUID().slice(0, 6);

let pm: PrivateMesh | undefined;

function heapAfterGc(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

beforeAll(async () => {
  pm = await PrivateMesh.start('meshdeck-chaos-backpressure', `bp-web-${run}`, `bp-api-${run}`);
}, 150_000);

afterAll(async () => {
  // The alarm must not outlive a failed test: the sidecars deregister on stop.
  await pm?.broker.ctl('set_vm_memory_high_watermark', '0.4').catch(() => undefined);
  await pm?.close();
}, 60_000);

describe('chaos: the broker blocks publishers (memory alarm)', () => {
  it('publishers back off with bounded memory, show it, and flow again after the alarm', async () => {
    const p = pm!;
    const b = p.broker;
    const agents = [p.calleeAgent, p.callerAgent];
    const callerAgent = p.callerAgent;
    const start = Date.now() - 2000;
    const load = startLoad(p.url);
    const connections = p.connections();
    const coreState = async () => (await p.call<ConnectionState[]>('connections.list', {})).find((c) => c.profileId === 'cli')!;
    const act = () => p.act('chaos backpressure');

    let figures: Record<string, unknown> | undefined;
    try {
      await eventually(() => load.sent > 300, 'traffic flowing', 30_000, 50);
      await act();
      await eventually(async () => (await p.openActions()) === 0, 'a command acknowledged before the alarm', 20_000, 100);
      const heapBefore = heapAfterGc();
      const sentBefore = load.sent;

      // The alarm: every connection of the mesh is told it is blocked; the API shows the core's.
      const alarmAt = Date.now();
      await b.ctl('set_vm_memory_high_watermark', '0.0000001');
      await eventually(() => Object.values(connections).every((c) => c.state.status === 'blocked'), 'every connection blocked', 30_000, 50);
      const blockedMs = Date.now() - alarmAt;
      const api = await coreState();
      expect(api.status).toBe('blocked');
      expect(api.blockedReason).toMatch(/memory/i);

      // Held until the caller's agent has BLOCKED_BATCHES batches it could not send, issuing
      // commands meanwhile and sampling every buffer on the way.
      const peak = { queued: 0, queuedBytes: 0, heap: 0, outboxOpen: 0 };
      const queuedAtBlock = callerAgent.stats.telemetryQueued;
      let issued = 0;
      await eventually(
        async () => {
          if (issued < COMMANDS_WHILE_BLOCKED) {
            const record = await act();
            issued += 1;
            expect(record.commands[0]!.state).toBe('pending');
          }
          for (const a of agents) {
            peak.queued = Math.max(peak.queued, a.stats.telemetryQueued);
            peak.queuedBytes = Math.max(peak.queuedBytes, a.stats.telemetryQueuedBytes);
          }
          peak.outboxOpen = Math.max(peak.outboxOpen, await p.openActions());
          peak.heap = Math.max(peak.heap, heapAfterGc());
          expect(Object.values(connections).map((c) => c.state.status)).toEqual(['blocked', 'blocked', 'blocked']);
          return issued === COMMANDS_WHILE_BLOCKED && callerAgent.stats.telemetryQueued >= queuedAtBlock + BLOCKED_BATCHES;
        },
        `${BLOCKED_BATCHES} telemetry batches held by the blocked agent`,
        60_000,
        500,
      );
      const heldMs = Date.now() - alarmAt;
      // The data plane does not need the broker: requests kept being answered.
      expect(load.sent - sentBefore).toBeGreaterThan(100);
      // Bounded: the queues are within their limits, commands are in the outbox (not in memory), heartbeats were not piled up.
      expect(peak.queued).toBeLessThanOrEqual(MAX_UNSENT_TELEMETRY);
      expect(peak.queuedBytes).toBeLessThanOrEqual(MAX_UNSENT_TELEMETRY_BYTES);
      expect(peak.outboxOpen).toBe(COMMANDS_WHILE_BLOCKED);
      for (const a of agents) expect(a.stats.heartbeatsSkippedWhileBlocked).toBeGreaterThan(10);
      expect(peak.heap - heapBefore).toBeLessThan(16 * 1024 * 1024);

      // The alarm cleared: unblocked, the queues drain, the commands go out.
      const clearAt = Date.now();
      await b.ctl('set_vm_memory_high_watermark', '0.4');
      await eventually(() => Object.values(connections).every((c) => c.state.status === 'connected'), 'every connection unblocked', 30_000, 50);
      const unblockedMs = Date.now() - clearAt;
      expect((await coreState()).status).toBe('connected');
      await eventually(() => agents.every((a) => a.stats.telemetryQueued === 0), 'the telemetry queues drained', 30_000, 100);
      const drainedMs = Date.now() - clearAt;
      figures = { blockedMs, heldMs, unblockedMs, drainedMs, peakQueued: peak.queued, peakQueuedKiB: Math.round(peak.queuedBytes / 1024), peakOutboxOpen: peak.outboxOpen, heapBeforeMb: mb(heapBefore), heapPeakMb: mb(peak.heap), heartbeatsSkipped: agents.map((a) => a.stats.heartbeatsSkippedWhileBlocked) };
      const after = load.sent;
      await eventually(() => load.sent > after + 300, 'traffic after the alarm', 30_000, 50);
    } finally {
      await load.stop();
    }

    await p.expectEveryCommandAppliedOnce();
    const counted = await p.expectHistoryCounts(load, start, figures);
    console.info(`chaos backpressure: ${JSON.stringify(figures)}; commands ${p.actionIds.length} sent, ${p.applied.size} applied once; requests ${JSON.stringify(Object.fromEntries(load.statuses))}, ${counted} counted of ${load.handled()}`);
  }, 240_000);
});
