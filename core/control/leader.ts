/**
 * Leader election over one RabbitMQ single-active-consumer (SAC) queue. Only one core acts
 * (publishes control commands, consumes acks and forwarded operator actions); the others show
 * who leads and forward their operator actions to it.
 *
 * RabbitMQ 3.10 does not tell an AMQP 0-9-1 consumer that it became the active one, so every
 * core publishes a small "tick" to the queue every `tickMs`, and the broker delivers every tick
 * to the single active consumer only:
 *
 *   - a core that receives a tick (its own or another core's) is the active consumer: leader;
 *   - a leader that has received no tick for `leaseMs` (3 ticks) steps down: its connection is
 *     dead or stuck. It also cancels its subscription and subscribes again (to the back of the
 *     line), so even when the broker still believes in a half-dead connection, the queue moves
 *     to the next core now instead of after the AMQP heartbeat timeout;
 *   - losing the connection ends leadership at once (the session ends);
 *   - when the active consumer's connection drops, the broker activates the next consumer in
 *     subscription order, and the next tick any core publishes makes it leader: leadership
 *     moves within about one tick interval (plus the broker noticing a dead TCP connection,
 *     immediate when the socket closes, up to two AMQP heartbeats when it silently vanishes).
 *
 * Followers never receive ticks, so the leader announces itself (core id, host, since) on the
 * fanout exchange `meshdeck.leadership` every tick; every core reads it from its own exclusive
 * queue, and treats an announcement older than `leaseMs` as "leader unknown".
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { AsyncMessage, Connection, Consumer, Publisher } from 'rabbitmq-client';
import type { BrokerConnection, SessionContext } from '../bus/connection.js';
import type { Logger } from '../lib/log.js';
import { settleWithin } from '../lib/settle.js';
import { LEADERSHIP_EXCHANGE, LEADER_QUEUE, LEADER_QUEUE_ARGS } from './topology.js';
import { CORE_CONTENT_TYPE, LeaderAnnouncement, Tick, decodeCoreMessage, encodeCoreMessage } from './wire.js';

export interface CoreIdentity {
  coreId: string;
  host: string;
}

export interface LeaderInfo extends CoreIdentity {
  /** When it became leader (ms since epoch, its own clock). */
  since: number;
}

export interface LeadershipState {
  self: CoreIdentity;
  isLeader: boolean;
  /** Who leads as far as this core knows: itself, the last announced leader, or null (unknown). */
  leader: LeaderInfo | null;
  /** This core's election session is running (connected, queue consumed). */
  connected: boolean;
  tickMs: number;
  leaseMs: number;
}

export interface LeaderElectionOptions {
  identity: CoreIdentity;
  logger: Logger;
  /** How often every core publishes a tick (and the leader its announcement). Default 1000 ms. */
  tickMs?: number;
  /** Ticks without a delivery after which a leader steps down (and an announcement goes stale). Default 3. */
  leaseTicks?: number;
  now?: () => number;
}

