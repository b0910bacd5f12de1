/**
 * Parsing, paging, capability detection and the flow graph, against a local HTTP server that
 * answers in the management API's recorded shapes (the real broker is in broker.int.test.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventTypeFlow } from '../telemetry/live-events.js';
import type { ManagementAccess } from '../bus/profiles.js';
import { silentLogger } from '../lib/log.js';
import { buildFlows } from './flows.js';
import { brokerErrorText, ManagementApiError, ManagementClient } from './management-client.js';
import { BrokerMonitor } from './monitor.js';
import { peerFromConnectionName, readBroker, type BrokerReading } from './read-snapshot.js';

type Route = (url: URL, req: IncomingMessage) => { status?: number; body: unknown } | 'hang';
let server: Server | null = null;
const seen: string[] = [];

async function fixture(route: Route): Promise<string> {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(`${url.pathname}${url.search}`);
    const answer = route(url, req);
    if (answer === 'hang') return;
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

afterEach(async () => {
  seen.length = 0;
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = null;
});

const client = (baseUrl: string, extra: Partial<ConstructorParameters<typeof ManagementClient>[0]> = {}) =>
  new ManagementClient({ baseUrl, username: 'mon', password: 's3cret', ...extra });

/** A broker with one vhost "/" in recorded shapes; `overrides` replace whole answers by path. */
function brokerRoute(overrides: Record<string, { status?: number; body: unknown }> = {}): Route {
  return (url) => {
    const path = url.pathname.replace(/^\/api\//, '');
    if (overrides[path]) return overrides[path];
    switch (path) {
      case 'whoami':
        return { body: { name: 'mon', tags: ['monitoring'] } };
      case 'overview':
        return { body: { rabbitmq_version: '3.10.8', management_version: '3.10.8', rates_mode: 'basic', disable_stats: false, statistics_db_event_queue: 0, message_stats: { publish_details: { rate: 12.5 } } } };
      case 'exchanges/%2F':
        return { body: { items: [{ name: 'shop', type: 'topic', durable: true, auto_delete: false, internal: false }], page: 1, page_count: 1, page_size: 500, total_count: 1 } };
      case 'queues/%2F':
        return {
          body: {
            items: [
              { name: 'orders', type: 'quorum', durable: true, messages_ready: 4, messages_unacknowledged: 2, consumers: 2, message_stats: { publish_details: { rate: 10 }, deliver_get_details: { rate: 8 } } },
              { name: 'audit', type: 'classic', durable: true, messages_ready: 0, messages_unacknowledged: 0, consumers: 0 },
            ],
            page: 1,
            page_count: 1,
            page_size: 500,
            total_count: 2,
          },
        };
      case 'bindings/%2F':
        return {
          body: [
            { source: '', destination: 'orders', destination_type: 'queue', routing_key: 'orders' },
            { source: 'shop', destination: 'orders', destination_type: 'queue', routing_key: 'order.placed' },
            { source: 'shop', destination: 'audit', destination_type: 'queue', routing_key: '#' },
          ],
        };
      case 'consumers/%2F':
        return {
          body: [
            { queue: { name: 'orders' }, consumer_tag: 'c1', channel_details: { name: 'ch1', connection_name: '10.0.0.1:5000 -> 10.0.0.2:5672' }, prefetch_count: 50, ack_required: true, active: true },
            { queue: { name: 'orders' }, consumer_tag: 'c2', channel_details: { name: 'ch2', connection_name: '10.0.0.3:5000 -> 10.0.0.2:5672' }, prefetch_count: 10, ack_required: true, active: true },
          ],
        };
      case 'vhosts/%2F/connections':
        return {
          body: [
            { name: '10.0.0.1:5000 -> 10.0.0.2:5672', user: 'app', channels: 3, user_provided_name: 'meshdeck-sidecar:billing/billing-7f' },
            { name: '10.0.0.3:5000 -> 10.0.0.2:5672', user: 'legacy', channels: 1, client_properties: {} },
          ],
        };
      case 'vhosts/%2F/channels':
        return { body: [{ connection_details: { name: '10.0.0.1:5000 -> 10.0.0.2:5672' }, message_stats: { publish_details: { rate: 3 } } }] };
      default:
        return { status: 404, body: { error: 'Object Not Found', reason: 'Not Found' } };
    }
  };
}

describe('ManagementClient', () => {
  it('sends basic auth and columns, and pages until page_count', async () => {
    let auth = '';
    const base = await fixture((url, req) => {
      auth = req.headers.authorization ?? '';
      const page = Number(url.searchParams.get('page'));
      return { body: { items: [{ name: `q${page}` }], page, page_count: 3, page_size: 1, total_count: 3 } };
    });
    const names = await client(base, { pageSize: 1 }).list<{ name: string }>('queues/%2F', ['name', 'type']);
    expect(names.map((n) => n.name)).toEqual(['q1', 'q2', 'q3']);
    expect(auth).toBe(`Basic ${Buffer.from('mon:s3cret').toString('base64')}`);
    expect(seen).toEqual([1, 2, 3].map((p) => `/api/queues/%2F?page=${p}&page_size=1&columns=name%2Ctype`));
  });

  it('carries the status and the broker’s own text on a refusal', async () => {
    const base = await fixture(() => ({ status: 401, body: { error: 'not_authorised', reason: 'User not authorised to access virtual host' } }));
    const err = await client(base).get('queues/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagementApiError);
    expect(err).toMatchObject({ failure: 'unauthorized', status: 401, path: 'queues/x', brokerText: 'not_authorised: User not authorised to access virtual host' });
  });

  it('gives up after its timeout with a typed error', async () => {
    const base = await fixture(() => 'hang');
    const err = await client(base, { timeoutMs: 150 }).get('overview').catch((e: unknown) => e);
    expect(err).toMatchObject({ failure: 'timeout', status: null, code: 'UNAVAILABLE' });
    expect((err as Error).message).toBe(`Management API not reachable at ${base}: no answer within 150 ms`);
  });

  it('reads error bodies that are not JSON', () => {
    expect(brokerErrorText('<html>Bad gateway</html>')).toBe('<html>Bad gateway</html>');
    expect(brokerErrorText('{"error":"bad_request","reason":"bad_request"}')).toBe('bad_request');
  });
});

describe('readBroker', () => {
  it('maps every list, joins connection names to services, and finds nothing missing', async () => {
    const base = await fixture(brokerRoute());
    const r = await readBroker(client(base), '/', 'mon');
    expect(r.capabilities).toEqual([]);
    expect(r.queues).toEqual([
      { name: 'audit', type: 'classic', durable: true, autoDelete: false, exclusive: false, state: null, ready: 0, unacked: 0, consumers: 0, rateIn: null, rateOut: null, rateAck: null },
      { name: 'orders', type: 'quorum', durable: true, autoDelete: false, exclusive: false, state: null, ready: 4, unacked: 2, consumers: 2, rateIn: 10, rateOut: 8, rateAck: null },
    ]);
    expect(r.bindings.map((b) => `${b.source}>${b.destination}`)).toEqual(['shop>orders', 'shop>audit']);
    expect(r.consumers.map((c) => [c.consumerTag, c.service, c.instanceId, c.agent, c.connectionName])).toEqual([
      ['c1', 'billing', 'billing-7f', 'sidecar', 'meshdeck-sidecar:billing/billing-7f'],
      ['c2', null, null, null, null],
    ]);
    expect(r.connections[0]).toMatchObject({ service: 'billing', publishRate: 3, channels: 3 });
    expect(r.overview).toMatchObject({ ratesMode: 'basic', publishRate: 12.5, user: 'mon', tags: ['monitoring'] });
    // Every list was trimmed with columns=.
    expect(seen.filter((s) => !s.startsWith('/api/whoami')).every((s) => s.includes('columns='))).toBe(true);
  });

  it('says what is missing: no monitoring tag, rates_mode none, no permission on the vhost', async () => {
    const refused = { status: 401, body: { error: 'not_authorised', reason: 'User not authorised to access virtual host' } };
    const base = await fixture(
      brokerRoute({
        whoami: { body: { name: 'mon', tags: ['management'] } },
        overview: { body: { rates_mode: 'none' } },
        'queues/%2F': refused,
        'exchanges/%2F': refused,
      }),
    );
    const r = await readBroker(client(base), '/', 'mon');
    expect(r.available).toBe(true);
    expect(r.capabilities.map((c) => c.area).sort()).toEqual(['monitoring', 'rates', 'vhost']);
    expect(r.capabilities.find((c) => c.area === 'rates')!.message).toBe('rates_mode none: the broker keeps no message rates, so no rates are shown');
    expect(r.capabilities.find((c) => c.area === 'vhost')!.message).toContain('no permission on vhost "/"');
    expect(r.capabilities.find((c) => c.area === 'monitoring')!.message).toContain('has no monitoring tag');
    expect(r.queues).toEqual([]);
    expect(r.bindings).toHaveLength(2); // what could be read is still shown (without the default exchange's)
  });

  it('reads who publishes to which exchange from a broker in rates_mode detailed, joined to the service', async () => {
    const base = await fixture(
      brokerRoute({
        overview: { body: { rates_mode: 'detailed', disable_stats: false } },
        'exchanges/%2F/shop': {
          body: { incoming: [{ channel_details: { name: 'ch9', connection_name: '10.0.0.1:5000 -> 10.0.0.2:5672' }, stats: { publish_details: { rate: 4.5 } } }] },
        },
      }),
    );
    const r = await readBroker(client(base), '/', 'mon');
    expect(r.publishers).toEqual([
      { exchange: 'shop', channel: 'ch9', rate: 4.5, connectionName: 'meshdeck-sidecar:billing/billing-7f', service: 'billing', instanceId: 'billing-7f', agent: 'sidecar' },
    ]);
    expect(seen).toContain('/api/exchanges/%2F/shop?columns=incoming');
    const g = buildFlows(r, [{ type: 'invoice.sent', producers: [{ service: 'billing', exchange: 'shop', perSecond: 4, total: 40 }], consumers: [] }], new Set(['billing']));
    expect(g.edges.find((e) => e.kind === 'publish')).toEqual({ from: 'publisher:billing', to: 'exchange:shop', kind: 'publish', rate: 4, source: 'both', keys: ['invoice.sent'] });
  });

  it('reads no publishers in rates_mode basic (the broker does not split them by exchange)', async () => {
    const base = await fixture(brokerRoute());
    expect((await readBroker(client(base), '/', 'mon')).publishers).toEqual([]);
    expect(seen.some((s) => s.startsWith('/api/exchanges/%2F/'))).toBe(false);
  });

  it('says statistics are disabled', async () => {
    const base = await fixture(brokerRoute({ overview: { body: { rates_mode: 'basic', disable_stats: true } } }));
    const r = await readBroker(client(base), '/', 'mon');
    expect(r.capabilities).toEqual([expect.objectContaining({ area: 'stats' })]);
  });

  it('says the credentials were refused, and reads nothing else', async () => {
    const base = await fixture(brokerRoute({ whoami: { status: 401, body: { error: 'not_authorized', reason: 'Login failed' } } }));
    const r = await readBroker(client(base), '/', 'mon');
    expect(r.available).toBe(false);
    expect(r.capabilities).toEqual([{ area: 'credentials', message: 'The management API refused user "mon" (401: not_authorized: Login failed); it needs a user with the monitoring tag' }]);
    expect(seen).toEqual(['/api/whoami']);
  });
});

describe('peerFromConnectionName', () => {
  it('reads meshdeck-<agent>:<service>/<instance> and nothing else', () => {
    expect(peerFromConnectionName('meshdeck-gateway:edge/edge-1')).toEqual({ connectionName: 'meshdeck-gateway:edge/edge-1', agent: 'gateway', service: 'edge', instanceId: 'edge-1' });
    expect(peerFromConnectionName('meshdeck-console:local')).toEqual({ connectionName: 'meshdeck-console:local', agent: null, service: null, instanceId: null });
    expect(peerFromConnectionName('')).toEqual({ connectionName: null, agent: null, service: null, instanceId: null });
  });
});

describe('buildFlows', () => {
  const reading: Pick<BrokerReading, 'queues' | 'bindings' | 'consumers'> = {
    queues: [
      { name: 'orders', type: 'quorum', durable: true, autoDelete: false, exclusive: false, state: null, ready: 0, unacked: 0, consumers: 2, rateIn: 10, rateOut: 8, rateAck: 8 },
      { name: 'audit', type: 'classic', durable: true, autoDelete: false, exclusive: false, state: null, ready: 0, unacked: 0, consumers: 0, rateIn: 6, rateOut: 0, rateAck: 0 },
    ],
    bindings: [
      { source: 'shop', destination: 'orders', destinationType: 'queue', routingKey: 'order.placed' },
      { source: 'shop', destination: 'audit', destinationType: 'queue', routingKey: '#' },
      { source: 'legacy', destination: 'audit', destinationType: 'queue', routingKey: '#' },
    ],
    consumers: [
      { queue: 'orders', consumerTag: 'a', channel: 'ch1', prefetch: 1, ackRequired: true, active: true, connectionName: 'meshdeck-sdk:billing/b1', service: 'billing', instanceId: 'b1', agent: 'sdk' },
      { queue: 'orders', consumerTag: 'b', channel: 'ch2', prefetch: 1, ackRequired: true, active: true, connectionName: 'meshdeck-sdk:billing/b2', service: 'billing', instanceId: 'b2', agent: 'sdk' },
    ],
  };
  const events: EventTypeFlow[] = [
    {
      type: 'order.placed',
      producers: [{ service: 'checkout', exchange: 'shop', perSecond: 9.5, total: 95 }],
      consumers: [{ service: 'billing', queue: 'orders', perSecond: 7.5, total: 75, failed: 0 }],
    },
  ];

  it('joins broker and agent views into publisher → exchange → queue → consumer with rates', () => {
    const g = buildFlows(reading, events, new Set(['billing', 'checkout']));
    expect(g.edges).toEqual([
      { from: 'exchange:legacy', to: 'queue:audit', kind: 'route', rate: null, source: 'broker', keys: ['#'] },
      { from: 'exchange:shop', to: 'queue:audit', kind: 'route', rate: null, source: 'broker', keys: ['#'] },
      { from: 'exchange:shop', to: 'queue:orders', kind: 'route', rate: 10, source: 'broker', keys: ['order.placed'] },
      { from: 'publisher:checkout', to: 'exchange:shop', kind: 'publish', rate: 9.5, source: 'agents', keys: ['order.placed'] },
      { from: 'queue:orders', to: 'consumer:billing', kind: 'deliver', rate: 7.5, source: 'both', keys: ['order.placed'] },
    ]);
    expect(g.nodes.find((n) => n.id === 'consumer:billing')).toEqual({ id: 'consumer:billing', kind: 'consumer', label: 'billing', service: 'billing', inMesh: true });
  });

  it('shares a queue’s delivery rate among its consumers when the agents say nothing', () => {
    const g = buildFlows(
      { ...reading, consumers: [reading.consumers[0]!, { ...reading.consumers[1]!, service: null, instanceId: null, agent: null, connectionName: 'legacy-app' }] },
      [],
      new Set(),
    );
    const deliver = g.edges.filter((e) => e.kind === 'deliver');
    expect(deliver).toEqual([
      { from: 'queue:orders', to: 'consumer:billing', kind: 'deliver', rate: 4, source: 'broker', keys: [] },
      { from: 'queue:orders', to: 'consumer:conn:legacy-app', kind: 'deliver', rate: 4, source: 'broker', keys: [] },
    ]);
    expect(g.nodes.find((n) => n.id === 'consumer:billing')!.inMesh).toBe(false);
  });
});

describe('BrokerMonitor', () => {
  const monitorFor = (access: () => ManagementAccess, statsIntervalMs: number) =>
    new BrokerMonitor({ profileId: 'p', access, events: () => [], meshServices: () => new Set(), subscribed: () => false, logger: silentLogger, statsIntervalMs });

  it('never reads faster than the statistics interval', async () => {
    const base = await fixture(brokerRoute());
    const monitor = monitorFor(() => ({ baseUrl: base, defaulted: false, vhost: '/', username: 'mon', password: 's3cret', separateUser: true }), 60_000);
    const first = await monitor.snapshot();
    const again = await Promise.all([monitor.snapshot(), monitor.snapshot()]);
    expect(again.every((s) => s.at === first.at)).toBe(true);
    expect(seen.filter((s) => s.startsWith('/api/whoami'))).toHaveLength(1);
    expect(first.pollIntervalMs).toBe(60_000);
    monitor.close();
  });

  it('says when there is no URL for a remote broker, and backs off', async () => {
    const remote = monitorFor(() => ({ baseUrl: null, defaulted: true, vhost: '/', username: 'u', password: '', separateUser: false }), 5000);
    const s = await remote.snapshot();
    expect(s.available).toBe(false);
    expect(s.capabilities[0]!.area).toBe('config');
    expect(s.pollIntervalMs).toBe(10_000);
    remote.close();
  });
});
