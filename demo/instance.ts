/**
 * One demo instance, as its own process: the service's HTTP server and its sidecar (or the
 * gateway, or just the agent SDK for the events-only service). SIGUSR1 pauses its event
 * consumers (so their queue backs up), SIGUSR2 resumes them.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gateway } from '../agent/gateway/gateway.js';
import { MeshAgent } from '../agent/sdk/mesh-agent.js';
import { Sidecar } from '../agent/sidecar/sidecar.js';
import type { Logger } from '../core/lib/log.js';
import { CONSUMERS, serviceHandler, type ServiceContext } from './services.js';
import { GATEWAY_ROUTES, type DemoKind } from './topology.js';

export interface InstanceOptions {
  service: string;
  kind: DemoKind;
  zone: string;
  instanceId: string;
  broker: string;
  /** The port other services reach this instance on (its sidecar or gateway). */
  port: number;
  logger: Logger;
}

export interface RunningInstance {
  stop(): Promise<void>;
}

export async function runInstance(options: InstanceOptions): Promise<RunningInstance> {
  const { service, zone, instanceId, broker, port, logger } = options;
  let agent: MeshAgent;
  const closers: Array<() => Promise<void>> = [];
  // Fault signals reach every instance; without handlers SIGUSR2 would end the process.
  let pause: () => void = () => undefined;
  let resumeConsumers: () => void = () => undefined;
  process.on('SIGUSR1', () => pause());
  process.on('SIGUSR2', () => resumeConsumers());

  if (options.kind === 'gateway') {
    const gateway = new Gateway({ service, zone, broker, listenPort: port, instanceId, routes: GATEWAY_ROUTES, logger });
    await gateway.start();
    return { stop: () => gateway.stop() };
  }

  if (options.kind === 'http') {
    const handler = serviceHandler(service);
    let ctx: ServiceContext | null = null;
    const server = createServer((req, res) => {
      handler(req, res, ctx!).catch((err: unknown) => {
        logger.warn('demo handler failed', { err });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const upstream = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const sidecar = new Sidecar({ service, zone, broker, upstream, listenPort: port, instanceId, version: '1.0.0', logger });
    await sidecar.start();
    agent = sidecar.agent;
    ctx = {
      service,
      instanceId,
      async call(target, path, init = {}) {
        const res = await fetch(`http://127.0.0.1:${port}/${target}${path}`, {
          method: init.method ?? 'GET',
          ...(init.body !== undefined ? { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } } : {}),
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // plain text answer (e.g. a 503 from the mesh)
        }
        return { status: res.status, body };
      },
      publish: (type, data) => agent.publishEvent(type, data),
    };
    closers.push(
      () => sidecar.stop(),
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
  } else {
    agent = new MeshAgent({ broker, service, zone, address: `127.0.0.1:${port}`, instanceId, agent: 'sdk', version: '1.0.0', logger });
    agent.start();
    closers.push(() => agent.stop());
  }

  // Event consumers, pausable so a queue can be made to back up on purpose.
  const consumer = CONSUMERS[service];
  let resume: (() => void) | null = null;
  let paused: Promise<void> | null = null;
  if (consumer) {
    const stop = agent.consumeEvents(consumer.queue, consumer.types, async () => {
      if (paused) await paused;
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 3));
    });
    closers.unshift(stop);
  }
  pause = () => {
    if (paused || !consumer) return;
    paused = new Promise((resolve) => (resume = resolve));
    logger.warn('event consumers paused (demo fault)');
  };
  resumeConsumers = () => {
    if (!paused) return;
    resume?.();
    paused = null;
    resume = null;
    logger.info('event consumers resumed');
  };

  return {
    async stop() {
      resume?.();
      for (const close of closers) await close().catch(() => undefined);
    },
  };
}
