/**
 * The Meshdeck agent SDK: what any service process needs to be a member of the mesh, with or
 * without a sidecar. It registers the instance, heartbeats, reports per-edge telemetry once a
 * second, keeps the endpoint sets the core pushes, obeys control commands (deduplicated,
 * expiry-checked, acknowledged) and publishes domain events. The sidecar and the gateway are
 * built on it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EventEmitter } from 'node:events';
import type { AsyncMessage, Connection, Publisher } from 'rabbitmq-client';
import { connectOptionsFromUrl } from '../../core/bus/broker-url.js';
import { BrokerConnection, type BackoffPolicy, type SessionContext } from '../../core/bus/connection.js';
import { settleWithin } from '../../core/lib/settle.js';
import { createDeadLetterer, type DeadLetterer } from '../../core/bus/dead-letter.js';
import { declareCoreTopology } from '../../core/bus/mesh-topology.js';
import type { Logger } from '../../core/lib/log.js';
import { BINARY_TELEMETRY_CONTENT_TYPE, isBinaryTelemetry } from '../../core/protocol/binary-telemetry.js';
import { EncodeError, decodeMeshEvent, encodeMeshEvent } from '../../core/protocol/codec.js';
import type { ControlAck, ControlCommand, DiscoveryEndpoints, MeshEvent } from '../../core/protocol/messages.js';
import { CONTENT_TYPE, EXCHANGES, agentControlDecls, routingKeys } from '../../core/protocol/topology.js';
import { CommandVerifier } from '../../core/control/signing.js';
import { TelemetryRecorder } from './telemetry-recorder.js';

export interface MeshAgentOptions {
  broker: string;
  service: string;
  zone: string;
  /** host:port where this instance accepts mesh traffic. */
  address: string;
  instanceId?: string;
  weight?: number;
  version?: string;
  metadata?: Record<string, string>;
  capacity?: number;
  agent?: 'sidecar' | 'gateway' | 'sdk';
  heartbeatIntervalMs?: number;
  telemetryIntervalMs?: number;
  /**
   * How telemetry batches travel (docs/protocol.md §6.4): 'binary' (default; §6.4.1, about a
   * third of the JSON size, read by cores without JSON parsing) or 'json' (for cores that predate
   * the binary form).
   */
  telemetryEncoding?: 'binary' | 'json';
  logger: Logger;
  backoff?: BackoffPolicy;
  /**
   * Trusted command keys (`keyId:publicKey`, as `meshdeck security` / the console shows them).
   * None: the agent pins the first key it sees (trust on first use) and logs a warning.
   */
  commandKeys?: Array<{ keyId: string; publicKey: string }>;
  /** Refuse unsigned commands (default true); false accepts them only while no key is known. */
  requireSignedCommands?: boolean;
  /** Clock skew allowed for a command's signedAt (default 30 s). */
  maxClockSkewMs?: number;
}

export type CommandOutcome = { status: 'applied' | 'rejected'; detail?: string };
export type CommandHandler = (command: ControlCommand) => CommandOutcome;

const DEDUPE_IDS = 1000;
/**
 * Unconfirmed telemetry batches kept to send again: at most 900 (15 minutes of one batch a second)
 * and 16 MiB; past either, the oldest are dropped and counted in `stats.telemetryDropped`.
 * Commands never go through here (the core keeps them in its SQLite outbox).
 */
export const MAX_UNSENT_TELEMETRY = 900;
export const MAX_UNSENT_TELEMETRY_BYTES = 16 * 1024 * 1024;

export function defaultInstanceId(service: string): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40);
  return `${service}-${host}-${process.pid}-${randomUUID().slice(0, 6)}`;
}

