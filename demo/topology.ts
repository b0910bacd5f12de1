/**
 * The demo mesh: a small shop. Six services in three zones, some talking over HTTP through
 * their sidecars, some only through domain events on RabbitMQ.
 *
 *   external ─► gateway ─► web ─────────► inventory
 *                  └─────► checkout ──┬─► inventory
 *                                     └─► payments
 *   events:  checkout  ─ shop.order.placed.v1 ──────► inventory, notifications
 *            payments  ─ shop.payment.captured.v1 ──► notifications
 */
export type DemoKind = 'gateway' | 'http' | 'events-only';

export interface DemoService {
  service: string;
  kind: DemoKind;
  zones: string[];
}

export const ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;

export const DEMO_SERVICES: readonly DemoService[] = [
  { service: 'gateway', kind: 'gateway', zones: ['zone-a', 'zone-b'] },
  { service: 'web', kind: 'http', zones: ['zone-a', 'zone-b', 'zone-c'] },
  { service: 'checkout', kind: 'http', zones: ['zone-a', 'zone-b', 'zone-c'] },
  { service: 'payments', kind: 'http', zones: ['zone-a', 'zone-b', 'zone-c'] },
  { service: 'inventory', kind: 'http', zones: ['zone-a', 'zone-b', 'zone-c'] },
  { service: 'notifications', kind: 'events-only', zones: ['zone-a', 'zone-b'] },
];

export const EVENTS = {
  orderPlaced: 'shop.order.placed.v1',
  paymentCaptured: 'shop.payment.captured.v1',
} as const;

/** The gateway's routes (docs/gateway.md). */
export const GATEWAY_ROUTES = {
  routes: [
    { name: 'web', match: { pathPrefix: '/web' }, split: [{ service: 'web', weight: 100 }], stripPrefix: true },
    { name: 'checkout', match: { pathPrefix: '/api/checkout' }, split: [{ service: 'checkout', weight: 100 }], stripPrefix: true, rewritePrefix: '/checkout' },
    { name: 'inventory', match: { pathPrefix: '/api/inventory' }, split: [{ service: 'inventory', weight: 100 }], stripPrefix: true, rewritePrefix: '/items' },
  ],
};

/** What the load generator sends through the gateway, by share. */
export const TRAFFIC_MIX = [
  { share: 0.6, method: 'GET', path: '/web/page' },
  { share: 0.3, method: 'POST', path: '/api/checkout' },
  { share: 0.1, method: 'GET', path: '/api/inventory' },
] as const;

export function instanceId(service: string, zone: string, index = 1): string {
  return `${service}-${zone.replace(/^zone-/, '')}-${index}`;
}
