/**
 * Every exchange, queue, binding and routing key of the protocol, declared in one place.
 * Agents and the core both declare what they use (declarations are idempotent); an agent in
 * another language declares the same names and arguments (docs/protocol.md lists them).
 */
export const CONTENT_TYPE = 'application/cloudevents+json';

export const EXCHANGES = {
  /** Instance register / heartbeat / deregister (registry.<service>.<instanceId>.<register|heartbeat|deregister>), and health signals (signal.<service>.<instanceId>, about the target). */
  registry: 'meshdeck.registry',
  /** Per-instance telemetry batches. Key: telemetry.<service>.<instanceId> */
  telemetry: 'meshdeck.telemetry',
  /** Commands (command.<service>.<instanceId|all>) and acknowledgements (ack.<service>.<instanceId>). */
  control: 'meshdeck.control',
  /** Endpoint sets pushed by the core (endpoints.<service>) and requests for them (request). */
  discovery: 'meshdeck.discovery',
  /** Domain events published by services. Key: the event type. */
  events: 'meshdeck.events',
  /** Messages no consumer could accept, with the reason in the x-meshdeck-reason header. */
  deadLetter: 'meshdeck.dead-letter',
} as const;

export const QUEUES = {
  /** Stream: late or restarted consoles replay registry history from it. */
  registryStream: 'meshdeck.registry',
  /** Stream: telemetry, replayed from a stored offset. */
  telemetryStream: 'meshdeck.telemetry',
  /** Acknowledgements from agents, consumed by the leading core. */
  acks: 'meshdeck.control.acks',
  /** Discovery requests, answered by any core (competing consumers). */
  discoveryRequests: 'meshdeck.discovery.requests',
  deadLetter: 'meshdeck.dead-letter',
} as const;

/** Per-instance control queue, declared by the agent. */
export function controlQueue(service: string, instanceId: string): string {
  return `meshdeck.control.${service}.${instanceId}`;
}

export const routingKeys = {
  register: (service: string, instanceId: string) => `registry.${service}.${instanceId}.register`,
  heartbeat: (service: string, instanceId: string) => `registry.${service}.${instanceId}.heartbeat`,
  deregister: (service: string, instanceId: string) => `registry.${service}.${instanceId}.deregister`,
  telemetry: (service: string, instanceId: string) => `telemetry.${service}.${instanceId}`,
  command: (service: string, instanceId?: string) => `command.${service}.${instanceId ?? 'all'}`,
  ack: (service: string, instanceId: string) => `ack.${service}.${instanceId}`,
  endpoints: (service: string) => `endpoints.${service}`,
  discoveryRequest: 'request',
  /** A health signal about `service`/`instanceId` (the target, not the reporter). */
  signal: (service: string, instanceId: string) => `signal.${service}.${instanceId}`,
} as const;

/** Stream arguments: retention by age and size, small segments so retention acts promptly. */
export const STREAM_ARGS = {
  registry: { 'x-queue-type': 'stream', 'x-max-age': '7D', 'x-max-length-bytes': 1_000_000_000, 'x-stream-max-segment-size-bytes': 50_000_000 },
  telemetry: { 'x-queue-type': 'stream', 'x-max-age': '1D', 'x-max-length-bytes': 2_000_000_000, 'x-stream-max-segment-size-bytes': 50_000_000 },
} as const;

/** An agent's control queue outlives short disconnects but not a dead instance (10 min unused). */
export const CONTROL_QUEUE_ARGS = { 'x-expires': 600_000, 'x-max-length': 10_000 } as const;
export const DEAD_LETTER_ARGS = { 'x-max-length': 100_000, 'x-overflow': 'drop-head' } as const;

/** Headers Meshdeck sets on dead-lettered messages. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-meshdeck-reason',
  exchange: 'x-meshdeck-original-exchange',
  routingKey: 'x-meshdeck-original-routing-key',
  consumer: 'x-meshdeck-consumer',
  at: 'x-meshdeck-dead-lettered-at',
} as const;

type Args = Record<string, unknown>;
export interface ExchangeDecl {
  exchange: string;
  type: 'topic' | 'fanout' | 'direct';
  durable: true;
}
export interface QueueDecl {
  queue: string;
  durable: boolean;
  arguments?: Args;
}
export interface BindingDecl {
  queue: string;
  exchange: string;
  routingKey: string;
}

export const EXCHANGE_DECLS: readonly ExchangeDecl[] = [
  { exchange: EXCHANGES.registry, type: 'topic', durable: true },
  { exchange: EXCHANGES.telemetry, type: 'topic', durable: true },
  { exchange: EXCHANGES.control, type: 'topic', durable: true },
  { exchange: EXCHANGES.discovery, type: 'topic', durable: true },
  { exchange: EXCHANGES.events, type: 'topic', durable: true },
  { exchange: EXCHANGES.deadLetter, type: 'fanout', durable: true },
];

/** Binding key of each core's own exclusive, server-named heartbeat queue on meshdeck.registry (not in the stream). */
export const HEARTBEAT_BINDING_KEY = 'registry.*.*.heartbeat';
/** Each core reads health signals live from the same queue as heartbeats. */
export const SIGNAL_BINDING_KEY = 'signal.#';

/** What the core declares: the streams, its shared queues and their bindings. */
export const CORE_QUEUE_DECLS: readonly QueueDecl[] = [
  { queue: QUEUES.registryStream, durable: true, arguments: { ...STREAM_ARGS.registry } },
  { queue: QUEUES.telemetryStream, durable: true, arguments: { ...STREAM_ARGS.telemetry } },
  { queue: QUEUES.acks, durable: true },
  { queue: QUEUES.discoveryRequests, durable: true },
  { queue: QUEUES.deadLetter, durable: true, arguments: { ...DEAD_LETTER_ARGS } },
];

export const CORE_BINDINGS: readonly BindingDecl[] = [
  // Register and deregister only: heartbeats (one per instance per second) would crowd them out of
  // the stream's retention; each core reads heartbeats live (HEARTBEAT_BINDING_KEY).
  { queue: QUEUES.registryStream, exchange: EXCHANGES.registry, routingKey: 'registry.*.*.register' },
  { queue: QUEUES.registryStream, exchange: EXCHANGES.registry, routingKey: 'registry.*.*.deregister' },
  { queue: QUEUES.telemetryStream, exchange: EXCHANGES.telemetry, routingKey: 'telemetry.#' },
  { queue: QUEUES.acks, exchange: EXCHANGES.control, routingKey: 'ack.#' },
  { queue: QUEUES.discoveryRequests, exchange: EXCHANGES.discovery, routingKey: routingKeys.discoveryRequest },
  { queue: QUEUES.deadLetter, exchange: EXCHANGES.deadLetter, routingKey: '' },
];

/** An agent's own control queue and its bindings (one instance, and its whole service). */
export function agentControlDecls(service: string, instanceId: string): { queue: QueueDecl; bindings: BindingDecl[] } {
  const queue = controlQueue(service, instanceId);
  return {
    queue: { queue, durable: true, arguments: { ...CONTROL_QUEUE_ARGS } },
    bindings: [
      { queue, exchange: EXCHANGES.control, routingKey: routingKeys.command(service, instanceId) },
      { queue, exchange: EXCHANGES.control, routingKey: routingKeys.command(service) },
    ],
  };
}
