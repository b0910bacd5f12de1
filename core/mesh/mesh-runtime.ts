/**
 * The core's side of the mesh for one broker connection: declares the protocol topology,
 * replays registrations from the registry stream, reads heartbeats and telemetry live,
 * keeps the registry (memory + SQLite), answers discovery requests and pushes endpoint sets
 * when they change. Invalid messages are dead-lettered with their reason; nothing here stops
 * consuming because of a bad message.
 */
import { EventEmitter } from 'node:events';
import type { AsyncMessage, Connection, Consumer, Publisher } from 'rabbitmq-client';
import type { BrokerConnection, SessionContext } from '../bus/connection.js';
import { readStream, type StreamDelivery } from '../bus/stream-reader.js';
import { createDeadLetterer, type DeadLetterer } from '../bus/dead-letter.js';
import { declareCoreTopology } from '../bus/mesh-topology.js';
import { consumeStream, type StreamConsumerHandle } from '../bus/stream-consumer.js';
import { pollStreamBounds } from '../bus/stream-bounds.js';
import type { Logger } from '../lib/log.js';
import { settleWithin } from '../lib/settle.js';
import { decodeMeshEvent, encodeMeshEvent } from '../protocol/codec.js';
import { RecentBatchIds } from '../telemetry/batch-dedupe.js';
import type { ControlAck, ControlCommand, HealthSignal, MeshEvent } from '../protocol/messages.js';
import { ControlPlane, type ControlPlaneOptions } from '../control/control-plane.js';
import { FailoverEngine, type FailoverStep } from '../failover/engine.js';
import { HeartbeatLag } from '../registry/heartbeat-lag.js';
import { PolicyStore } from '../failover/policy-store.js';
import { DEFAULT_OUTLIER_POLICY } from '../failover/policy.js';
import { sameBreakerSettings } from '../failover/circuit-breaker.js';
import { ZoneFailovers } from '../failover/zone-failovers.js';
import { ZoneFailback, countZones, zoneState, type ZoneStateInfo, type ZoneStepChange } from '../failover/zones.js';
import { zoneOrder, zoneLoads } from '../failover/locality.js';
import type { EjectionTransition } from '../failover/ejections.js';
import type { SparedHost } from '../health/detector.js';
import type { CommandRecord } from '../control/outbox.js';
import { CONTENT_TYPE, EXCHANGES, HEARTBEAT_BINDING_KEY, QUEUES, SIGNAL_BINDING_KEY, routingKeys } from '../protocol/topology.js';
import { Registry, type Instance, type RegistryChange } from '../registry/registry.js';
import { RegistryStore } from '../registry/registry-store.js';
import type { Db } from '../store/database.js';
import { LiveEdges } from '../telemetry/live-edges.js';
import { LiveEvents } from '../telemetry/live-events.js';
import { InlineHistoryWriter, WorkerHistoryWriter, type HistoryWriter } from '../telemetry/history-writer.js';
import { IngestProgress } from '../telemetry/ingest-progress.js';
import { telemetryConsumer } from '../telemetry/resolutions.js';
import { IncidentMonitor, type IncidentMonitorOptions } from '../incidents/monitor.js';

export interface MeshRuntimeOptions {
  mesh: string;
  db: Db;
  logger: Logger;
  /** CloudEvents source of what this core publishes. */
  source: string;
  missedHeartbeats?: number;
  sweepIntervalMs?: number;
  /**
   * Housekeeping (ms, default HOUSEKEEPING_INTERVAL_MS): registry writes, and history writes
   * that no stream batch triggered (an offset to store once the stream is quiet is written
   * sooner, by the history writer's own retry).
   */
  housekeepingIntervalMs?: number;
  now?: () => number;
  /** Control plane settings: leader tick, outbox limit, command TTL, core identity (core/control). */
  control?: Pick<ControlPlaneOptions, 'identity' | 'tickMs' | 'leaseTicks' | 'outbox' | 'defaultTtlMs' | 'loopMs' | 'retentionMs' | 'auditRetentionMs' | 'secrets'>;
  /** Told of every background database write (registry, telemetry history): what failed, or that one went through. */
  storeWrites?: { failed(err: unknown, operation: string): void; succeeded(): void };
  /** Incident rule thresholds for services without saved ones (core/incidents). */
  incidentRules?: IncidentMonitorOptions['rules'];
  /**
   * The built history-worker.js (core/telemetry/history-worker.ts): the telemetry history is then
   * written by a worker thread with a connection of its own (history-writer.ts). Without it, or
   * with an in-memory database or a clock of the caller's (`now`), on this thread.
   */
  historyWorker?: string | URL;
  /**
   * Bodies' bytes the history's worker thread may trail by before the telemetry stream is held
   * (default HISTORY_BACKLOG_BYTES, core/telemetry/history-writer.ts).
   */
  historyBacklogBytes?: number;
}

interface Subscription {
  close(): Promise<void> | void;
}

/** Default of MeshRuntimeOptions.housekeepingIntervalMs. */
export const HOUSEKEEPING_INTERVAL_MS = 2000;

/** How often the registry sweeps (ms), unless options.sweepIntervalMs says otherwise. */
const SWEEP_INTERVAL_MS = 250;
/**
 * How often the failover engine ticks (ms; the sweep's period when that is shorter). A large mesh's
 * services are judged over the ticks of their interval, so each tick is a short task: 125 of 1 000
 * services a tick, not 1 000 every fourth sweep.
 */
