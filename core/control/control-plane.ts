/**
 * The reliable command path of one mesh (one broker connection), and its leadership:
 *
 *   - the outbox (SQLite) holds every command until it settles or expires;
 *   - a loop publishes unconfirmed rows with publisher confirms — to the agents when this core
 *     leads, to the leader (queue meshdeck.control.requests) when another core leads — marks a
 *     row published/forwarded only on the broker's confirm, resends every unconfirmed row after
 *     a reconnect, and expires what is past its time;
 *   - acks: the leader consumes the durable meshdeck.control.acks queue; every core also reads
 *     a live copy of the acks (own exclusive queue on ack.#) so a follower sees the answers to
 *     the actions it forwarded; duplicates (same ack event id) are counted once;
 *   - the leader consumes forwarded operator actions and executes them from its own outbox.
 *
 * See core/control/README.md for the design and its timing.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AsyncMessage, Connection, Consumer, Publisher } from 'rabbitmq-client';
import type { BrokerConnection, SessionContext } from '../bus/connection.js';
import { createDeadLetterer, type DeadLetterer } from '../bus/dead-letter.js';
import { BrokerError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { settleWithin } from '../lib/settle.js';
import { decodeMeshEvent, encodeMeshEvent } from '../protocol/codec.js';
import type { ControlAck, ControlCommand, MeshEvent } from '../protocol/messages.js';
import { CONTENT_TYPE, EXCHANGES, QUEUES, routingKeys } from '../protocol/topology.js';
import type { Db } from '../store/database.js';
import { ControlActions, type RegistryView } from './actions.js';
import { AuditLog } from './audit.js';
import { LeaderElection, defaultIdentity, type CoreIdentity, type LeadershipState } from './leader.js';
import { CommandKeys } from './command-keys.js';
import { memorySecretStore, type SecretStore } from '../secrets/secret-store.js';
import { Outbox, wireCommand, type CommandRecord, type OutboxOptions } from './outbox.js';
import { ACK_FEED_BINDING_KEY, REQUESTS_QUEUE, REQUESTS_QUEUE_ARGS } from './topology.js';
import { CORE_CONTENT_TYPE, ForwardedRequest, decodeCoreMessage, encodeCoreMessage } from './wire.js';

export interface ControlPlaneOptions {
  mesh: string;
  db: Db;
  logger: Logger;
  /** CloudEvents source of the commands this core publishes. */
  source: string;
  registry: RegistryView;
  identity?: CoreIdentity;
  /** Leader tick interval (default 1000 ms); the lease is `leaseTicks` ticks (default 3). */
  tickMs?: number;
  leaseTicks?: number;
  outbox?: OutboxOptions;
  /** How long agents accept an operator action's commands (default 60 s). */
  defaultTtlMs?: number;
  /** How often the loop expires and retries without being kicked (default 500 ms). */
  loopMs?: number;
  /** Settled commands and their actions are kept this long (default 7 days). */
  retentionMs?: number;
  /** Audit entries are kept this long (default 400 days). */
  auditRetentionMs?: number;
  now?: () => number;
  /** Where the command signing key's private half is kept (default: memory, this session only). */
  secrets?: SecretStore;
}

interface Session {
  amqp: Connection;
  publisher: Publisher;
  deadLetter: DeadLetterer;
  /** message ids the broker returned as unroutable (basic.return comes before the confirm). */
  returned: Set<string>;
  inflight: Set<string>;
  startedAt: number;
  leaderConsumers: Consumer[];
  closed: boolean;
}

/**
 * The broker sends basic.return before the confirm, but rabbitmq-client emits the return on a
 * later turn (setImmediate) than it resolves the confirm: wait one turn before checking.
 */
const returnsDelivered = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Commands published and awaiting their confirm at once, at most. */
const MAX_INFLIGHT = 256;
const SEEN_ACK_IDS = 10_000;
const PRUNE_EVERY_MS = 3600_000;

