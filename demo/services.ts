/**
 * Behaviour of the demo services: small, realistic handlers with a little latency and the
 * occasional business event. Outbound HTTP goes through the instance's sidecar.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EVENTS } from './topology.js';

export interface ServiceContext {
  service: string;
  instanceId: string;
  /** Calls another service through the sidecar: http://127.0.0.1:<sidecar>/<service><path>. */
  call(service: string, path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: unknown }>;
  publish(type: string, data: unknown): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: ServiceContext) => Promise<void>;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const jitter = (min: number, max: number) => min + Math.random() * (max - min);

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // request bodies are not used by the demo services
  }
}

const handlers: Record<string, Handler> = {
  async web(req, res, ctx) {
    await drain(req);
    if (req.url?.startsWith('/page')) {
      const items = await ctx.call('inventory', '/items');
      await pause(jitter(1, 4));
      if (items.status >= 500) return json(res, 502, { error: 'inventory unavailable', upstream: items.status });
      return json(res, 200, { page: 'home', items: items.body, servedBy: ctx.instanceId });
    }
    json(res, 404, { error: 'not found' });
  },

  async checkout(req, res, ctx) {
    await drain(req);
    if (req.method === 'POST' && req.url?.startsWith('/checkout')) {
      const orderId = `${ctx.instanceId}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
      const reserved = await ctx.call('inventory', '/reserve', { method: 'POST', body: { orderId } });
      if (reserved.status >= 500) return json(res, 503, { error: 'could not reserve stock', upstream: reserved.status });
      const charged = await ctx.call('payments', '/charge', { method: 'POST', body: { orderId, amount: 42 } });
      if (charged.status >= 500) return json(res, 502, { error: 'payment failed', upstream: charged.status });
      await ctx.publish(EVENTS.orderPlaced, { orderId, amount: 42 }).catch(() => undefined);
      return json(res, 200, { orderId, status: 'placed' });
    }
    json(res, 404, { error: 'not found' });
  },

  async payments(req, res, ctx) {
    await drain(req);
    if (req.method === 'POST' && req.url?.startsWith('/charge')) {
      await pause(jitter(4, 14));
      await ctx.publish(EVENTS.paymentCaptured, { at: Date.now(), by: ctx.instanceId }).catch(() => undefined);
      return json(res, 200, { captured: true });
    }
    json(res, 404, { error: 'not found' });
  },

  async inventory(req, res) {
    await drain(req);
    if (req.url?.startsWith('/items')) {
      await pause(jitter(0.5, 3));
      return json(res, 200, [{ sku: 'mesh-mug', stock: 12 }, { sku: 'rabbit-socks', stock: 4 }]);
    }
    if (req.method === 'POST' && req.url?.startsWith('/reserve')) {
      await pause(jitter(1, 5));
      return json(res, 200, { reserved: true });
    }
    json(res, 404, { error: 'not found' });
  },
};

export function serviceHandler(service: string): Handler {
  const handler = handlers[service];
  if (!handler) throw new Error(`the demo has no HTTP service "${service}"`);
  return handler;
}

/** Which domain events each service consumes, and from which queue. */
export const CONSUMERS: Record<string, { queue: string; types: string[] }> = {
  inventory: { queue: 'demo.inventory.orders', types: [EVENTS.orderPlaced] },
  notifications: { queue: 'demo.notifications', types: [EVENTS.orderPlaced, EVENTS.paymentCaptured] },
};
