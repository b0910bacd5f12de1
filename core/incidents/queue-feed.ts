/**
 * The adapter from core/broker's snapshots to the queue rules' inputs: per queue, the depth
 * trend over the last polls (growing, draining or steady, from the depth itself and from the
 * broker's publish and deliver rates), the consumer count, who consumes it and who publishes
 * into it (the event-flow graph and the agents' connection names). Pure apart from the history
 * it keeps between snapshots; no I/O.
 *
 * When the broker cannot say (statistics disabled, no permission on the vhost, the management
 * API away), queues are reported `unknown` with the reason: the rules neither open nor resolve
 * on missing figures.
 */
import type { BrokerSnapshot } from '../api/contract.js';
import type { QueueInput, QueueTrend } from './rules.js';

export interface QueueFeedOptions {
  /** Consecutive new readings with a rising depth that make a queue "growing" (default 2). */
  risingReadings?: number;
  /** Publish rate over the outflow by at least this many msg/s (and 5 %) is growing (default 0.5). */
  rateSlack?: number;
  /** Figures unchanged for this long (no new reading) count as steady, whatever came before (default 15 s: three of the broker's default stats intervals). */
  staleMs?: number;
}

interface Reading {
  at: number;
  ready: number;
  unacked: number | null;
  rateIn: number | null;
  rateOut: number | null;
  rateAck: number | null;
}

interface QueueHistory {
  readings: Reading[];
  /** Consecutive readings whose depth rose (0 after a fall or a steady one). */
  rising: number;
  falling: boolean;
  /** The services last seen consuming it (kept after they leave: the suspects of consumer-gone). */
  consumerServices: string[];
}

/** The capabilities under which the broker's depths and consumer counts cannot be trusted. */
const BLOCKING = new Set(['management', 'credentials', 'config', 'vhost', 'stats']);
const KEEP_READINGS = 6;

export class QueueFeed {
  private readonly history = new Map<string, QueueHistory>();
  private lastAt = 0;
  private readonly risingReadings: number;
  private readonly rateSlack: number;
  private readonly staleMs: number;

  constructor(options: QueueFeedOptions = {}) {
    this.risingReadings = Math.max(1, options.risingReadings ?? 2);
    this.rateSlack = Math.max(0, options.rateSlack ?? 0.5);
    this.staleMs = options.staleMs ?? 15_000;
  }

  /**
   * The queue inputs of one snapshot. A snapshot already seen (same `at`) changes nothing.
   * `gap` is set when the broker's figures cannot be used; the queues known so far are then
   * returned `unknown` so their rule states hold.
   */
  observe(snapshot: BrokerSnapshot): { queues: QueueInput[]; gap: string | null } {
    const gap = gapOf(snapshot);
    if (gap) return { queues: [...this.history.keys()].map((queue) => ({ queue, depth: 0, consumers: 0, unknown: gap, ...this.serviceOf(queue) })), gap };
    const fresh = snapshot.at > this.lastAt;
    if (fresh) this.lastAt = snapshot.at;
    const consumersOf = consumerServices(snapshot);
    // Two sources: the consumer list (seen sooner) and the queue's own count (refreshed with its
    // statistics, every stats interval). Under load the broker can answer the list short (its
    // management database drops a node's part that times out, logging only), so a consumer either
    // source shows counts, and "gone" needs both to say so: at most one stats interval later than
    // the list alone. A user without the monitoring tag sees only its own consumers in the list,
    // so it gets the queue's count.
    const listed = snapshot.capabilities.some((c) => c.area === 'monitoring') ? null : consumerCounts(snapshot);
    const publishersOf = publisherServices(snapshot);
    const out: QueueInput[] = [];
    const present = new Set<string>();
    for (const q of snapshot.queues) {
      present.add(q.name);
      const h = this.history.get(q.name) ?? { readings: [], rising: 0, falling: false, consumerServices: [] };
      this.history.set(q.name, h);
      const consumers = listed ? Math.max(listed.get(q.name) ?? 0, q.consumers) : q.consumers;
      const now = consumersOf.get(q.name) ?? [];
      if (now.length > 0) h.consumerServices = now;
      if (q.ready === null) {
        // Streams and queues the broker has no figures for yet.
        out.push({ queue: q.name, depth: 0, consumers, unknown: `the broker reports no depth for ${q.name} (${q.type} queue)`, ...this.serviceOf(q.name) });
        continue;
      }
      if (fresh) this.add(h, { at: snapshot.at, ready: q.ready, unacked: q.unacked, rateIn: q.rateIn, rateOut: q.rateOut, rateAck: q.rateAck });
      const last = h.readings[h.readings.length - 1]!;
      out.push({
        queue: q.name,
        ...this.serviceOf(q.name),
        depth: q.ready,
        consumers,
        trend: this.trend(h, snapshot.at),
        consumerServices: h.consumerServices,
        publisherServices: publishersOf.get(q.name) ?? [],
        evidence: {
          ready: q.ready,
          unacked: q.unacked,
          consumers,
          rateIn: q.rateIn,
          rateOut: q.rateOut,
          rateAck: q.rateAck,
          readAt: snapshot.at,
          figuresSince: last.at,
          depths: h.readings.map((r) => [r.at, r.ready]),
        },
      });
    }
    for (const queue of [...this.history.keys()]) if (!present.has(queue)) this.history.delete(queue); // deleted: "no longer reported"
    return { queues: out, gap: null };
  }

