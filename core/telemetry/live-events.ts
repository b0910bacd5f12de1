/**
 * Who produces and who consumes each domain event type, with rates, from the `events` part of
 * agents' telemetry batches: the event-driven half of the mesh's topology.
 */
import type { TelemetryBatch } from '../protocol/messages.js';

interface Sample {
  at: number;
  count: number;
  failed: number;
}

interface Flow {
  type: string;
  role: 'producer' | 'consumer';
  service: string;
  /** Exchange (producers) or queue (consumers). */
  via: string;
  samples: Sample[];
  lastSeen: number;
}

export interface EventTypeFlow {
  type: string;
  producers: Array<{ service: string; exchange: string; perSecond: number; total: number }>;
  consumers: Array<{ service: string; queue: string; perSecond: number; total: number; failed: number }>;
}

export class LiveEvents {
  private readonly flows = new Map<string, Flow>();

  constructor(private readonly keepMs = 300_000) {}

  ingest(batch: TelemetryBatch, receivedAt: number): void {
    for (const p of batch.events.published) this.add(p.type, 'producer', batch.service, p.exchange, p.count, 0, batch.windowStart, receivedAt);
    for (const c of batch.events.consumed) this.add(c.type, 'consumer', batch.service, c.queue, c.count, c.failed, batch.windowStart, receivedAt);
  }

  summaries(now: number, spanMs = 10_000): EventTypeFlow[] {
    const since = now - spanMs;
    const byType = new Map<string, EventTypeFlow>();
    for (const flow of this.flows.values()) {
      if (flow.lastSeen < since) continue;
      let total = 0;
      let failed = 0;
      for (const s of flow.samples) {
        if (s.at < since) continue;
        total += s.count;
        failed += s.failed;
      }
      const entry = byType.get(flow.type) ?? { type: flow.type, producers: [], consumers: [] };
      const perSecond = total / (spanMs / 1000);
      if (flow.role === 'producer') entry.producers.push({ service: flow.service, exchange: flow.via, perSecond, total });
      else entry.consumers.push({ service: flow.service, queue: flow.via, perSecond, total, failed });
      byType.set(flow.type, entry);
    }
    return [...byType.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  private add(type: string, role: Flow['role'], service: string, via: string, count: number, failed: number, at: number, receivedAt: number): void {
    const key = `${role}\u0000${type}\u0000${service}\u0000${via}`;
    let flow = this.flows.get(key);
    if (!flow) {
      flow = { type, role, service, via, samples: [], lastSeen: 0 };
      this.flows.set(key, flow);
    }
    flow.samples.push({ at, count, failed });
    flow.lastSeen = receivedAt;
    const cutoff = receivedAt - this.keepMs;
    while (flow.samples.length && flow.samples[0]!.at < cutoff) flow.samples.shift();
  }
}