export class ControlPlane extends EventEmitter<{ ack: [ControlAck]; changed: []; leadership: [LeadershipState] }> {
  readonly outbox: Outbox;
  readonly audit: AuditLog;
  readonly actions: ControlActions;
  readonly election: LeaderElection;
  /** The mesh's command signing keys: every command published to agents is signed (docs/protocol.md). */
  readonly keys: CommandKeys;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly identity: CoreIdentity;
  private session: Session | null = null;
  private readonly seenAcks = new Map<string, true>();
  private readonly loopTimer: NodeJS.Timeout;
  private pumpScheduled = false;
  private lastPrune = 0;
  private closed = false;
  /** Counters for the console and tests. */
  readonly stats = { published: 0, forwarded: 0, publishFailures: 0, acks: 0, unknownAcks: 0, requestsAccepted: 0, requestsRefused: 0, expired: 0 };

  constructor(private readonly options: ControlPlaneOptions) {
    super();
    this.logger = options.logger.child('control');
    this.now = options.now ?? Date.now;
    this.identity = options.identity ?? defaultIdentity();
    this.outbox = new Outbox(options.db, options.mesh, options.outbox);
    this.audit = new AuditLog(options.db, options.mesh);
    this.keys = new CommandKeys({
      db: options.db,
      mesh: options.mesh,
      secrets: options.secrets ?? memorySecretStore('no secret store was given to the control plane'),
      logger: this.logger,
      now: this.now,
    });
    this.actions = new ControlActions({
      db: options.db,
      mesh: options.mesh,
      outbox: this.outbox,
      audit: this.audit,
      registry: options.registry,
      coreId: this.identity.coreId,
      kick: () => this.kick(),
      ...(options.defaultTtlMs ? { defaultTtlMs: options.defaultTtlMs } : {}),
      now: this.now,
    });
    this.election = new LeaderElection({
      identity: this.identity,
      logger: this.logger,
      ...(options.tickMs ? { tickMs: options.tickMs } : {}),
      ...(options.leaseTicks ? { leaseTicks: options.leaseTicks } : {}),
      now: this.now,
    });
    // Every sendCommand waiting for its confirm listens here for a moment.
    this.outbox.setMaxListeners(0);
    this.outbox.on('changed', () => this.emit('changed'));
    this.election.on('change', (state) => this.onLeadership(state));
    this.loopTimer = setInterval(() => this.loop(), options.loopMs ?? 500);
    this.loopTimer.unref();
  }

  get coreId(): string {
    return this.identity.coreId;
  }

  leadership(): LeadershipState {
    return this.election.state();
  }

  /** Runs the control plane and the election on every (re)connection. Returns a detach function. */
  attach(connection: BrokerConnection): () => void {
    const detachElection = this.election.attach(connection);
    const detachSession = connection.onSession((amqp, context) => this.startSession(amqp, context));
    return () => {
      detachElection();
      detachSession();
    };
  }

  /** Stops the timers (the sessions end with the connection). Call before closing the database. */
  close(): void {
    this.closed = true;
    clearInterval(this.loopTimer);
    this.election.close();
  }

  /**
   * Writes a raw command to the outbox (or, for an id already there, sends it again) and resolves
   * once a broker confirmed it (published to the agents, or forwarded to the leader). Rejects if
   * it expires first. Expected acks: the target instance, or the service's live instances.
   */
  async sendCommand(command: ControlCommand): Promise<CommandRecord> {
    const now = this.now();
    let record: CommandRecord;
    if (this.outbox.get(command.commandId)) {
      record = this.outbox.resend(command.commandId, now);
    } else {
      const expected = this.actions.expectedFor(command.target);
      record = this.options.db.transaction(() => {
        const written = this.outbox.enqueue({
          commandId: command.commandId,
          target: command.target,
          action: command.command,
          issuer: command.issuer,
          reason: command.reason,
          createdAt: Date.parse(command.issuedAt),
          expiresAt: Date.parse(command.expiresAt),
          expected,
        });
        this.audit.append({
          at: now,
          event: 'requested',
          actor: command.issuer,
          origin: 'operator',
          action: command.command.action,
          service: command.target.service,
          instanceId: command.target.instanceId ?? null,
          reason: command.reason,
          result: 'pending',
          detail: { action: command.command, expected },
          commandIds: [command.commandId],
          coreId: this.identity.coreId,
        });
        return written;
      })();
    }
    this.kick();
    return this.confirmed(record.commandId);
  }

