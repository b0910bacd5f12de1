import { describe, expect, it } from 'vitest';
import type { BrokerQueue, EventTypeFlow } from '../../../core/api/contract';
import { circuitAction, edgeId, edgesTotal, errorClasses, eventEdgeDetail, parseEdgeId, queueFigures } from './edge-panel';
import { buildGraph } from './model';

const flows: EventTypeFlow[] = [
  {
    type: 'shop.order.v1',
    producers: [
      { service: 'checkout', exchange: 'shop.events', perSecond: 4, total: 40 },
      { service: 'admin', exchange: 'shop.events', perSecond: 1, total: 10 },
    ],
    consumers: [
      { service: 'billing', queue: 'billing.orders', perSecond: 3.5, total: 35, failed: 2 },
      { service: 'mailer', queue: 'mailer.orders', perSecond: 4, total: 40, failed: 0 },
    ],
  },
  {
    type: 'shop.refund.v1',
    producers: [{ service: 'checkout', exchange: 'shop.refunds', perSecond: 0.5, total: 5 }],
    consumers: [{ service: 'billing', queue: 'billing.refunds', perSecond: 0.5, total: 5, failed: 0 }],
  },
  { type: 'shop.audit.v1', producers: [{ service: 'billing', exchange: 'audit', perSecond: 9, total: 90 }], consumers: [{ service: 'checkout', queue: 'q', perSecond: 9, total: 90, failed: 0 }] },
];

function queue(name: string, ready: number | null, over: Partial<BrokerQueue> = {}): BrokerQueue {
  return { name, type: 'classic', durable: true, autoDelete: false, exclusive: false, state: 'running', ready, unacked: 1, consumers: 2, rateIn: 3, rateOut: 2.5, rateAck: 2.5, ...over };
}

describe('the edge side panel\u2019s figures', () => {
  it('reads the edge a graph id names, for HTTP and event edges alike, and nothing else', () => {
    expect(parseEdgeId('checkout>payments')).toEqual({ id: 'checkout>payments', kind: 'http', from: 'checkout', to: 'payments' });
    expect(parseEdgeId('event:checkout>billing')).toEqual({ id: 'event:checkout>billing', kind: 'event', from: 'checkout', to: 'billing' });
    for (const bad of [null, '', 'checkout', '>payments', 'checkout>', 'a>b>c', 'event:', 'event:a']) expect(parseEdgeId(bad)).toBeNull();
    for (const [kind, from, to] of [['http', 'external', 'web'], ['event', 'a', 'b']] as const) expect(parseEdgeId(edgeId(kind, from, to))).toMatchObject({ kind, from, to });
  });

  it('names edges as the graph model does, so a click on the graph finds its panel', () => {
    const model = buildGraph({ services: [], edges: [{ from: 'checkout', to: 'payments', rps: 1, requests: 10, errorRate: 0, p99: 5 }], events: flows });
    const ids = model.edges.map((e) => e.id);
    expect(ids).toContain(edgeId('http', 'checkout', 'payments'));
    expect(ids).toContain(edgeId('event', 'checkout', 'billing'));
    for (const e of model.edges) expect(parseEdgeId(e.id)).toMatchObject({ kind: e.kind, from: e.from, to: e.to });
  });

  it('gives an event edge the types its producer publishes and its consumer takes, with exchanges, queues and rates', () => {
    const detail = eventEdgeDetail(flows, 'checkout', 'billing');
    expect(detail.legs).toEqual([
      { type: 'shop.order.v1', exchanges: ['shop.events'], queues: ['billing.orders'], published: 4, consumed: 3.5, failed: 2 },
      { type: 'shop.refund.v1', exchanges: ['shop.refunds'], queues: ['billing.refunds'], published: 0.5, consumed: 0.5, failed: 0 },
    ]);
    expect(detail.consumed).toBe(4);
    expect(detail.failed).toBe(2);
    // The other direction is another edge; a pair with no common type has none.
    expect(eventEdgeDetail(flows, 'billing', 'checkout').legs.map((l) => l.type)).toEqual(['shop.audit.v1']);
    expect(eventEdgeDetail(flows, 'admin', 'checkout')).toEqual({ legs: [], consumed: 0, failed: 0 });
  });

  it('takes the queues\u2019 depth, consumers and rates from the broker snapshot, and says which it does not list', () => {
    const snapshot = { queues: [queue('billing.refunds', 0), queue('billing.orders', 120, { unacked: 7 }), queue('other', 3)] };
    const out = queueFigures(snapshot, ['billing.orders', 'billing.refunds', 'billing.orders', 'gone']);
    expect(out.queues.map((q) => [q.name, q.ready, q.unacked])).toEqual([
      ['billing.orders', 120, 7],
      ['billing.refunds', 0, 1],
    ]);
    expect(out.missing).toEqual(['gone']);
  });

  it('splits an edge\u2019s errors by class as shares of its requests, 4xx apart from the error rate', () => {
    const classes = errorClasses({ requests: 200, errors: { http5xx: 10, http4xx: 20, connect: 1, timeout: 0 } });
    expect(classes.map((c) => [c.label, c.count, c.share, c.counted])).toEqual([
      ['5xx', 10, 0.05, true],
      ['connect', 1, 0.005, true],
      ['timeout', 0, 0, true],
      ['4xx', 20, 0.1, false],
    ]);
    expect(errorClasses({ requests: 0, errors: { http5xx: 0, http4xx: 0, connect: 0, timeout: 0 } }).every((c) => c.share === 0)).toBe(true);
  });

  it('offers to trip a closed (or unreported) breaker and to reset an open or half-open one, on the caller towards the callee', () => {
    expect(circuitAction('till', 'ledger', undefined)).toEqual({ action: { action: 'trip-circuit', callee: 'ledger' }, title: 'Trip the circuit till → ledger', button: 'Trip…' });
    expect(circuitAction('till', 'ledger', 'closed').action.action).toBe('trip-circuit');
    expect(circuitAction('till', 'ledger', 'open')).toEqual({ action: { action: 'reset-circuit', callee: 'ledger' }, title: 'Reset the circuit till → ledger', button: 'Reset…' });
    expect(circuitAction('till', 'ledger', 'half-open').action.action).toBe('reset-circuit');
  });
});

describe('edgesTotal (the external clients panel: their edges as one)', () => {
  it('sums rates and requests, weighs the failed share by requests, keeps the worst p99', () => {
    const total = edgesTotal([
      { rps: 10, requests: 100, errorRate: 0.1, p99: 20 },
      { rps: 30, requests: 300, errorRate: 0, p99: 45 },
      { rps: 0, requests: 0, errorRate: 0, p99: null },
    ]);
    expect(total).toEqual({ rps: 40, requests: 400, errorRate: 10 / 400, worstP99: 45 });
  });

  it('nothing to add: no rate, no errors, no p99', () => {
    expect(edgesTotal([])).toEqual({ rps: 0, requests: 0, errorRate: 0, worstP99: null });
  });
});