  private serviceOf(queue: string): { service?: string } {
    const s = this.history.get(queue)?.consumerServices[0];
    return s ? { service: s } : {};
  }

  /** A new reading counts only when the broker's figures changed (it refreshes every stats interval). */
  private add(h: QueueHistory, r: Reading): void {
    const prev = h.readings[h.readings.length - 1];
    if (prev && prev.ready === r.ready && prev.unacked === r.unacked && prev.rateIn === r.rateIn && prev.rateOut === r.rateOut) {
      return; // the same figures read again: not a new reading (prev.at stays when they first appeared)
    }
    if (prev) {
      if (r.ready > prev.ready) {
        h.rising += 1;
        h.falling = false;
      } else {
        h.rising = 0;
        h.falling = r.ready < prev.ready;
      }
    }
    h.readings.push(r);
    if (h.readings.length > KEEP_READINGS) h.readings.shift();
  }

  private trend(h: QueueHistory, at: number): QueueTrend {
    const last = h.readings[h.readings.length - 1]!;
    const outflow = last.rateOut ?? last.rateAck;
    const byRates = last.rateIn !== null && outflow !== null && last.rateIn - outflow >= Math.max(this.rateSlack, 0.05 * last.rateIn);
    const rateText = last.rateIn !== null && outflow !== null ? `in ${fmt(last.rateIn)}/s, out ${fmt(outflow)}/s` : 'no rates';
    const first = h.readings[0]!;
    const change = `${first.ready} → ${last.ready} ready over ${h.readings.length} readings`;
    if (at - last.at > this.staleMs) return { growing: false, draining: false, text: `steady: ${last.ready} ready, unchanged for ${Math.round((at - last.at) / 1000)} s; ${rateText}` };
    if (h.falling) return { growing: false, draining: true, text: `draining: ${change}; ${rateText}` };
    const byDepth = h.rising >= this.risingReadings;
    if (byDepth || (byRates && h.rising > 0) || (byRates && h.readings.length === 1)) {
      return { growing: true, draining: false, text: `growing: ${change}${byDepth ? ` (rose ${h.rising} times in a row)` : ''}; ${rateText}` };
    }
    return { growing: false, draining: false, text: `steady: ${change}; ${rateText}` };
  }
}

const fmt = (x: number) => (x >= 10 ? x.toFixed(0) : x.toFixed(1));

export const NO_SNAPSHOT_YET = 'no broker snapshot yet';

/** Why the snapshot's queue figures cannot be used, or null. */
export function gapOf(s: BrokerSnapshot): string | null {
  if (s.at === 0) return NO_SNAPSHOT_YET;
  if (!s.available) return s.capabilities.map((c) => c.message).join('; ') || 'the management API is not available';
  if (s.overview?.statsDisabled) return 'statistics are disabled on the broker: no depths or consumer counts';
  const blocking = s.capabilities.filter((c) => BLOCKING.has(c.area));
  return blocking.length ? blocking.map((c) => c.message).join('; ') : null;
}

function consumerCounts(s: BrokerSnapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of s.consumers) out.set(c.queue, (out.get(c.queue) ?? 0) + 1);
  return out;
}

/** Per queue, the mesh services consuming it: the broker's consumers (connection names) and the flow graph. */
function consumerServices(s: BrokerSnapshot): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  const add = (queue: string, service: string | null) => {
    if (!service) return;
    const set = out.get(queue) ?? new Set<string>();
    set.add(service);
    out.set(queue, set);
  };
  for (const c of s.consumers) add(c.queue, c.service);
  const nodes = new Map(s.flows.nodes.map((n) => [n.id, n]));
  for (const e of s.flows.edges) {
    if (e.kind !== 'deliver' || !e.from.startsWith('queue:')) continue;
    add(e.from.slice('queue:'.length), nodes.get(e.to)?.service ?? null);
  }
  return new Map([...out].map(([q, set]) => [q, [...set].sort()]));
}

/** Per queue, the services publishing into an exchange that routes to it (through exchange-to-exchange bindings too). */
function publisherServices(s: BrokerSnapshot): Map<string, string[]> {
  const nodes = new Map(s.flows.nodes.map((n) => [n.id, n]));
  const into = new Map<string, string[]>(); // node → nodes with an edge into it
  for (const e of s.flows.edges) into.set(e.to, [...(into.get(e.to) ?? []), e.from]);
  const out = new Map<string, string[]>();
  for (const q of s.queues) {
    const services = new Set<string>();
    const seen = new Set<string>();
    const stack = [`queue:${q.name}`];
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const node = nodes.get(id);
      if (node?.kind === 'publisher' && node.service) services.add(node.service);
      if (id.startsWith('queue:') || id.startsWith('exchange:')) stack.push(...(into.get(id) ?? []));
    }
    if (services.size) out.set(q.name, [...services].sort());
  }
  return out;
}