export function defaultIdentity(): CoreIdentity {
  const host = hostname();
  return { coreId: `${host.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 60)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, host };
}

export class LeaderElection extends EventEmitter<{ change: [LeadershipState] }> {
  readonly identity: CoreIdentity;
  readonly tickMs: number;
  readonly leaseMs: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private leading = false;
  private leadingSince = 0;
  private lastTickAt = Number.NEGATIVE_INFINITY;
  private observed: { info: LeaderInfo; at: number } | null = null;
  private connected = false;
  private signature = '';
  /** Set while a session runs: cancels this core's subscription and subscribes again (to the back of the line). */
  private resubscribe: (() => void) | null = null;
  private readonly evaluateTimer: NodeJS.Timeout;
  /** Ticks received while leader and announcements seen, for tests and diagnostics. */
  readonly stats = { ticksSent: 0, ticksReceived: 0, announcementsSeen: 0, becameLeader: 0, steppedDown: 0, resubscribed: 0 };

  constructor(options: LeaderElectionOptions) {
    super();
    this.identity = options.identity;
    this.tickMs = options.tickMs ?? 1000;
    this.leaseMs = this.tickMs * (options.leaseTicks ?? 3);
    this.logger = options.logger.child('leader');
    this.now = options.now ?? Date.now;
    this.signature = this.signatureOf(this.state());
    // Stale announcements and lost leases are noticed even while disconnected.
    this.evaluateTimer = setInterval(() => this.evaluate(), Math.max(50, Math.floor(this.tickMs / 2)));
    this.evaluateTimer.unref();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get leader(): LeaderInfo | null {
    if (this.leading) return { ...this.identity, since: this.leadingSince };
    if (this.observed && this.now() - this.observed.at <= this.leaseMs && this.observed.info.coreId !== this.identity.coreId) return { ...this.observed.info };
    return null;
  }

  state(): LeadershipState {
    return { self: { ...this.identity }, isLeader: this.leading, leader: this.leader, connected: this.connected, tickMs: this.tickMs, leaseMs: this.leaseMs };
  }

  /** Takes part in the election on every (re)connection of `connection`. Returns a detach function. */
  attach(connection: BrokerConnection): () => void {
    return connection.onSession((amqp, session) => this.startSession(amqp, session));
  }

  close(): void {
    clearInterval(this.evaluateTimer);
    this.stepDown('closed');
    this.connected = false;
  }

  // -------------------------------------------------------------------------------------------

  private startSession(amqp: Connection, session: SessionContext): () => Promise<void> {
    let closed = false;
    const timers: NodeJS.Timeout[] = [];
    const closers: Array<() => Promise<void> | void> = [];
    const publisher: Publisher = amqp.createPublisher({ confirm: false });
    closers.push(() => publisher.close());

    const tick = () => {
      const at = this.now();
      this.stats.ticksSent += 1;
      publisher
        .send({ exchange: '', routingKey: LEADER_QUEUE, contentType: CORE_CONTENT_TYPE, expiration: String(this.leaseMs) }, encodeCoreMessage({ v: 1, kind: 'tick', coreId: this.identity.coreId, at }))
        .catch((err: unknown) => this.logger.debug('tick not sent', { err }));
      if (this.leading) this.announce(publisher);
      this.evaluate();
    };

    const setup = async () => {
      await amqp.exchangeDeclare({ exchange: LEADERSHIP_EXCHANGE, type: 'fanout', durable: true });
      await amqp.queueDeclare({ queue: LEADER_QUEUE, durable: true, arguments: { ...LEADER_QUEUE_ARGS } });
      if (closed) return;
      // Announcements: every core's own exclusive queue on the fanout exchange.
      const ch = await amqp.acquire();
      closers.push(() => ch.close().catch(() => undefined));
      const { queue } = await ch.queueDeclare({ exclusive: true, autoDelete: true, arguments: { 'x-max-length': 100 } });
      await ch.queueBind({ queue, exchange: LEADERSHIP_EXCHANGE, routingKey: '' });
      await ch.basicConsume({ queue, noAck: true }, (message) => this.onAnnouncement(message));
      if (closed) return;
      // The election itself: RabbitMQ delivers the queue's messages to one consumer only.
      const subscribe = (): Consumer => {
        const consumer = amqp.createConsumer(
          { queue: LEADER_QUEUE, queueOptions: { durable: true, arguments: { ...LEADER_QUEUE_ARGS } }, qos: { prefetchCount: 50 }, requeue: false },
          (message) => this.onTick(message),
        );
        consumer.on('error', (err) => this.logger.warn('leader queue consumer error', { err }));
        return consumer;
      };
      let consumer = subscribe();
      closers.push(() => consumer.close());
      // A leader that lost its lease while "connected" (a half-dead connection the broker still
      // believes in) gives the queue up, so the broker activates the next core now rather than
      // after the heartbeat timeout; it queues up again behind the others.
      this.resubscribe = () => {
        if (closed) return;
        const old = consumer;
        void old.close().catch(() => undefined);
        consumer = subscribe();
        this.stats.resubscribed += 1;
      };
      this.connected = true;
      tick(); // at once: a lone core leads within one round trip
      timers.push(setInterval(tick, this.tickMs));
      for (const t of timers) t.unref();
      this.evaluate();
    };
    const started = setup().catch((err: unknown) => {
      if (closed) return;
      this.logger.error('leader election could not start; starting it again', { err });
      session.failed(err);
    });

    return async () => {
      closed = true;
      this.resubscribe = null;
      // A setup still running stops at its next check; then every channel it opened is in closers.
      await settleWithin(started, 5000);
      for (const t of timers) clearInterval(t);
      this.connected = false;
      this.stepDown('connection lost');
      this.evaluate();
      for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    };
  }

  private announce(publisher: Publisher): void {
    const body = encodeCoreMessage({ v: 1, kind: 'leader', coreId: this.identity.coreId, host: this.identity.host, since: this.leadingSince, at: this.now(), leaseMs: this.leaseMs });
    publisher
      .send({ exchange: LEADERSHIP_EXCHANGE, routingKey: '', contentType: CORE_CONTENT_TYPE, expiration: String(this.leaseMs) }, body)
      .catch((err: unknown) => this.logger.debug('leader announcement not sent', { err }));
  }

  private onTick(message: AsyncMessage): void {
    const tick = decodeCoreMessage(message.body, Tick);
    if (!tick.ok) this.logger.warn('unreadable message on the leader queue (counted as a tick)', { reason: tick.reason });
    // Any delivery proves this core is the active consumer.
    this.stats.ticksReceived += 1;
    this.lastTickAt = this.now();
    if (!this.leading && this.connected) {
      this.leading = true;
      this.leadingSince = this.lastTickAt;
      this.stats.becameLeader += 1;
      this.logger.info('this core is now the leader', { coreId: this.identity.coreId, previous: this.observed?.info.coreId ?? null });
    }
    this.evaluate();
  }

  private onAnnouncement(message: AsyncMessage): void {
    const announcement = decodeCoreMessage(message.body, LeaderAnnouncement);
    if (!announcement.ok) {
      this.logger.warn('unreadable leader announcement ignored', { reason: announcement.reason });
      return;
    }
    const a = announcement.value;
    if (a.coreId === this.identity.coreId) return;
    this.stats.announcementsSeen += 1;
    if (this.leading) {
      // Two active consumers cannot exist; this is an old announcement or a clock issue. The
      // leases settle it: whoever stops receiving ticks steps down.
      this.logger.warn('another core announces itself as leader while this one receives the ticks', { other: a.coreId });
    }
    this.observed = { info: { coreId: a.coreId, host: a.host, since: a.since }, at: this.now() };
    this.evaluate();
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.stats.steppedDown += 1;
    this.logger.info('this core is no longer the leader', { coreId: this.identity.coreId, why });
  }

  private evaluate(): void {
    if (this.leading && this.now() - this.lastTickAt > this.leaseMs) {
      this.stepDown(`no tick for ${this.now() - this.lastTickAt} ms (lease ${this.leaseMs} ms)`);
      this.resubscribe?.();
    }
    const state = this.state();
    const signature = this.signatureOf(state);
    if (signature === this.signature) return;
    this.signature = signature;
    this.emit('change', state);
  }

  private signatureOf(state: LeadershipState): string {
    return `${state.isLeader}|${state.connected}|${state.leader?.coreId ?? ''}|${state.leader?.since ?? ''}`;
  }
}