const FAILOVER_TICK_MS = 100;

/**
 * Last-seen times of heartbeats that changed nothing are written at most this often. With every
 * 2-s flush, 10 000 instances meant 5 000 row updates a second and commits of 65-130 ms holding
 * up the event loop every 2 s (npm run bench:registry), for a column only read at start, where a
 * listed instance's last-seen is replaced by the start time anyway. State changes (down,
 * deregistered, …) still write the exact last-seen with the 2-s flush.
 */
const LAST_SEEN_PERSIST_MS = 30_000;

/** A registry write that found the database busy with another connection's write is tried again this soon (ms)… */
const REGISTRY_RETRY_MS = 25;
/** …this many times (about a second), then it waits for the lock like any other write. */
const REGISTRY_DEFERRALS = 40;

const EMPTY_SPARED: ReadonlyMap<string, SparedHost & { at: number }> = new Map();

export class MeshRuntime extends EventEmitter<{ changed: []; ack: [ControlAck]; signal: [HealthSignal]; registry: [readonly RegistryChange[]] }> {
  readonly registry: Registry;
  readonly store: RegistryStore;
  readonly edges = new LiveEdges();
  readonly events = new LiveEvents();
  /** Control commands (durable outbox, acks, operator actions, audit) and leadership. */
  readonly control: ControlPlane;
  /** Automatic fault detection and recovery: ejections reach agents through the endpoint sets. */
  readonly failover: FailoverEngine;
  /** Per-service failover policies (default, or a saved preset with overrides). */
  readonly policies: PolicyStore;
  /** Telemetry history in SQLite (1 s, 10 s, 1 min), written with the stream offset it reached. */
  readonly history: HistoryWriter;
  /** Zone fail-back ramps: the admitted health per zone that endpoint sets carry. */
  readonly zones = new ZoneFailback();
  /** Zones failed over by an operator (control action failover-zone), persisted. */
  readonly zoneFailovers: ZoneFailovers;
  private readonly zoneHistory: ZoneStepChange[] = [];
  /** Incidents: rules evaluated every second, timelines, suspects (core/incidents). */
  readonly incidents: IncidentMonitor;
  private incidentTimer: NodeJS.Timeout | null = null;
  /** How far telemetry consumption is behind the stream (backfill progress). */
  readonly ingest = new IngestProgress();
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly logger: Logger;
  private readonly now: () => number;
  private publisher: Publisher | null = null;
  private deadLetter: DeadLetterer | null = null;
  private readonly dirtyServices = new Set<string>();
  private readonly dirtyInstances = new Map<string, Instance>();
  private readonly touched = new Map<string, Instance>();
  private lastSeenPersistedAt = Number.NEGATIVE_INFINITY;
  private pendingChanges: RegistryChange[] = [];
  private pushTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private failoverTimer: NodeJS.Timeout | null = null;
  /** How far behind this core is in hearing heartbeats: silence on its account is not the instances' (heartbeat-lag.ts). */
  private readonly heartbeatLag = new HeartbeatLag();
  /** Since when this core has been behind in hearing heartbeats, and by how much at most (null: it is not). */
  private behind: { since: number; maxGraceMs: number } | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly registryConsumer: string;
  private sessionActive = false;
  /** Counters for the console and tests. */
  private readonly batchIds = new RecentBatchIds();
  readonly stats = { registered: 0, heartbeats: 0, deregistered: 0, telemetryBatches: 0, telemetryDuplicates: 0, deadLettered: 0, discoveryAnswers: 0, endpointPushes: 0, signals: 0, registryWritesDeferred: 0 };
  /** The registry stream offset the next registry write stores (kept while a write is deferred or fails). */
  private registryOffset: { consumer: string; stream: string; offset: number } | null = null;
  /** The registry write tried again after the database was busy (flush), and how many tries in a row. */
  private registryRetry: NodeJS.Timeout | null = null;
  private registryDeferrals = 0;
  private readonly recentSignals: Array<HealthSignal & { at: number }> = [];
  private readonly failoverHistory: EjectionTransition[] = [];
  /** Latency outliers the rule spared (their callees explain them), newest last (the last 1 000). */
  private readonly sparedHistory: Array<SparedHost & { service: string; at: number }> = [];
  /** Per service, the latency outliers its latest sweep spared, by instance. */
  private readonly sparedLatest = new Map<string, Map<string, SparedHost & { at: number }>>();

