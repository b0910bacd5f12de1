import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  agentControlDecls,
  CONTENT_TYPE,
  CONTROL_QUEUE_ARGS,
  controlQueue,
  CORE_BINDINGS,
  CORE_QUEUE_DECLS,
  DEAD_LETTER_ARGS,
  DEAD_LETTER_HEADERS,
  EXCHANGE_DECLS,
  EXCHANGES,
  HEARTBEAT_BINDING_KEY,
  QUEUES,
  routingKeys,
  STREAM_ARGS,
} from './topology.js';

/** AMQP 0-9-1 topic matching: "*" is exactly one word, "#" zero or more. */
function topicMatches(pattern: string, key: string): boolean {
  const p = pattern.split('.');
  const k = key.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') return match(i + 1, j) || (j < k.length && match(i, j + 1));
    if (j === k.length) return false;
    return (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

/** Queues a message with this exchange and routing key lands in, by the core's bindings. */
function routedTo(exchange: string, key: string): string[] {
  const type = EXCHANGE_DECLS.find((e) => e.exchange === exchange)?.type;
  return CORE_BINDINGS.filter(
    (b) => b.exchange === exchange && (type === 'fanout' || (type === 'topic' ? topicMatches(b.routingKey, key) : b.routingKey === key)),
  ).map((b) => b.queue);
}

describe('routing keys', () => {
  it('builds every key of the protocol', () => {
    expect(routingKeys.register('checkout', 'checkout-1')).toBe('registry.checkout.checkout-1.register');
    expect(routingKeys.heartbeat('checkout', 'checkout-1')).toBe('registry.checkout.checkout-1.heartbeat');
    expect(routingKeys.deregister('checkout', 'checkout-1')).toBe('registry.checkout.checkout-1.deregister');
    expect(routingKeys.telemetry('checkout', 'checkout-1')).toBe('telemetry.checkout.checkout-1');
    expect(routingKeys.command('checkout', 'checkout-1')).toBe('command.checkout.checkout-1');
    expect(routingKeys.command('checkout')).toBe('command.checkout.all');
    expect(routingKeys.ack('checkout', 'checkout-1')).toBe('ack.checkout.checkout-1');
    expect(routingKeys.endpoints('checkout')).toBe('endpoints.checkout');
    expect(routingKeys.discoveryRequest).toBe('request');
  });

  it('instance ids with ":" and "_" stay one word', () => {
    expect(routingKeys.heartbeat('checkout', 'pod:checkout_7f9c').split('.')).toHaveLength(4);
  });

  it('control queue name', () => {
    expect(controlQueue('checkout', 'checkout-1')).toBe('meshdeck.control.checkout.checkout-1');
  });

  it('content type is structured-mode CloudEvents JSON', () => {
    expect(CONTENT_TYPE).toBe('application/cloudevents+json');
  });
});

describe('declarations', () => {
  it('six durable exchanges: five topic, dead-letter fanout', () => {
    expect(EXCHANGE_DECLS.map((e) => [e.exchange, e.type, e.durable])).toEqual([
      ['meshdeck.registry', 'topic', true],
      ['meshdeck.telemetry', 'topic', true],
      ['meshdeck.control', 'topic', true],
      ['meshdeck.discovery', 'topic', true],
      ['meshdeck.events', 'topic', true],
      ['meshdeck.dead-letter', 'fanout', true],
    ]);
    expect(new Set(EXCHANGE_DECLS.map((e) => e.exchange))).toEqual(new Set(Object.values(EXCHANGES)));
  });

  it('every queue in CORE_BINDINGS is declared in CORE_QUEUE_DECLS', () => {
    const declared = new Set(CORE_QUEUE_DECLS.map((q) => q.queue));
    for (const b of CORE_BINDINGS) expect(declared, b.queue).toContain(b.queue);
  });

  it('every exchange used by a binding exists in EXCHANGE_DECLS', () => {
    const exchanges = new Set(EXCHANGE_DECLS.map((e) => e.exchange));
    for (const b of CORE_BINDINGS) expect(exchanges, b.exchange).toContain(b.exchange);
    for (const b of agentControlDecls('checkout', 'checkout-1').bindings) expect(exchanges).toContain(b.exchange);
  });

  it('every declared core queue is bound to something and durable', () => {
    for (const q of CORE_QUEUE_DECLS) {
      expect(q.durable).toBe(true);
      expect(CORE_BINDINGS.some((b) => b.queue === q.queue), q.queue).toBe(true);
    }
    expect(new Set(CORE_QUEUE_DECLS.map((q) => q.queue))).toEqual(new Set(Object.values(QUEUES)));
  });

  it('no declaration is repeated', () => {
    const exchanges = EXCHANGE_DECLS.map((e) => e.exchange);
    const queues = CORE_QUEUE_DECLS.map((q) => q.queue);
    const bindings = CORE_BINDINGS.map((b) => `${b.queue}|${b.exchange}|${b.routingKey}`);
    expect(new Set(exchanges).size).toBe(exchanges.length);
    expect(new Set(queues).size).toBe(queues.length);
    expect(new Set(bindings).size).toBe(bindings.length);
  });

  it('the two streams have x-queue-type stream with retention; the other queues are classic', () => {
    const byName = new Map(CORE_QUEUE_DECLS.map((q) => [q.queue, q]));
    for (const name of [QUEUES.registryStream, QUEUES.telemetryStream]) {
      const args = byName.get(name)?.arguments ?? {};
      expect(args['x-queue-type']).toBe('stream');
      expect(args['x-max-age']).toMatch(/^\d+[YMDhms]$/);
      expect(args['x-max-length-bytes']).toBeGreaterThan(0);
    }
    expect(byName.get(QUEUES.registryStream)?.arguments).toEqual(STREAM_ARGS.registry);
    expect(byName.get(QUEUES.telemetryStream)?.arguments).toEqual(STREAM_ARGS.telemetry);
    for (const name of [QUEUES.acks, QUEUES.discoveryRequests, QUEUES.deadLetter]) {
      expect(byName.get(name)?.arguments?.['x-queue-type'] ?? 'classic').toBe('classic');
    }
  });

  it('dead-letter queue: bounded, dropping the oldest', () => {
    const dl = CORE_QUEUE_DECLS.find((q) => q.queue === QUEUES.deadLetter);
    expect(dl?.arguments).toEqual({ 'x-max-length': 100_000, 'x-overflow': 'drop-head' });
    expect(DEAD_LETTER_ARGS).toEqual(dl?.arguments);
    expect(Object.values(DEAD_LETTER_HEADERS)).toEqual([
      'x-meshdeck-reason',
      'x-meshdeck-original-exchange',
      'x-meshdeck-original-routing-key',
      'x-meshdeck-consumer',
      'x-meshdeck-dead-lettered-at',
    ]);
  });
});

describe('routing through the core bindings', () => {
  it('register and deregister reach the registry stream; heartbeats do not', () => {
    expect(routedTo(EXCHANGES.registry, routingKeys.register('checkout', 'checkout-1'))).toEqual([QUEUES.registryStream]);
    expect(routedTo(EXCHANGES.registry, routingKeys.deregister('checkout', 'checkout-1'))).toEqual([QUEUES.registryStream]);
    expect(routedTo(EXCHANGES.registry, routingKeys.heartbeat('checkout', 'checkout-1'))).toEqual([]);
  });

  it("heartbeats match each core's own heartbeat binding, and nothing else does", () => {
    expect(topicMatches(HEARTBEAT_BINDING_KEY, routingKeys.heartbeat('checkout', 'pod:checkout_7f9c'))).toBe(true);
    expect(topicMatches(HEARTBEAT_BINDING_KEY, routingKeys.register('checkout', 'checkout-1'))).toBe(false);
    expect(topicMatches(HEARTBEAT_BINDING_KEY, routingKeys.deregister('checkout', 'checkout-1'))).toBe(false);
  });

  it('telemetry reaches the telemetry stream, acks the ack queue, requests the request queue', () => {
    expect(routedTo(EXCHANGES.telemetry, routingKeys.telemetry('checkout', 'checkout-1'))).toEqual([QUEUES.telemetryStream]);
    expect(routedTo(EXCHANGES.control, routingKeys.ack('checkout', 'checkout-1'))).toEqual([QUEUES.acks]);
    expect(routedTo(EXCHANGES.discovery, routingKeys.discoveryRequest)).toEqual([QUEUES.discoveryRequests]);
    expect(routedTo(EXCHANGES.deadLetter, 'anything')).toEqual([QUEUES.deadLetter]);
  });

  it('commands and endpoint pushes reach no core queue', () => {
    expect(routedTo(EXCHANGES.control, routingKeys.command('checkout', 'checkout-1'))).toEqual([]);
    expect(routedTo(EXCHANGES.control, routingKeys.command('checkout'))).toEqual([]);
    expect(routedTo(EXCHANGES.discovery, routingKeys.endpoints('checkout'))).toEqual([]);
  });
});

describe('agentControlDecls', () => {
  const { queue, bindings } = agentControlDecls('checkout', 'checkout-1');

  it('declares the durable per-instance queue with expiry and a length cap', () => {
    expect(queue).toEqual({
      queue: 'meshdeck.control.checkout.checkout-1',
      durable: true,
      arguments: { 'x-expires': 600_000, 'x-max-length': 10_000 },
    });
    expect(queue.arguments).toEqual(CONTROL_QUEUE_ARGS);
    expect(queue.arguments).not.toBe(CONTROL_QUEUE_ARGS);
  });

  it('binds the instance key and the service-wide key on meshdeck.control', () => {
    expect(bindings).toEqual([
      { queue: 'meshdeck.control.checkout.checkout-1', exchange: 'meshdeck.control', routingKey: 'command.checkout.checkout-1' },
      { queue: 'meshdeck.control.checkout.checkout-1', exchange: 'meshdeck.control', routingKey: 'command.checkout.all' },
    ]);
  });

  it('an instance gets commands for itself and its service, not for siblings or other services', () => {
    const matches = (key: string) => bindings.some((b) => topicMatches(b.routingKey, key));
    expect(matches(routingKeys.command('checkout', 'checkout-1'))).toBe(true);
    expect(matches(routingKeys.command('checkout'))).toBe(true);
    expect(matches(routingKeys.command('checkout', 'checkout-2'))).toBe(false);
    expect(matches(routingKeys.command('payments'))).toBe(false);
    expect(matches(routingKeys.ack('checkout', 'checkout-1'))).toBe(false);
  });
});

describe('docs/protocol.md lists the topology of the code', () => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const rows = doc.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('|'));
  const row = (...cells: string[]) => rows.find((line) => cells.every((c) => line.includes(c)));

  it.each(EXCHANGE_DECLS.map((e) => [e.exchange, e.type]))('exchange %s (%s, durable)', (exchange, type) => {
    expect(row(`| \`${exchange}\` | ${type} | yes |`)).toBeDefined();
  });

  it.each(CORE_QUEUE_DECLS.map((q) => [q.queue, q]))('queue %s with its arguments', (name, q) => {
    const args = Object.entries(q.arguments ?? {}).map(([k, v]) => `\`${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}\``);
    const kind = q.arguments?.['x-queue-type'] === 'stream' ? 'stream' : 'classic';
    const line = row(`| \`${name}\` | ${kind} | yes |`, ...args);
    expect(line, `${name}: ${args.join(', ')}`).toBeDefined();
    if (!args.length) expect(line).toContain('| none |');
  });

  it('the agent control queue with its arguments', () => {
    const args = Object.entries(CONTROL_QUEUE_ARGS).map(([k, v]) => `\`${k}: ${v}\``);
    expect(row('| `meshdeck.control.<service>.<instanceId>` | classic | yes |', ...args)).toBeDefined();
  });

  it.each(CORE_BINDINGS.map((b) => [b.queue, b.exchange, b.routingKey]))('binding %s ← %s with %j', (queue, exchange, key) => {
    expect(row(`\`${queue}\``, `| \`${exchange}\` | ${key === '' ? '(empty' : `\`${key}\``}`)).toBeDefined();
  });

  it('the bindings of the core heartbeat queue and the agent control queue', () => {
    expect(row("core's heartbeat queue", `| \`${EXCHANGES.registry}\` | \`${HEARTBEAT_BINDING_KEY}\``)).toBeDefined();
    for (const b of agentControlDecls('<service>', '<instanceId>').bindings)
      expect(row(`| \`${b.queue}\` | \`${b.exchange}\` | \`${b.routingKey}\``)).toBeDefined();
  });

  it('the dead-letter headers', () => {
    for (const header of Object.values(DEAD_LETTER_HEADERS)) expect(row(`| \`${header}\` |`), header).toBeDefined();
  });
});