export class MeshAgent extends EventEmitter<{ endpoints: [DiscoveryEndpoints]; command: [ControlCommand, ControlAck]; session: [] }> {
  readonly instanceId: string;
  readonly connection: BrokerConnection;
  readonly telemetry: TelemetryRecorder;
  private readonly endpointSets = new Map<string, DiscoveryEndpoints>();
  private readonly seenCommands = new Map<string, ControlAck['status']>();
  private readonly activeCommands = new Set<string>();
  private commandHandler: CommandHandler = () => ({ status: 'rejected', detail: 'this agent does not handle control commands' });
  private publisher: Publisher | null = null;
  /** Encoded telemetry batches not yet confirmed by the broker, oldest first. */
  private readonly unsentTelemetry: Buffer[] = [];
  private sendingTelemetry = false;
  /**
   * What the publishing side holds and did: batches sent and dropped (oldest first, past the
   * bounds), batches and bytes waiting to be confirmed, heartbeats not sent because the broker
   * had blocked the connection (a heartbeat is superseded by the next one; writing it would only
   * grow the socket's buffer).
   */
  readonly stats = { telemetrySent: 0, telemetryDropped: 0, telemetryQueued: 0, telemetryQueuedBytes: 0, heartbeatsSkippedWhileBlocked: 0 };
  private confirmPublisher: Publisher | null = null;
  private deadLetter: DeadLetterer | null = null;
  private seq = 0;
  private state: 'serving' | 'draining' = 'serving';
  private weight: number;
  private inflightProbe: () => number = () => 0;
  private readonly logger: Logger;
  private readonly source: string;
  private stopped = false;
  private readonly verifier: CommandVerifier;