  constructor(private readonly options: MeshRuntimeOptions) {
    super();
    this.logger = options.logger.child('mesh');
    this.now = options.now ?? Date.now;
    this.registry = new Registry({ missedHeartbeats: options.missedHeartbeats ?? 3 });
    this.store = new RegistryStore(options.db, options.mesh);
    this.registry.load(this.store.loadInstances(), this.now());
    this.registryConsumer = `registry:${options.mesh}`;
    this.control = new ControlPlane({
      ...options.control,
      mesh: options.mesh,
      db: options.db,
      logger: options.logger,
      source: options.source,
      registry: this.registry,
      ...(options.now ? { now: options.now } : {}),
    });
    this.control.on('ack', (ack) => this.emit('ack', ack));
    const historyOptions = { db: options.db, mesh: options.mesh, logger: this.logger, ...(options.storeWrites ? { storeWrites: options.storeWrites } : {}), ...(options.now ? { now: options.now } : {}) };
    this.history =
      options.historyWorker && !options.now && !options.db.memory
        ? new WorkerHistoryWriter({ ...historyOptions, script: options.historyWorker, ...(options.historyBacklogBytes ? { backlogBytes: options.historyBacklogBytes } : {}) })
        : new InlineHistoryWriter(historyOptions);
    this.policies = new PolicyStore(options.db, options.mesh);
    this.zoneFailovers = new ZoneFailovers(options.db, options.mesh);
    this.control.actions.setHooks({
      recorded: (action) => {
        if (this.zoneFailovers.apply(action.action, action.target.service, action.id, action.createdAt)) this.markDirty(action.target.service);
      },
      zoneTraffic: (service, zone) => this.zoneTraffic(service, zone),
    });
    this.failover = new FailoverEngine({
      policyFor: (service) => this.policies.get(service).policy,
      services: () => this.registry.serviceNames(),
      listed: (service) => this.registry.hasService(service),
      // Instances that are down (missed heartbeats) are the registry's; outliers among the rest are ours.
      instancesOf: (service) => this.registry.instances(service).filter((i) => i.state !== 'down').map((i) => i.instanceId),
      now: this.now,
      heartbeatGraceMs: (now) => this.heartbeatLag.graceMs(now),
      tickIntervalMs: this.failoverTickMs(),
    });
    // Callers enforce the callee's circuit-breaker settings: a policy change is a new endpoint set.
    this.policies.onChange((service) => {
      this.markDirty(service);
      this.emit('changed');
    });
    this.control.actions.useTraffic((from, to) => this.edges.callerRequests(from, to, this.now()));
    this.incidents = new IncidentMonitor({
      mesh: options.mesh,
      db: options.db,
      logger: options.logger,
      services: () => this.registry.serviceNames(),
      instances: (service) => {
        const ejected = new Set(this.failover.health(service).filter((h) => h.state === 'ejected').map((h) => h.instanceId));
        return this.registry.instances(service).flatMap((i) => (i.state === 'deregistered' ? [] : [{ instanceId: i.instanceId, zone: i.zone, state: i.state, ejected: ejected.has(i.instanceId) }]));
      },
      audit: this.control.audit,
      ...(options.incidentRules ? { rules: options.incidentRules } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  /** Ends the history writer (a worker thread's writes and the thread) and registry retries: once the sessions have ended. */
  close(): Promise<void> {
    if (this.registryRetry) clearTimeout(this.registryRetry);
    this.registryRetry = null;
    return this.history.close();
  }

  /** True once a session's consumers are all running (false while disconnected). */
  get active(): boolean {
    return this.sessionActive;
  }

  /** Runs the mesh on every (re)connection of `connection`. Returns a detach function. */
  attach(connection: BrokerConnection): () => void {
    const detachControl = this.control.attach(connection);
    const detachMesh = connection.onSession((amqp, session) => {
      let closed = false;
      const subs: Subscription[] = [];
      const started = this.startSession(amqp, session, subs, () => closed).catch((err: unknown) => {
        if (closed) return;
        this.logger.error('mesh session failed to start; starting it again', { err });
        session.failed(err);
      });
      return async () => {
        closed = true;
        this.sessionActive = false;
        // A session still starting stops at its next step and closes what it opened after this
        // point; wait for that (bounded), so nothing it opened outlives the session.
        await settleWithin(started, 5000);
        await Promise.all(subs.map((s) => Promise.resolve(s.close()).catch(() => undefined)));
        this.stopTimers();
        this.publisher = null;
        this.deadLetter = null;
      };
    });
    return () => {
      detachMesh();
      detachControl();
    };
  }

  private async startSession(amqp: Connection, session: SessionContext, subs: Subscription[], isClosed: () => boolean): Promise<void> {
    /** Keeps a subscription for the session's end; once the session has ended, closes it at once. */
    const keep = async (sub: Subscription): Promise<boolean> => {
      if (!isClosed()) {
        subs.push(sub);
        return true;
      }
      await Promise.resolve(sub.close()).catch(() => undefined);
      return false;
    };
    await declareCoreTopology(amqp);
    const publisher = amqp.createPublisher({ confirm: false, maxAttempts: 2 });
    subs.push({ close: () => publisher.close() });
    this.publisher = publisher;
    this.deadLetter = createDeadLetterer(publisher, `core:${this.options.mesh}`, this.logger);
    if (isClosed()) return;

    // Registry history: register/deregister from the stream, resuming after the stored offset.
    const registry: StreamConsumerHandle = await consumeStream(amqp, {
      stream: QUEUES.registryStream,
      start: () => {
        const offset = this.store.offset(this.registryConsumer);
        return offset === null ? 'first' : offset + 1;
      },
      onMessage: (message, offset) => this.onRegistryMessage(message, offset),
      onBatch: (lastOffset) => this.flush({ consumer: this.registryConsumer, stream: QUEUES.registryStream, offset: lastOffset }),
      logger: this.logger,
      prefetch: 1000,
    });
    if (!(await keep({ close: () => registry.stop() }))) return;

    // Heartbeats: live only, from this core's own exclusive queue, without acks.
    const heartbeatChannel = await amqp.acquire();
    if (!(await keep({ close: () => heartbeatChannel.close().catch(() => undefined) }))) return;
    const { queue: heartbeatQueue } = await heartbeatChannel.queueDeclare({ exclusive: true, autoDelete: true, arguments: { 'x-max-length': 100_000 } });
    await heartbeatChannel.queueBind({ queue: heartbeatQueue, exchange: EXCHANGES.registry, routingKey: HEARTBEAT_BINDING_KEY });
    await heartbeatChannel.queueBind({ queue: heartbeatQueue, exchange: EXCHANGES.registry, routingKey: SIGNAL_BINDING_KEY });
    await heartbeatChannel.basicConsume({ queue: heartbeatQueue, noAck: true }, (message) => this.onHeartbeatMessage(message));

    // Telemetry: from the stored offset (a restarted console resumes where its history ends, with
    // no gap and no double count: the offset is written in the same transaction as the rows);
    // a console without history starts at the stream's tail.
    // Read on a connection of its own by the lean stream reader (core/bus/stream-reader.ts: the
    // general client's per-delivery cost was a third of the ingest thread); when that connection
    // ends, the session is started again on the main one, which resumes from the stored offset.
    const telemetryConsumerName = telemetryConsumer(this.options.mesh);
    this.history.start();
    const stored = this.history.offset();
    const telemetryStart = stored === null ? 'next' : stored + 1;
    this.ingest.started(telemetryStart);
    const telemetry = await readStream({
      connection: { ...session.connectOptions, connectionName: `${session.connectOptions.connectionName} telemetry` },
      stream: QUEUES.telemetryStream,
      start: telemetryStart,
      onMessage: (delivery) => this.onTelemetryMessage(delivery, delivery.offset),
      onHandlerError: (err, offset) => this.logger.error('stream message handler failed', { stream: QUEUES.telemetryStream, offset, err }),
      onBatch: (lastOffset) => this.history.commit({ consumer: telemetryConsumerName, stream: QUEUES.telemetryStream, offset: lastOffset }),
      // Flow control: while the history's worker thread trails by more than its limit, acks are
      // held and the broker keeps the rest of the stream (memory stays bounded; lag shows in the
      // ingest progress), until the worker has caught up (onRoom below).
      mayAck: () => !this.history.backlogged,
      onEnd: (err) => {
        if (isClosed()) return;
        this.logger.warn('telemetry stream reader ended; starting the session again', { code: err.code, replyCode: err.replyCode, error: err.message });
        session.failed(err);
      },
      prefetch: 2000,
    });
    this.logger.info('consuming stream', { stream: QUEUES.telemetryStream, from: telemetryStart });
    const offRoom = this.history.onRoom(() => telemetry.resume());
    const telemetrySub = {
      close: async () => {
        offRoom();
        await telemetry.stop();
        await this.history.drain();
      },
    };
    if (!(await keep(telemetrySub))) return;
    // The stream's tail, for backfill progress (messages behind, ETA).
    if (!(await keep({ close: pollStreamBounds(amqp, QUEUES.telemetryStream, (b, at) => this.ingest.tail(b.first, b.count, at), { logger: this.logger, now: this.now }) }))) return;

    // Discovery requests: competing consumers, so one core answers each.
    const discovery: Consumer = amqp.createConsumer(
      { queue: QUEUES.discoveryRequests, queueOptions: { passive: true }, qos: { prefetchCount: 50 }, requeue: false },
      (message) => this.onDiscoveryRequest(message),
    );
    discovery.on('error', (err) => this.logger.warn('discovery consumer error', { err }));
    if (!(await keep({ close: () => discovery.close() }))) return;

    // (Control commands and their acks are this.control's: it publishes and consumes only while leading.)

    this.startTimers();
    this.sessionActive = true;
    // Agents may have missed pushes while we were away: publish every current set once.
    for (const service of this.registry.serviceNames()) this.markDirty(service);
    this.logger.info('mesh session started', { mesh: this.options.mesh, instances: this.registry.size });
  }

  // --- control commands: the durable outbox of core/control -----------------------------------

  /**
   * Writes a control command to the outbox (an id already there is sent again) and resolves
   * once a broker confirmed it; acks are collected per command (`acksFor`, the `ack` event).
   */
  sendCommand(command: ControlCommand): Promise<CommandRecord> {
    return this.control.sendCommand(command);
  }

  /** Acknowledgements received so far for a command (one per instance and status). */
  acksFor(commandId: string): ControlAck[] {
    return this.control.acksFor(commandId);
  }

  // --- message handlers ---------------------------------------------------------------------

  private decode(message: AsyncMessage | StreamDelivery, expected: Parameters<typeof decodeMeshEvent>[1]): MeshEvent | null {
    const result = decodeMeshEvent(message.body, expected);
    if (result.ok) return result.event;
    this.stats.deadLettered += 1;
    void this.deadLetter?.(message, result.reason);
    return null;
  }

  private onRegistryMessage(message: AsyncMessage, _offset: number): void {
    // Streams written by earlier builds also hold heartbeats: old news, skipped quietly.
    if (message.routingKey.endsWith('.heartbeat')) return;
    const event = this.decode(message, ['io.meshdeck.instance.register.v1', 'io.meshdeck.instance.deregister.v1']);
    if (!event) return;
    const now = this.now();
    // Replayed history keeps its own time (clamped: a clock ahead of ours is not the future).
    const at = Math.min(now, Date.parse(event.time) || now);
    if (event.type === 'io.meshdeck.instance.register.v1') {
      this.stats.registered += 1;
      const data = event.data as MeshEvent<'io.meshdeck.instance.register.v1'>['data'];
      this.apply(this.registry.register(data, now, at));
      const instance = this.registry.get(data.service, data.instanceId);
      if (instance) this.dirtyInstances.set(`${data.service}/${data.instanceId}`, instance);
      // A live registration is the instance's first sign of life: the heartbeat rule counts its
      // silence from there (an instance killed before its first heartbeat, about one interval
      // after it registered, is then caught by the shorter TTL after a refusal too). Replayed
      // history is old news: counting from it would call every replayed instance silent.
      if (instance && now - at <= instance.heartbeatIntervalMs) this.failover.heartbeat(data.service, data.instanceId, instance.heartbeatIntervalMs);
    } else {
      this.stats.deregistered += 1;
      const data = event.data as MeshEvent<'io.meshdeck.instance.deregister.v1'>['data'];
      const before = this.registry.get(data.service, data.instanceId);
      this.apply(this.registry.deregister(data, at));
      if (before) this.dirtyInstances.set(`${data.service}/${data.instanceId}`, before);
    }
  }

  private onHeartbeatMessage(message: AsyncMessage): void {
    const event = this.decode(message, ['io.meshdeck.instance.heartbeat.v1', 'io.meshdeck.health.signal.v1']);
    if (!event) return;
    if (event.type === 'io.meshdeck.health.signal.v1') {
      this.onSignal(event.data as HealthSignal);
      return;
    }
    this.stats.heartbeats += 1;
    const data = event.data as MeshEvent<'io.meshdeck.instance.heartbeat.v1'>['data'];
    const now = this.now();
    this.heartbeatLag.heard(Date.parse(event.time), now);
    const changes = this.registry.heartbeat(data, now);
    const instance = this.registry.get(data.service, data.instanceId);
    if (!instance) return;
    this.failover.heartbeat(data.service, data.instanceId, instance.heartbeatIntervalMs);
    if (changes.length) {
      this.dirtyInstances.set(`${data.service}/${data.instanceId}`, instance);
      this.apply(changes);
    } else {
      this.touched.set(`${data.service}/${data.instanceId}`, instance);
    }
  }

  /** Direct evidence from an agent; kept (bounded) and passed on to health detection. */
  private onSignal(signal: HealthSignal): void {
    this.stats.signals += 1;
    this.recentSignals.push({ ...signal, at: this.now() });
    if (this.recentSignals.length > 1000) this.recentSignals.shift();
    this.logger.info('health signal', { target: `${signal.target.service}/${signal.target.instanceId}`, reporter: `${signal.reporter.service}/${signal.reporter.instanceId}`, kind: signal.kind });
    this.emit('signal', signal);
    const step = this.failover.signal(signal);
    if (step) this.applyFailover([step]);
  }

  /** Signals received lately, newest last. */
  signals(): ReadonlyArray<HealthSignal & { at: number }> {
    return this.recentSignals;
  }

  private onTelemetryMessage(message: StreamDelivery, offset: number): void {
    const event = this.decode(message, ['io.meshdeck.telemetry.batch.v1']);
    if (!event) {
      this.ingest.processed(offset);
      return;
    }
    const batch = event.data as MeshEvent<'io.meshdeck.telemetry.batch.v1'>['data'];
    if (!this.batchIds.firstSeen(batch.service, batch.instanceId, event.id)) {
      // An agent sent it again after losing the confirm: counted once.
      this.stats.telemetryDuplicates += 1;
      this.ingest.processed(offset);
      return;
    }
    this.stats.telemetryBatches += 1;
    const now = this.now();
    this.edges.ingest(batch, now);
    this.events.ingest(batch, now);
    this.history.ingest(batch, message.body, now);
    this.failover.observeBatch(batch);
    this.incidents.ingest(batch);
    this.ingest.processed(offset, batch.windowStart + batch.windowMs, now);
  }

  // --- automatic failover -------------------------------------------------------------------

  /**
   * The endpoint set agents get: the registry's, with the failover engine's view on top —
   * ejected instances listed as such (no traffic), probing ones at their probe share of weight.
   */
  endpointsFor(service: string): ReturnType<Registry['endpoints']> {
    const set = this.failoverEndpoints(service);
    const zones = this.zones.zonesField(service);
    return zones ? { ...set, zones } : set;
  }

  private failoverEndpoints(service: string): ReturnType<Registry['endpoints']> {
    const set = this.withCircuitBreaker(this.registry.endpoints(service));
    const health = new Map(this.failover.health(service).map((h) => [h.instanceId, h]));
    if (health.size === 0) return set;
    return {
      ...set,
      endpoints: set.endpoints.map((e) => {
        const h = health.get(e.instanceId);
        if (!h || e.state !== 'healthy' || h.state === 'healthy') return e;
        if (h.state === 'ejected') return { ...e, state: 'ejected' as const };
        return { ...e, weight: Math.max(1, Math.round(e.weight * h.weightFactor)) };
      }),
    };
  }

  /**
   * The callee's circuit-breaker settings from its failover policy, carried in its endpoint set
   * only when they differ from Meshdeck's defaults (agents apply the defaults without them, and
   * agents that predate the field keep accepting sets of services nobody tuned).
   */
  private withCircuitBreaker(set: ReturnType<Registry['endpoints']>): ReturnType<Registry['endpoints']> {
    const settings = this.policies.get(set.service).policy.circuitBreaker;
    return sameBreakerSettings(settings, DEFAULT_OUTLIER_POLICY.circuitBreaker) ? set : { ...set, circuitBreaker: { ...settings } };
  }

  /**
   * The latency outliers each sweep spared (their callees explain them): logged, kept in a short
   * history, and per service as of its latest sweep (what the console shows on the instance).
   */
  private noteSpared(steps: FailoverStep[]): void {
    for (const step of steps) {
      if (!step.swept) continue;
      for (const h of step.spared) {
        this.logger.info('latency outlier spared', { service: step.service, instanceId: h.instanceId, reason: h.reason, own: h.samples.own, outbound: h.samples.outbound });
        this.sparedHistory.push({ ...h, service: step.service, at: step.sweptAt });
        if (this.sparedHistory.length > 1000) this.sparedHistory.shift();
      }
      if (step.spared.length) this.sparedLatest.set(step.service, new Map(step.spared.map((h) => [h.instanceId, { ...h, at: step.sweptAt }])));
      else this.sparedLatest.delete(step.service);
    }
  }

  /**
   * Applies the engine's transitions: only the leading core acts (the others keep their view up to
   * date but leave the endpoint sets to the leader). Each transition is pushed, written to the
   * registry history, and audited with its evidence.
   */
  private applyFailover(steps: FailoverStep[]): void {
    this.noteSpared(steps);
    if (!steps.some((s) => s.transitions.length)) return;
    // One transaction for every audit entry and timeline line of the tick: a commit per
    // transition held the event loop when a whole mesh's instances changed at once.
    try {
      this.options.db.transaction(() => this.applyTransitions(steps))();
    } catch (err) {
      this.logger.error('failover decisions not saved (audit, incident timelines); they are in effect', { err, transitions: steps.reduce((n, s) => n + s.transitions.length, 0) });
    }
    this.emit('changed');
  }

  private applyTransitions(steps: FailoverStep[]): void {
    const leading = this.control.leadership().isLeader;
    for (const step of steps) {
      for (const t of step.transitions) {
        this.logger.warn('failover', { service: t.service, instanceId: t.instanceId, from: t.from, to: t.to, reason: t.reason, leading });
        if (!leading) continue;
        this.markDirty(t.service);
        this.failoverHistory.push(t);
        this.incidents.failoverTransition(t);
        if (this.failoverHistory.length > 1000) this.failoverHistory.shift();
        try {
          this.control.audit.append({
            at: t.at,
            event: 'result',
            actor: `meshdeck-core ${this.control.coreId}`,
            origin: 'automatic',
            action: t.to === 'ejected' ? 'eject' : t.to === 'probing' ? 'probe' : 'restore',
            service: t.service,
            instanceId: t.instanceId,
            reason: t.reason,
            result: 'acked',
            detail: { from: t.from, to: t.to, until: t.until, durationMs: t.durationMs, backoff: t.backoff, ejections: t.ejections },
            evidence: t.evidence,
            coreId: this.control.coreId,
          });
        } catch (err) {
          this.logger.error('failover decision not audited', { err, instanceId: t.instanceId });
        }
      }
    }
  }

  /**
   * Runs the zone plan of `service` (fail-back ramp, operator zone failovers) before its set is
   * pushed; a change of admitted health is kept and, on the leading core, audited with its evidence.
   */
  private planZones(service: string, now: number): void {
    let change: ZoneStepChange | null;
    try {
      const probing = new Set(this.failover.health(service).filter((h) => h.state === 'probing').map((h) => h.instanceId));
      const endpoints = this.failoverEndpoints(service).endpoints.map((e) => ({ ...e, probing: probing.has(e.instanceId) }));
      change = this.zones.update(service, endpoints, this.policies.get(service).policy, now, this.zoneFailovers.zones(service));
    } catch (err) {
      this.logger.error('zone plan failed; the set is pushed with the last admitted health', { err, service });
      return;
    }
    if (!change) return;
    const leading = this.control.leadership().isLeader;
    this.logger.info('zone plan', { service, from: change.from, to: change.to, reason: change.reason, leading });
    this.zoneHistory.push(change);
    if (this.zoneHistory.length > 1000) this.zoneHistory.shift();
    if (!leading) return;
    try {
      const lost = Object.entries(change.to).some(([zone, a]) => a < (change.from[zone] ?? a));
      this.control.audit.append({
        at: change.at,
        event: 'result',
        actor: `meshdeck-core ${this.control.coreId}`,
        origin: 'automatic',
        action: lost ? 'zone-failover' : 'zone-failback',
        service,
        instanceId: null,
        reason: change.reason,
        result: 'acked',
        detail: { from: change.from, to: change.to, failedOver: change.failedOver, nextStepAt: change.nextStepAt },
        evidence: change.evidence,
        coreId: this.control.coreId,
      });
    } catch (err) {
      this.logger.error('zone plan change not audited', { err, service });
    }
  }

  /** Zone counts, admitted health, caps and operator failovers of a service, for the console. */
  zoneState(service: string): ZoneStateInfo {
    const counts = countZones(this.failoverEndpoints(service).endpoints);
    return zoneState(service, this.zones, counts, this.policies.get(service).policy.overprovisioningFactor, this.zoneFailovers.zones(service), this.zoneHistory);
  }

  /** The last changes of admitted zone health (newest last), with their evidence. */
  zoneTransitions(): readonly ZoneStepChange[] {
    return this.zoneHistory;
  }

  /**
   * Share of `service`'s traffic that `zone` takes now, estimated from the zone plan in effect for
   * the zones of its callers' instances (callers seen in the last 10 s of telemetry, each instance
   * counting once); null when no caller was seen.
   */
  private zoneTraffic(service: string, zone: string): number | null {
    const callers = new Set(this.edges.summaries(this.now()).filter((e) => e.to === service && e.from !== 'external').map((e) => e.from));
    const callerZones = [...callers].flatMap((c) => this.registry.instances(c).filter((i) => i.state === 'healthy').map((i) => i.zone));
    if (callerZones.length === 0) return null;
    const policy = this.policies.get(service).policy;
    const admitted = this.zones.view(service)?.admitted;
    const counts = countZones(this.failoverEndpoints(service).endpoints);
    if (!counts.some((z) => z.zone === zone)) return null;
    let sum = 0;
    for (const callerZone of callerZones) {
      const report = zoneLoads(zoneOrder(callerZone, counts), policy, admitted);
      sum += report.zones.find((z) => z.zone === zone)?.load ?? 0;
    }
    return sum / callerZones.length;
  }

  /** The last automatic transitions (newest last), with their evidence. */
  failoverTransitions(): readonly EjectionTransition[] {
    return this.failoverHistory;
  }

  /** The last latency outliers the rule spared because their outbound calls explain them (newest last). */
  sparedLatencyOutliers(): ReadonlyArray<SparedHost & { service: string; at: number }> {
    return this.sparedHistory;
  }

  /** The latency outliers the latest sweep of `service` spared, by instance (empty when none). */
  sparedNow(service: string): ReadonlyMap<string, SparedHost & { at: number }> {
    return this.sparedLatest.get(service) ?? EMPTY_SPARED;
  }

  private async onDiscoveryRequest(message: AsyncMessage): Promise<void> {
    const event = this.decode(message, ['io.meshdeck.discovery.request.v1']);
    if (!event || !message.replyTo || !this.publisher) return;
    const data = event.data as MeshEvent<'io.meshdeck.discovery.request.v1'>['data'];
    const services = data.services.length ? data.services : this.registry.serviceNames();
    for (const service of services) {
      const body = encodeMeshEvent('io.meshdeck.discovery.endpoints.v1', this.endpointsFor(service), { source: this.options.source });
      await this.publisher.send({ exchange: '', routingKey: message.replyTo, correlationId: message.correlationId, contentType: CONTENT_TYPE }, body);
    }
    this.stats.discoveryAnswers += 1;
  }

  // --- changes, persistence, pushes -----------------------------------------------------------

  private apply(changes: RegistryChange[]): void {
    if (changes.length === 0) return;
    this.pendingChanges.push(...changes);
    this.incidents.registryChanges(changes);
    for (const change of changes) {
      this.markDirty(change.service);
      this.logger.info('registry change', { service: change.service, instanceId: change.instanceId, kind: change.kind, from: change.from, to: change.to, detail: change.detail });
    }
    this.emit('registry', changes);
    this.emit('changed');
  }

  private markDirty(service: string): void {
    this.dirtyServices.add(service);
    if (this.pushTimer) return;
    // Coalesce a burst of changes into one push per service.
    this.pushTimer = setTimeout(() => this.pushEndpoints(), 20);
  }

  private pushEndpoints(): void {
    this.pushTimer = null;
    this.flush();
    const publisher = this.publisher;
    if (!publisher) return;
    const now = this.now();
    for (const service of this.dirtyServices) {
      this.planZones(service, now);
      this.registry.bumpRevision(service, now);
      const body = encodeMeshEvent('io.meshdeck.discovery.endpoints.v1', this.endpointsFor(service), { source: this.options.source });
      this.stats.endpointPushes += 1;
      publisher
        .send({ exchange: EXCHANGES.discovery, routingKey: routingKeys.endpoints(service), contentType: CONTENT_TYPE }, body)
        .catch((err: unknown) => this.logger.warn('endpoint push failed; agents keep their last set until the next change', { service, err }));
    }
    this.dirtyServices.clear();
  }

  /**
   * Persists pending instance changes, history and (every LAST_SEEN_PERSIST_MS, or with
   * `allLastSeen`) the last-seen times of heartbeats that changed nothing; one transaction.
   */
  flush(offset?: { consumer: string; stream: string; offset: number }, allLastSeen = false, wait = false): void {
    if (offset) this.registryOffset = offset;
    const now = this.now();
    const lastSeen = this.touched.size > 0 && (allLastSeen || now - this.lastSeenPersistedAt >= LAST_SEEN_PERSIST_MS);
    if (!this.registryOffset && this.pendingChanges.length === 0 && this.dirtyInstances.size === 0 && !lastSeen) return;
    if (this.registryRetry) clearTimeout(this.registryRetry);
    this.registryRetry = null;
    try {
      // The history's worker may hold the write lock: then this write waits, not the event loop
      // (retried every REGISTRY_RETRY_MS; after REGISTRY_DEFERRALS tries, or when told, it waits).
      const written = this.store.commit(
        { instances: [...this.dirtyInstances.values()], changes: this.pendingChanges, touched: lastSeen ? [...this.touched.values()] : [], ...(this.registryOffset ? { offset: this.registryOffset } : {}) },
        { wait: wait || this.registryDeferrals >= REGISTRY_DEFERRALS },
      );
      if (!written) {
        this.registryDeferrals += 1;
        this.stats.registryWritesDeferred += 1;
        this.registryRetry = setTimeout(() => {
          this.registryRetry = null;
          this.flush(undefined, allLastSeen);
        }, REGISTRY_RETRY_MS);
        this.registryRetry.unref();
        return;
      }
      this.registryDeferrals = 0;
      this.registryOffset = null;
      this.options.storeWrites?.succeeded();
      this.pendingChanges = [];
      this.dirtyInstances.clear();
      if (lastSeen) {
        this.touched.clear();
        this.lastSeenPersistedAt = now;
      }
    } catch (err) {
      this.logger.error('registry could not be saved; keeping the changes in memory to retry', { err });
      this.options.storeWrites?.failed(err, 'registry changes');
    }
  }

  /**
   * The silence forgiven at this sweep because the core itself is behind (heartbeat-lag.ts), the
   * sweep being `lateMs` late; logged when the core falls behind and when it catches up.
   */
  private heartbeatGrace(now: number, lateMs: number): number {
    this.heartbeatLag.swept(now, lateMs);
    const graceMs = this.heartbeatLag.graceMs(now);
    if (graceMs > 0 && this.behind === null) {
      this.behind = { since: now, maxGraceMs: graceMs };
      this.logger.warn('this core is behind in hearing heartbeats: that much silence is not counted against instances', { graceMs: Math.round(graceMs) });
    } else if (graceMs > 0) {
      this.behind!.maxGraceMs = Math.max(this.behind!.maxGraceMs, graceMs);
    } else if (this.behind !== null) {
      this.logger.info('this core hears heartbeats in time again', { behindMs: now - this.behind.since, maxGraceMs: Math.round(this.behind.maxGraceMs) });
      this.behind = null;
    }
    return graceMs;
  }

  private failoverTickMs(): number {
    return Math.min(this.options.sweepIntervalMs ?? SWEEP_INTERVAL_MS, FAILOVER_TICK_MS);
  }

  /**
   * setInterval whose callback also gets how late it ran (ms past its period): a timer that runs
   * late says the event loop stood still, and heartbeats waited unread meanwhile.
   */
  private everyWithLateness(periodMs: number, run: (now: number, lateMs: number) => void): NodeJS.Timeout {
    let last = this.now();
    return setInterval(() => {
      const now = this.now();
      const lateMs = now - last - periodMs;
      last = now;
      run(now, lateMs);
    }, periodMs);
  }

  private startTimers(): void {
    this.stopTimers();
    this.sweepTimer = this.everyWithLateness(this.options.sweepIntervalMs ?? SWEEP_INTERVAL_MS, (now, lateMs) => {
      const graceMs = this.heartbeatGrace(now, lateMs);
      const changes = this.registry.sweep(now, graceMs);
      for (const change of changes) {
        const instance = this.registry.get(change.service, change.instanceId);
        if (instance) this.dirtyInstances.set(`${change.service}/${change.instanceId}`, instance);
      }
      this.apply(changes);
      for (const service of this.zones.due(this.now())) this.markDirty(service);
    });
    this.failoverTimer = this.everyWithLateness(this.failoverTickMs(), (now, lateMs) => {
      // Late too after a stall, and maybe first: the engine's heartbeat rule must see the grace the sweep would set.
      this.heartbeatGrace(now, lateMs);
      this.applyFailover(this.failover.tick());
    });
    this.flushTimer = setInterval(() => {
      this.flush();
      this.history.housekeep();
    }, this.options.housekeepingIntervalMs ?? HOUSEKEEPING_INTERVAL_MS);
    this.pruneTimer = setInterval(() => {
      this.history.prune();
    }, 60_000);
    this.incidentTimer = setInterval(() => this.incidents.tick(), 1000);
    this.incidentTimer.unref();
    this.sweepTimer.unref();
    this.failoverTimer.unref();
    this.flushTimer.unref();
    this.pruneTimer.unref();
  }

  private stopTimers(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.failoverTimer) clearInterval(this.failoverTimer);
    this.failoverTimer = null;
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.incidentTimer) clearInterval(this.incidentTimer);
    this.pruneTimer = this.incidentTimer = null;
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.sweepTimer = this.flushTimer = this.pushTimer = null;
    this.flush(undefined, true, true);
  }
}

