/** LiveEdges' circuit-breaker view: refusals apart from requests, each caller's report, the worst state, traffic per caller instance. */
import { describe, expect, it } from 'vitest';
import type { CircuitReport } from '../protocol/messages.js';
import { LiveEdges } from './live-edges.js';
import { edgeStats, telemetryBatch } from './test-support.js';

const T = 1_700_000_000_000;

function batch(instanceId: string, at: number, requests: number, extra: { refused?: number; circuit?: CircuitReport } = {}) {
  const b = telemetryBatch('web', instanceId, at, [{ peerService: 'orders', peerInstance: 'orders-1', values: Array.from({ length: requests }, () => 5) }]);
  b.edges.push({ ...edgeStats({ peerService: 'orders', values: [] }), ...extra });
  return b;
}

const open = (since: number, manual = false): CircuitReport => ({ state: 'open', since, until: since + 5000, manual, rule: manual ? 'manual-trip' : 'consecutive-failures', reason: 'r' });

describe('LiveEdges: circuit breakers', () => {
  it('counts refusals apart from requests and errors, and takes the worst state among the callers', () => {
    const edges = new LiveEdges();
    edges.ingest(batch('web-1', T, 10, { refused: 4, circuit: open(T) }), T + 100);
    edges.ingest(batch('web-2', T, 6, { circuit: { state: 'half-open', since: T, manual: false, rule: 'open-elapsed', reason: '' } }), T + 200);
    const [summary] = edges.summaries(T + 500);
    expect(summary).toMatchObject({ from: 'web', to: 'orders', requests: 16, refused: 4, errorRate: 0 });
    expect(summary!.circuit).toEqual({
      state: 'open',
      instances: [
        { instanceId: 'web-1', state: 'open', since: T, until: T + 5000, manual: false, rule: 'consecutive-failures', reason: 'r', at: T + 100 },
        { instanceId: 'web-2', state: 'half-open', since: T, until: null, manual: false, rule: 'open-elapsed', reason: '', at: T + 200 },
      ],
    });
  });

  it('keeps a caller\u2019s report for 30 s after it last came, then shows none', () => {
    const edges = new LiveEdges();
    edges.ingest(batch('web-1', T, 1, { circuit: open(T, true) }), T);
    edges.ingest(batch('web-1', T + 20_000, 1), T + 20_000); // traffic without a report keeps the edge alive
    expect(edges.summaries(T + 30_000, 60_000)[0]!.circuit?.state).toBe('open');
    expect(edges.summaries(T + 30_001, 60_000)[0]!.circuit).toBeUndefined();
  });

  it('gives requests (sent or refused) per caller instance over the span', () => {
    const edges = new LiveEdges();
    edges.ingest(batch('web-1', T, 3, { refused: 2 }), T);
    edges.ingest(batch('web-2', T + 1000, 5), T + 1000);
    edges.ingest(batch('web-2', T - 20_000, 50), T);
    expect(edges.callerRequests('web', 'orders', T + 1500)).toEqual(new Map([['web-1', 5], ['web-2', 5]]));
    expect(edges.callerRequests('web', 'nowhere', T)).toEqual(new Map());
  });

  it('summarises one edge as summaries() does, and none it has not seen within the span', () => {
    const edges = new LiveEdges();
    edges.ingest(batch('web-1', T, 10, { refused: 2, circuit: open(T) }), T + 100);
    const other = telemetryBatch('api', 'api-1', T, [{ peerService: 'orders', peerInstance: 'orders-1', values: [7, 9] }]);
    edges.ingest(other, T + 100);
    const all = edges.summaries(T + 500);
    expect(all).toHaveLength(2);
    expect(edges.summary('web', 'orders', T + 500)).toEqual(all.find((e) => e.from === 'web'));
    expect(edges.summary('api', 'orders', T + 500)).toEqual(all.find((e) => e.from === 'api'));
    expect(edges.summary('web', 'nowhere', T + 500)).toBeNull();
    expect(edges.summary('web', 'orders', T + 20_000)).toBeNull();
  });
});