  constructor(private readonly options: MeshAgentOptions) {
    super();
    this.instanceId = options.instanceId ?? defaultInstanceId(options.service);
    this.weight = options.weight ?? 100;
    this.logger = options.logger.child(`agent.${options.service}`);
    this.source = `meshdeck://${options.service}/${this.instanceId}`;
    this.telemetry = new TelemetryRecorder(Date.now());
    const configured = options.commandKeys ?? [];
    this.verifier = new CommandVerifier({
      trusted: configured,
      ...(options.requireSignedCommands !== undefined ? { requireSignedCommands: options.requireSignedCommands } : {}),
      ...(options.maxClockSkewMs !== undefined ? { maxSkewMs: options.maxClockSkewMs } : {}),
      onPinned: (keyId) =>
        this.logger.warn('pinned the first command key seen (trust on first use); in production configure the mesh key with --command-key or MESHDECK_COMMAND_KEYS', { keyId }),
      onLearned: (keyId, endorsedBy) => this.logger.info('learned a rotated command key', { keyId, endorsedBy }),
    });
    const connectionName = `meshdeck-${options.agent ?? 'sdk'}:${options.service}/${this.instanceId}`;
    this.connection = new BrokerConnection({
      profileId: this.instanceId,
      resolveOptions: () => connectOptionsFromUrl(options.broker, connectionName),
      logger: this.logger,
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
    this.connection.onSession((amqp, session) => this.startSession(amqp, session));
  }

  get service(): string {
    return this.options.service;
  }

  /** Starts connecting; registration happens on every (re)connection. */
  start(): void {
    this.stopped = false;
    this.connection.start();
  }

  /** Deregisters (when connected) and closes the connection. */
  async stop(reason = 'shutdown'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.confirmPublisher && this.connection.amqp) {
      const body = encodeMeshEvent('io.meshdeck.instance.deregister.v1', { service: this.service, instanceId: this.instanceId, reason }, { source: this.source });
      await this.confirmPublisher
        .send({ exchange: EXCHANGES.registry, routingKey: routingKeys.deregister(this.service, this.instanceId), contentType: CONTENT_TYPE, durable: true }, body)
        .catch((err: unknown) => this.logger.warn('deregister not sent', { err }));
    }
    await this.connection.stop();
  }

  onCommand(handler: CommandHandler): void {
    this.commandHandler = handler;
  }

  /** Lets the owner report in-flight requests in heartbeats. */
  reportInflight(probe: () => number): void {
    this.inflightProbe = probe;
  }

  setState(state: 'serving' | 'draining'): void {
    this.state = state;
  }

  setWeight(weight: number): void {
    this.weight = weight;
  }

  setCommandActive(commandId: string, active: boolean): void {
    if (active) this.activeCommands.add(commandId);
    else this.activeCommands.delete(commandId);
  }

  /** Tells the core at once that another instance could not be reached (see docs/protocol.md §6.9). */
  async reportSignal(target: { service: string; instanceId: string }, kind: 'connect-refused' | 'connect-failed', detail: string, localEjectionUntil?: number): Promise<void> {
    const publisher = this.publisher;
    if (!publisher) return;
    const body = encodeMeshEvent(
      'io.meshdeck.health.signal.v1',
      {
        reporter: { service: this.service, instanceId: this.instanceId },
        target,
        kind,
        detail: detail.slice(0, 256),
        ...(localEjectionUntil ? { localEjectionUntil } : {}),
      },
      { source: this.source },
    );
    await publisher
      .send({ exchange: EXCHANGES.registry, routingKey: routingKeys.signal(target.service, target.instanceId), contentType: CONTENT_TYPE }, body)
      .catch((err: unknown) => this.logger.debug('health signal not sent', { err }));
  }

  endpoints(service: string): DiscoveryEndpoints | undefined {
    return this.endpointSets.get(service);
  }

  knownServices(): string[] {
    return [...this.endpointSets.keys()];
  }

  /** Publishes a domain event (a CloudEvent whose type is not io.meshdeck.*). */
  async publishEvent(type: string, data: unknown, options: { subject?: string } = {}): Promise<void> {
    if (type.startsWith('io.meshdeck.')) throw new Error('io.meshdeck.* event types are reserved for the mesh');
    const publisher = this.publisher;
    if (!publisher) throw new Error('not connected to the broker');
    const event = {
      specversion: '1.0',
      id: randomUUID(),
      source: this.source,
      type,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      ...(options.subject ? { subject: options.subject } : {}),
      data,
    };
    await publisher.send({ exchange: EXCHANGES.events, routingKey: type, contentType: CONTENT_TYPE, durable: true }, Buffer.from(JSON.stringify(event)));
    this.telemetry.recordPublished(type, EXCHANGES.events);
  }

  /** Consumes domain events of the given types from a durable queue shared by this service's instances. */
  consumeEvents(queue: string, types: string[], handler: (event: { type: string; data: unknown; source: string }) => Promise<void> | void): () => Promise<void> {
    let stop: (() => Promise<void>) | null = null;
    const detach = this.connection.onSession((amqp) => {
      const consumer = amqp.createConsumer(
        {
          queue,
          queueOptions: { durable: true },
          qos: { prefetchCount: 50 },
          queueBindings: types.map((type) => ({ exchange: EXCHANGES.events, routingKey: type })),
          requeue: false,
        },
        async (message) => {
          let event: { type?: unknown; data?: unknown; source?: unknown };
          try {
            event = JSON.parse(Buffer.isBuffer(message.body) ? message.body.toString() : String(message.body)) as typeof event;
          } catch {
            await this.deadLetter?.(message, 'domain event body is not JSON');
            return;
          }
          const type = typeof event.type === 'string' ? event.type : message.routingKey;
          try {
            await handler({ type, data: event.data, source: String(event.source ?? '') });
            this.telemetry.recordConsumed(type, queue, true);
          } catch (err) {
            this.telemetry.recordConsumed(type, queue, false);
            await this.deadLetter?.(message, `handler failed: ${(err as Error).message}`);
          }
        },
      );
      consumer.on('error', (err) => this.logger.warn('event consumer error', { queue, err }));
      stop = () => consumer.close();
      return () => consumer.close();
    });
    return async () => {
      detach();
      await stop?.();
    };
  }

  // -------------------------------------------------------------------------------------------

  private startSession(amqp: Connection, session: SessionContext): () => Promise<void> {
    const timers: NodeJS.Timeout[] = [];
    const closers: Array<() => Promise<void> | void> = [];
    const publisher = amqp.createPublisher({ confirm: false });
    const confirmPublisher = amqp.createPublisher({ confirm: true, maxAttempts: 3 });
    this.publisher = publisher;
    this.confirmPublisher = confirmPublisher;
    this.deadLetter = createDeadLetterer(publisher, `agent:${this.service}/${this.instanceId}`, this.logger);
    closers.push(() => publisher.close(), () => confirmPublisher.close());

    let closed = false;
    const setup = async () => {
      // The whole topology, so a registration is kept even when no core has run yet.
      await declareCoreTopology(amqp);
      if (closed) return;
      // Endpoint sets: our own exclusive queue gets every push, and the answers to our request.
      const ch = await amqp.acquire();
      closers.push(() => ch.close().catch(() => undefined));
      const { queue } = await ch.queueDeclare({ exclusive: true, autoDelete: true });
      await ch.queueBind({ queue, exchange: EXCHANGES.discovery, routingKey: 'endpoints.#' });
      await ch.basicConsume({ queue, noAck: true }, (message) => this.onEndpoints(message));
      await publisher.send(
        { exchange: EXCHANGES.discovery, routingKey: routingKeys.discoveryRequest, replyTo: queue, contentType: CONTENT_TYPE },
        encodeMeshEvent('io.meshdeck.discovery.request.v1', { services: [] }, { source: this.source }),
      );

      if (closed) return;
      // Control: our durable queue, bound to our instance and to our whole service.
      const control = agentControlDecls(this.service, this.instanceId);
      const consumer = amqp.createConsumer(
        {
          queue: control.queue.queue,
          queueOptions: { durable: true, arguments: control.queue.arguments },
          queueBindings: control.bindings.map(({ exchange, routingKey }) => ({ exchange, routingKey })),
          qos: { prefetchCount: 20 },
          requeue: true,
        },
        (message) => this.onCommandMessage(message),
      );
      consumer.on('error', (err) => this.logger.warn('control consumer error', { err }));
      closers.push(() => consumer.close());

      await this.register();
      if (closed) return;
      timers.push(setInterval(() => void this.heartbeat(), this.options.heartbeatIntervalMs ?? 1000));
      timers.push(setInterval(() => void this.flushTelemetry(), this.options.telemetryIntervalMs ?? 1000));
      for (const t of timers) t.unref();
      this.emit('session');
    };
    const started = setup().catch((err: unknown) => {
      if (closed) return;
      this.logger.error('agent session setup failed; starting it again', { err });
      session.failed(err);
    });

    return async () => {
      closed = true;
      // A setup still running stops at its next check; then everything it opened is in closers.
      await settleWithin(started, 5000);
      for (const t of timers) clearInterval(t);
      if (this.publisher === publisher) this.publisher = null;
      if (this.confirmPublisher === confirmPublisher) this.confirmPublisher = null;
      for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    };
  }

  private async register(): Promise<void> {
    const body = encodeMeshEvent(
      'io.meshdeck.instance.register.v1',
      {
        service: this.service,
        instanceId: this.instanceId,
        zone: this.options.zone,
        address: this.options.address,
        weight: this.weight,
        version: this.options.version ?? '',
        metadata: this.options.metadata ?? {},
        capacity: this.options.capacity ?? 0,
        heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 1000,
        agent: this.options.agent ?? 'sdk',
        startedAt: new Date().toISOString(),
      },
      { source: this.source },
    );
    await this.confirmPublisher?.send(
      { exchange: EXCHANGES.registry, routingKey: routingKeys.register(this.service, this.instanceId), contentType: CONTENT_TYPE, durable: true },
      body,
    );
    this.logger.info('registered', { instanceId: this.instanceId, zone: this.options.zone, address: this.options.address });
  }

  private async heartbeat(): Promise<void> {
    const publisher = this.publisher;
    if (!publisher) return;
    if (this.connection.state.status === 'blocked') {
      this.stats.heartbeatsSkippedWhileBlocked += 1;
      return;
    }
    this.seq += 1;
    const body = encodeMeshEvent(
      'io.meshdeck.instance.heartbeat.v1',
      {
        service: this.service,
        instanceId: this.instanceId,
        seq: this.seq,
        state: this.state,
        weight: this.weight,
        inflight: this.inflightProbe(),
        activeCommands: [...this.activeCommands].slice(0, 64),
      },
      { source: this.source },
    );
    await publisher
      .send({ exchange: EXCHANGES.registry, routingKey: routingKeys.heartbeat(this.service, this.instanceId), contentType: CONTENT_TYPE }, body)
      .catch((err: unknown) => this.logger.debug('heartbeat not sent', { err }));
  }

  /**
   * Sends what the recorder holds now (also called on shutdown), with publisher confirms: a batch
   * the broker did not confirm stays queued and goes out again, in order, on the next flush (the
   * core counts a batch that arrives twice once, by its id). While disconnected the recorder keeps
   * counting, so an outage becomes one longer window rather than a gap.
   */
  async flushTelemetry(): Promise<void> {
    if (!this.confirmPublisher) return;
    const window = this.telemetry.drain(Date.now());
    if (window.edges.length > 0 || window.events.published.length > 0 || window.events.consumed.length > 0) {
      for (const body of this.encodeTelemetry(window)) this.queueTelemetry(body);
    }
    await this.sendQueuedTelemetry();
  }

  private queueTelemetry(body: Buffer): void {
    this.unsentTelemetry.push(body);
    this.stats.telemetryQueuedBytes += body.length;
    // Never the batch being sent (the head, while a send is in flight) nor the one just queued.
    const keep = this.sendingTelemetry ? 2 : 1;
    while (this.unsentTelemetry.length > keep && (this.unsentTelemetry.length > MAX_UNSENT_TELEMETRY || this.stats.telemetryQueuedBytes > MAX_UNSENT_TELEMETRY_BYTES)) {
      const dropped = this.unsentTelemetry.splice(this.sendingTelemetry ? 1 : 0, 1)[0]!;
      this.stats.telemetryQueuedBytes -= dropped.length;
      this.stats.telemetryDropped += 1;
      this.logger.warn('telemetry batch dropped: too many unconfirmed batches', { unsent: this.unsentTelemetry.length, bytes: this.stats.telemetryQueuedBytes, dropped: this.stats.telemetryDropped });
    }
    this.stats.telemetryQueued = this.unsentTelemetry.length;
  }

  private async sendQueuedTelemetry(): Promise<void> {
    // One sender at a time keeps the batches in order.
    if (this.sendingTelemetry) return;
    this.sendingTelemetry = true;
    try {
      while (this.unsentTelemetry.length > 0) {
        const publisher = this.confirmPublisher;
        if (!publisher) return;
        const body = this.unsentTelemetry[0]!;
        try {
          const contentType = isBinaryTelemetry(body) ? BINARY_TELEMETRY_CONTENT_TYPE : CONTENT_TYPE;
          await publisher.send({ exchange: EXCHANGES.telemetry, routingKey: routingKeys.telemetry(this.service, this.instanceId), contentType }, body);
        } catch (err) {
          this.logger.warn('telemetry not confirmed; kept to send again', { err, unsent: this.unsentTelemetry.length });
          return;
        }
        this.unsentTelemetry.shift();
        this.stats.telemetryQueuedBytes -= body.length;
        this.stats.telemetryQueued = this.unsentTelemetry.length;
        this.stats.telemetrySent += 1;
      }
    } finally {
      this.sendingTelemetry = false;
    }
  }

  /** One batch, or several for the same window when one would exceed the message size limit. */
  private encodeTelemetry(window: ReturnType<TelemetryRecorder['drain']>): Buffer[] {
    const encode = (part: typeof window): Buffer =>
      encodeMeshEvent('io.meshdeck.telemetry.batch.v1', { service: this.service, instanceId: this.instanceId, zone: this.options.zone, ...part }, { source: this.source, encoding: this.options.telemetryEncoding ?? 'binary' });
    const split = (part: typeof window): Buffer[] => {
      try {
        return [encode(part)];
      } catch (err) {
        if (!(err instanceof EncodeError) || part.edges.length < 2) {
          this.logger.error('telemetry batch dropped: it does not encode', { err, edges: part.edges.length });
          return [];
        }
        const half = Math.ceil(part.edges.length / 2);
        const empty = { published: [], consumed: [] };
        return [...split({ ...part, edges: part.edges.slice(0, half) }), ...split({ ...part, edges: part.edges.slice(half), events: empty })];
      }
    };
    return split(window);
  }

  private onEndpoints(message: AsyncMessage): void {
    const result = decodeMeshEvent(message.body, ['io.meshdeck.discovery.endpoints.v1']);
    if (!result.ok) {
      void this.deadLetter?.(message, result.reason);
      return;
    }
    const set = (result.event as MeshEvent<'io.meshdeck.discovery.endpoints.v1'>).data;
    const current = this.endpointSets.get(set.service);
    if (current && current.revision > set.revision) return;
    this.endpointSets.set(set.service, set);
    this.emit('endpoints', set);
  }

  private async onCommandMessage(message: AsyncMessage): Promise<void> {
    const result = decodeMeshEvent(message.body, ['io.meshdeck.control.command.v1']);
    if (!result.ok) {
      await this.deadLetter?.(message, result.reason);
      return;
    }
    const command = (result.event as MeshEvent<'io.meshdeck.control.command.v1'>).data;
    let ack: ControlAck;
    const verdict = this.verifier.verify(command, Date.now());
    const seen = this.seenCommands.get(command.commandId);
    if (!verdict.ok) {
      // Never applied: forged, unsigned, replayed, expired or from the future (protocol §8.3).
      ack = { commandId: command.commandId, service: this.service, instanceId: this.instanceId, status: 'rejected', detail: verdict.detail };
      this.logger.warn('control command rejected', { commandId: command.commandId, reason: verdict.reason, keyId: command.signature?.keyId ?? null });
    } else if (seen) {
      ack = { commandId: command.commandId, service: this.service, instanceId: this.instanceId, status: 'duplicate', detail: `already ${seen}` };
    } else if (command.target.service !== this.service || (command.target.instanceId && command.target.instanceId !== this.instanceId)) {
      ack = { commandId: command.commandId, service: this.service, instanceId: this.instanceId, status: 'rejected', detail: 'wrong target' };
    } else if (Date.parse(command.expiresAt) < Date.now()) {
      ack = { commandId: command.commandId, service: this.service, instanceId: this.instanceId, status: 'rejected', detail: 'expired' };
    } else {
      let outcome: CommandOutcome;
      try {
        outcome = this.commandHandler(command);
      } catch (err) {
        outcome = { status: 'rejected', detail: `failed: ${(err as Error).message}` };
      }
      ack = { commandId: command.commandId, service: this.service, instanceId: this.instanceId, status: outcome.status, detail: outcome.detail ?? '' };
      this.seenCommands.set(command.commandId, outcome.status);
      if (this.seenCommands.size > DEDUPE_IDS) this.seenCommands.delete(this.seenCommands.keys().next().value as string);
    }
    this.logger.info('control command', { commandId: command.commandId, action: command.command.action, status: ack.status, detail: ack.detail });
    this.emit('command', command, ack);
    // The ack is confirmed by the broker before the command's delivery is acknowledged, so a
    // crash in between redelivers the command and the duplicate is answered, not re-applied.
    await this.confirmPublisher?.send(
      { exchange: EXCHANGES.control, routingKey: routingKeys.ack(this.service, this.instanceId), contentType: CONTENT_TYPE, durable: true },
      encodeMeshEvent('io.meshdeck.control.ack.v1', ack, { source: this.source }),
    );
  }
}