  /** Acks received for a command (one entry per instance and status). */
  acksFor(commandId: string): ControlAck[] {
    const record = this.outbox.get(commandId);
    if (!record) return [];
    return record.acks.map((a) => ({ commandId, service: record.target.service, instanceId: a.instanceId, status: a.status, detail: a.detail }));
  }

  /** Publishes what can be published now (soon, coalesced). */
  kick(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  // --- sessions -------------------------------------------------------------------------------

  private startSession(amqp: Connection, context: SessionContext): () => Promise<void> {
    const publisher = amqp.createPublisher({ confirm: true, maxAttempts: 1 });
    const session: Session = {
      amqp,
      publisher,
      deadLetter: createDeadLetterer(publisher, `core:${this.options.mesh}:control`, this.logger),
      returned: new Set(),
      inflight: new Set(),
      startedAt: this.now(),
      leaderConsumers: [],
      closed: false,
    };
    publisher.on('basic.return', (message: { messageId?: string }) => {
      if (message.messageId) session.returned.add(message.messageId);
    });
    const closers: Array<() => Promise<void> | void> = [() => publisher.close()];

    const setup = async () => {
      await amqp.exchangeDeclare({ exchange: EXCHANGES.control, type: 'topic', durable: true });
      await amqp.exchangeDeclare({ exchange: EXCHANGES.deadLetter, type: 'fanout', durable: true });
      await amqp.queueDeclare({ queue: QUEUES.acks, durable: true });
      await amqp.queueBind({ queue: QUEUES.acks, exchange: EXCHANGES.control, routingKey: ACK_FEED_BINDING_KEY });
      await amqp.queueDeclare({ queue: REQUESTS_QUEUE, durable: true, arguments: { ...REQUESTS_QUEUE_ARGS } });
      if (session.closed) return;
      // A live copy of every ack, for this core alone: followers see the answers too.
      const ch = await amqp.acquire();
      closers.push(() => ch.close().catch(() => undefined));
      const { queue } = await ch.queueDeclare({ exclusive: true, autoDelete: true, arguments: { 'x-max-length': 10_000 } });
      await ch.queueBind({ queue, exchange: EXCHANGES.control, routingKey: ACK_FEED_BINDING_KEY });
      await ch.basicConsume({ queue, noAck: true }, (message) => this.onAckMessage(message, null));
      if (session.closed) return;
      this.session = session;
      // Whatever was not confirmed before is sent again, now.
      this.outbox.retryNow();
      if (this.election.isLeader) this.startLeaderConsumers(session);
      this.logger.info('control session started', { mesh: this.options.mesh, coreId: this.identity.coreId, open: this.outbox.openCount() });
      this.kick();
    };
    const started = setup().catch((err: unknown) => {
      if (session.closed) return;
      this.logger.error('control session failed to start; starting it again', { err });
      context.failed(err);
    });

    return async () => {
      session.closed = true;
      // A setup still running stops at its next check; then every channel it opened is in closers.
      await settleWithin(started, 5000);
      if (this.session === session) this.session = null;
      const consumers = session.leaderConsumers.splice(0);
      await Promise.all(consumers.map((c) => c.close().catch(() => undefined)));
      for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    };
  }

  private onLeadership(state: LeadershipState): void {
    const session = this.session;
    if (session && !session.closed) {
      if (state.isLeader && session.leaderConsumers.length === 0) {
        this.outbox.retryNow();
        this.startLeaderConsumers(session);
      } else if (!state.isLeader && session.leaderConsumers.length > 0) {
        const consumers = session.leaderConsumers.splice(0);
        void Promise.all(consumers.map((c) => c.close().catch(() => undefined)));
      }
    }
    this.kick();
    this.emit('leadership', state);
    this.emit('changed');
  }

  /** The leader's work: the durable acks queue and forwarded operator actions. */
  private startLeaderConsumers(session: Session): void {
    const acks = session.amqp.createConsumer(
      { queue: QUEUES.acks, queueOptions: { durable: true }, qos: { prefetchCount: 200 }, requeue: false },
      (message) => this.onAckMessage(message, session),
    );
    acks.on('error', (err) => this.logger.warn('ack consumer error', { err }));
    const requests = session.amqp.createConsumer(
      { queue: REQUESTS_QUEUE, queueOptions: { durable: true, arguments: { ...REQUESTS_QUEUE_ARGS } }, qos: { prefetchCount: 20 }, requeue: false },
      (message) => this.onRequest(message, session),
    );
    requests.on('error', (err) => this.logger.warn('request consumer error', { err }));
    session.leaderConsumers.push(acks, requests);
  }

  // --- publishing ------------------------------------------------------------------------------

  private loop(): void {
    if (this.closed) return;
    const now = this.now();
    try {
      const expired = this.outbox.expireDue(now);
      if (expired.length) {
        this.stats.expired += expired.length;
        for (const r of expired) this.logger.warn('control command expired without every ack', { commandId: r.commandId, target: r.target, waiting: r.progress.waiting, state: r.state });
      }
      if (now - this.lastPrune > PRUNE_EVERY_MS) {
        this.lastPrune = now;
        this.outbox.prune(now - (this.options.retentionMs ?? 7 * 86_400_000));
        this.actions.prune(now - (this.options.retentionMs ?? 7 * 86_400_000));
        this.audit.prune(now - (this.options.auditRetentionMs ?? 400 * 86_400_000));
      }
    } catch (err) {
      this.logger.error('control loop failed', { err });
    }
    this.pump();
  }

  private pump(): void {
    const session = this.session;
    if (!session || session.closed || this.closed) return;
    const now = this.now();
    const leader = this.election.isLeader;
    // A follower hands its commands to the leader; right after connecting it first waits (up to
    // two leases) to learn whether it leads itself. The queue keeps requests while no one leads.
    const forward = !leader && (this.election.leader !== null || now - session.startedAt > 2 * this.election.leaseMs);
    if (!leader && !forward) return;
    const room = MAX_INFLIGHT - session.inflight.size;
    if (room <= 0) return;
    let rows: CommandRecord[];
    try {
      rows = this.outbox.toSend(now, { includeForwarded: leader, limit: room + session.inflight.size });
    } catch (err) {
      this.logger.error('could not read the outbox', { err });
      return;
    }
    for (const record of rows.filter((r) => !session.inflight.has(r.commandId)).slice(0, room)) {
      session.inflight.add(record.commandId);
      void this.publishOne(session, record, leader ? 'agents' : 'leader');
    }
  }

  /** Rotates the command signing key (security.rotateCommandKey); audited. */
  rotateCommandKey(actor: string, reason: string, graceMs?: number): ReturnType<CommandKeys['rotate']> {
    const result = this.keys.rotate(actor, graceMs);
    this.audit.append({
      at: this.now(),
      event: 'requested',
      actor,
      origin: 'operator',
      action: 'rotate-command-key',
      service: '*',
      reason,
      result: 'acked',
      detail: { previous: result.previous.keyId, active: result.active.keyId, fingerprint: result.active.fingerprint, previousValidUntil: result.previous.validUntil },
      coreId: this.identity.coreId,
    });
    return result;
  }

  private async publishOne(session: Session, record: CommandRecord, route: 'agents' | 'leader'): Promise<void> {
    const messageId = randomUUID();
    try {
      if (route === 'agents') {
        const routingKey = routingKeys.command(record.target.service, record.target.instanceId);
        const body = encodeMeshEvent('io.meshdeck.control.command.v1', this.keys.sign(wireCommand(record)), { source: this.options.source, id: messageId });
        await session.publisher.send({ exchange: EXCHANGES.control, routingKey, contentType: CONTENT_TYPE, durable: true, mandatory: true, messageId }, body);
        await returnsDelivered();
        if (session.returned.delete(messageId)) throw new Error(`unroutable: no control queue is bound to ${routingKey} (is the agent running?); retrying until it expires`);
        this.stats.published += 1;
        this.outbox.markPublished(record.commandId, this.now(), record.generation);
      } else {
        const request: ForwardedRequest = {
          v: 1,
          kind: 'request',
          from: { ...this.identity },
          command: wireCommand(record),
          expected: record.expected,
          action: record.actionId ? this.actions.snapshot(record.actionId) : null,
        };
        await session.publisher.send(
          { exchange: '', routingKey: REQUESTS_QUEUE, contentType: CORE_CONTENT_TYPE, durable: true, mandatory: true, messageId },
          encodeCoreMessage(request),
        );
        await returnsDelivered();
        if (session.returned.delete(messageId)) throw new Error(`unroutable: the queue ${REQUESTS_QUEUE} does not exist`);
        this.stats.forwarded += 1;
        this.outbox.markForwarded(record.commandId, this.now(), record.generation);
      }
    } catch (err) {
      this.stats.publishFailures += 1;
      const text = errorMessage(err).replace(/^undefined:\s*/, '');
      this.logger.warn('control command not confirmed; it will be sent again', { commandId: record.commandId, route, error: text });
      try {
        this.outbox.markAttemptFailed(record.commandId, text, this.now());
      } catch (storeErr) {
        this.logger.error('could not record a failed publish', { err: storeErr });
      }
    } finally {
      session.inflight.delete(record.commandId);
      if (!session.closed) this.kick();
    }
  }

  /** Resolves when the command left `pending` (a broker confirmed it); rejects when it expires first. */
  private confirmed(commandId: string): Promise<CommandRecord> {
    return new Promise<CommandRecord>((resolve, reject) => {
      const check = (): boolean => {
        const record = this.outbox.get(commandId);
        if (!record) {
          reject(new BrokerError('The command was removed from the outbox before it was confirmed', { commandId }));
          return true;
        }
        if (record.state === 'expired' && record.publishedAt === null) {
          reject(new BrokerError('The command expired before a broker confirmed it (no connection, or no leader)', { commandId }));
          return true;
        }
        if (record.state !== 'pending') {
          resolve(record);
          return true;
        }
        return false;
      };
      if (check()) return;
      const listener = (record: CommandRecord) => {
        if (record.commandId !== commandId) return;
        if (check()) this.outbox.off('changed', listener);
      };
      this.outbox.on('changed', listener);
    });
  }

  // --- consuming -------------------------------------------------------------------------------

  /** From the durable queue (`session` set: the leader, dead-letters what it cannot read) or the live feed. */
  private onAckMessage(message: AsyncMessage, session: Session | null): void {
    const result = decodeMeshEvent(message.body, ['io.meshdeck.control.ack.v1']);
    if (!result.ok) {
      if (session) void session.deadLetter(message, result.reason);
      return;
    }
    const event = result.event as MeshEvent<'io.meshdeck.control.ack.v1'>;
    const key = `${event.source}\u0000${event.id}`;
    if (this.seenAcks.has(key)) return;
    this.seenAcks.set(key, true);
    if (this.seenAcks.size > SEEN_ACK_IDS) this.seenAcks.delete(this.seenAcks.keys().next().value as string);
    const ack = event.data;
    this.stats.acks += 1;
    try {
      const record = this.outbox.recordAck(ack, this.now());
      if (!record) {
        this.stats.unknownAcks += 1;
        this.logger.debug('ack for a command this core does not follow', { commandId: ack.commandId, instanceId: ack.instanceId });
      }
    } catch (err) {
      this.logger.error('could not record an ack', { err, commandId: ack.commandId });
    }
    this.emit('ack', ack);
  }

  private onRequest(message: AsyncMessage, session: Session): void {
    const decoded = decodeCoreMessage(message.body, ForwardedRequest);
    if (!decoded.ok) {
      void session.deadLetter(message, `invalid forwarded control request: ${decoded.reason}`);
      return;
    }
    const request = decoded.value;
    const outcome = this.actions.acceptForwarded(request);
    if (outcome.accepted) {
      this.stats.requestsAccepted += 1;
      this.logger.info('executing an operator action forwarded by another core', {
        from: request.from.coreId,
        commandId: request.command.commandId,
        actionId: request.action?.id ?? null,
        actor: request.action?.actor ?? request.command.issuer,
      });
    } else {
      this.stats.requestsRefused += 1;
      this.logger.warn('refused a forwarded control request', { from: request.from.coreId, commandId: request.command.commandId, reason: outcome.reason });
    }
    this.emit('changed');
  }
}
