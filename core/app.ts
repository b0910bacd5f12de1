/**
 * The mesh control core, composed: the database, the profile and connection services, and the
 * API router that both transports serve. Electron's main process and the headless host each
 * create one of these; nothing here knows which.
 */
import { EventEmitter } from 'node:events';
import type { Profile, BrokerSnapshot, ConnectionState, ControlActionsView, IncidentsView, MeshSummary, MeshTopology, MeshTraffic, ServiceSummary } from './api/contract.js';
import { MeshLiveSplitter } from './api/mesh-live.js';
import { BrokerMonitor } from './broker/monitor.js';
import { NotFoundError } from './lib/errors.js';
import { MeshRuntime, type MeshRuntimeOptions } from './mesh/mesh-runtime.js';
import { renderPrometheus } from './telemetry/prometheus.js';
import { TelemetryQueries } from './telemetry/queries.js';
import { ApiRouter, type Handlers, type TopicSource, type TopicSources } from './api/router.js';
import { ConnectionManager } from './bus/connection-manager.js';
import { probeConnection, type BackoffPolicy } from './bus/connection.js';
import { ProfileService, CLI_PROFILE_ID } from './bus/profiles.js';
import type { Logger } from './lib/log.js';
import type { SecretStore } from './secrets/secret-store.js';
import { explainStoreError, StoreHealth, type StoreHealthState } from './store/store-health.js';
import { currentSchemaVersion, openDatabase, schemaHistory, type Db } from './store/database.js';
import { MESHDECK_VERSION } from './version.js';
import { EventTail } from './events/tail.js';
import { EventCollector } from './events/collector.js';
import type { TailBatch } from './events/schema.js';

export interface MeshCoreOptions {
  databasePath: string;
  secrets: SecretStore;
  logger: Logger;
  host: 'electron' | 'headless';
  /** A broker URL from the command line: becomes a read-only profile that connects at start. */
  commandLineBroker?: string;
  /** The management API of the command-line broker (`--management URL`). */
  commandLineManagementUrl?: string;
  backoff?: BackoffPolicy;
  /** Control plane settings of every mesh: leader tick, outbox limit, command TTL, core identity. */
  control?: MeshRuntimeOptions['control'];
  /** Broker introspection: the broker's statistics interval (ms, default 5000) and a fetch to use. */
  broker?: { statsIntervalMs?: number; fetch?: typeof fetch };
  /** Incident thresholds for services without saved ones, and for queues (core/incidents). */
  incidentRules?: MeshRuntimeOptions['incidentRules'];
  /** Every mesh's housekeeping interval (ms, default 2000): registry and idle history writes. */
  housekeepingIntervalMs?: MeshRuntimeOptions['housekeepingIntervalMs'];
  /** The built history-worker.js: each mesh's telemetry history is written on a worker thread (MeshRuntimeOptions.historyWorker). */
  historyWorker?: MeshRuntimeOptions['historyWorker'];
  /** How far each mesh's history worker may trail before its telemetry stream is held (MeshRuntimeOptions.historyBacklogBytes). */
  historyBacklogBytes?: MeshRuntimeOptions['historyBacklogBytes'];
}

export interface MeshCore {
  readonly router: ApiRouter;
  readonly db: Db;
  readonly profiles: ProfileService;
  readonly connections: ConnectionManager;
  /** The mesh behind each profile that has been connected. */
  readonly meshes: Map<string, MeshRuntime>;
  /** The console's own view in Prometheus text format (for GET /metrics). */
  metrics(): string;
  /** Closes broker connections, then the database. Safe to call twice. */
  close(): Promise<void>;
}

/** The span of the live edges' numbers (mesh.summary, mesh.traffic): LiveEdges' default. */
const LIVE_SPAN_S = 10;
/** The events behind the mesh.summary, mesh.topology and mesh.traffic topics. */
const LIVE_TOPICS = ['summary', 'topology', 'traffic'] as const;

function topicFrom<T>(emitter: EventEmitter, event: string, current: () => T): TopicSource<T> {
  return {
    current,
    watch(listener) {
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    },
  };
}

export function createMeshCore(options: MeshCoreOptions): MeshCore {
  const { logger, secrets } = options;
  const startedAt = Date.now();
  const db = openDatabase({ path: options.databasePath, logger: logger.child('store') });
  const storeHealth = new StoreHealth();
  const profiles = new ProfileService(db, secrets, logger.child('profiles'));
  const connections = new ConnectionManager(profiles, logger, options.backoff);
  profiles.on('changed', () => connections.emit('changed', connections.states()));
  // The events tail (events.tail): one line per notable change, batched once a second.
  const tail = new EventTail();
  const collector = new EventCollector(tail, logger.child('events'));
  connections.on('changed', (states) => collector.connectionStates(states));
  storeHealth.on('change', (state) => collector.storage(state));

  // Every broker connection carries a mesh: registry, discovery, live telemetry.
  const meshes = new Map<string, MeshRuntime>();
  const meshEvents = new EventEmitter();
  let summaryTimer: NodeJS.Timeout | null = null;
  const scheduleSummary = () => {
    // Coalesced: at most one mesh.summary per second, however busy the registry is.
    summaryTimer ??= setTimeout(() => {
      summaryTimer = null;
      // Nobody watches the live views (no console page is open): the second's summaries are not
      // computed (about 90 ms at 30 000 edges); a watcher's first read computes them afresh.
      if (!watchingLive()) {
        live.clear();
        return;
      }
      const summaries = meshSummaries();
      meshEvents.emit('summary', summaries);
      splitLive(summaries);
    }, 1000);
  };
  let controlTimer: NodeJS.Timeout | null = null;
  let closing = false;
  const scheduleControl = () => {
    if (closing) return; // the database is about to close
    // Coalesced: at most one control.actions per second, however many acks arrive.
    controlTimer ??= setTimeout(() => {
      controlTimer = null;
      meshEvents.emit('control', controlViews());
    }, 1000);
  };
  let incidentsTimer: NodeJS.Timeout | null = null;
  const scheduleIncidents = () => {
    if (closing) return;
    // Coalesced over 200 ms: an opening reaches the banner at once, a burst of timeline entries once.
    incidentsTimer ??= setTimeout(() => {
      incidentsTimer = null;
      meshEvents.emit('incidents', incidentViews());
    }, 200);
  };
  connections.on('created', (profileId, connection) => {
    const mesh = new MeshRuntime({
      mesh: profileId,
      db,
      logger,
      source: `meshdeck://console/${options.host}-${process.pid}`,
      control: { ...options.control, secrets },
      ...(options.incidentRules ? { incidentRules: options.incidentRules } : {}),
      ...(options.housekeepingIntervalMs ? { housekeepingIntervalMs: options.housekeepingIntervalMs } : {}),
      ...(options.historyWorker ? { historyWorker: options.historyWorker } : {}),
      ...(options.historyBacklogBytes ? { historyBacklogBytes: options.historyBacklogBytes } : {}),
      storeWrites: {
        failed: (err, operation) => storeHealth.failed(explainStoreError(err, operation, options.databasePath)),
        succeeded: () => storeHealth.succeeded(),
      },
    });
    mesh.attach(connection);
    mesh.on('changed', scheduleSummary);
    mesh.control.on('changed', scheduleControl);
    mesh.incidents.on('changed', scheduleIncidents);
    meshes.set(profileId, mesh);
    watchBrokers(); // its queue rules read the broker's snapshots: polled while the mesh is connected
    collector.watchMesh(profileId, mesh);
  });
  // Broker introspection through the management API, one poller per profile that is looked at.
  const monitors = new Map<string, BrokerMonitor>();
  const brokerEvents = new EventEmitter();
  let brokerSubscribers = 0;
  /** A connected mesh's incident monitor wants the broker's queues (core/incidents/queue-feed.ts). */
  const feedsIncidents = (profileId: string): boolean =>
    meshes.has(profileId) && connections.states().some((c) => c.profileId === profileId && c.status === 'connected');
  const brokerSnapshots = (): BrokerSnapshot[] => [...monitors.values()].map((m) => m.current());
  const monitorOf = (profileId: string): BrokerMonitor => {
    let monitor = monitors.get(profileId);
    if (monitor) return monitor;
    profiles.get(profileId); // NotFoundError for an unknown profile
    monitor = new BrokerMonitor({
      profileId,
      access: () => profiles.managementAccess(profileId),
      events: () => meshes.get(profileId)?.events.summaries(Date.now()) ?? [],
      meshServices: () => new Set(meshes.get(profileId)?.registry.serviceNames() ?? []),
      subscribed: () => brokerSubscribers > 0 || feedsIncidents(profileId),
      logger: logger.child('broker'),
      ...(options.broker?.statsIntervalMs ? { statsIntervalMs: options.broker.statsIntervalMs } : {}),
      ...(options.broker?.fetch ? { fetch: options.broker.fetch } : {}),
    });
    monitor.on('snapshot', (snapshot) => {
      meshes.get(profileId)?.incidents.observeBroker(snapshot); // the queue rules (core/incidents/queue-feed.ts)
      brokerEvents.emit('snapshot', brokerSnapshots());
    });
    monitors.set(profileId, monitor);
    return monitor;
  };
  const watchBrokers = () => {
    // Every profile with a live (or trying) connection is polled while someone subscribes.
    for (const state of connections.states()) {
      if (state.status !== 'idle' && state.status !== 'disconnected') monitorOf(state.profileId).ensureLoop();
    }
  };
  connections.on('changed', () => {
    const known = new Set(profiles.list().map((p) => p.id));
    for (const [id, monitor] of monitors) {
      if (!known.has(id)) {
        monitor.close();
        monitors.delete(id);
      }
    }
    watchBrokers(); // polls only what is wanted: a subscriber, or a connected mesh's queue rules
  });

  const telemetryQueries = new TelemetryQueries(db);
  const meshOf = (profileId: string): MeshRuntime => {
    const mesh = meshes.get(profileId);
    if (!mesh) throw new NotFoundError('Connected mesh for profile', profileId);
    return mesh;
  };
  const serviceSummaries = (mesh: MeshRuntime): ServiceSummary[] =>
    mesh.registry.serviceNames().map((name) => {
      const instances = mesh.registry.instances(name);
      const held = new Map(mesh.failover.health(name).map((h) => [h.instanceId, h.state]));
      const counts = (list: typeof instances) => ({
        instances: list.length,
        healthy: list.filter((i) => i.state === 'healthy').length,
        draining: list.filter((i) => i.state === 'draining').length,
        down: list.filter((i) => i.state === 'down').length,
        ejected: list.filter((i) => i.state !== 'down' && held.get(i.instanceId) === 'ejected').length,
        probing: list.filter((i) => i.state !== 'down' && held.get(i.instanceId) === 'probing').length,
      });
      const zones = [...new Set(instances.map((i) => i.zone))].sort();
      return {
        name,
        ...counts(instances),
        zones,
        versions: [...new Set(instances.map((i) => i.version))].sort(),
        agents: [...new Set(instances.map((i) => i.agent))].sort(),
        byZone: zones.map((zone) => ({ zone, ...counts(instances.filter((i) => i.zone === zone)) })),
      };
    });
  const meshSummaries = (): MeshSummary[] => {
    const now = Date.now();
    return [...meshes.entries()].map(([profileId, mesh]) => ({
      profileId,
      at: now,
      services: serviceSummaries(mesh),
      edges: mesh.edges.summaries(now, LIVE_SPAN_S * 1000),
      events: mesh.events.summaries(now),
      ingest: mesh.ingest.view(now),
    }));
  };
  // The same summaries as two compact topics (core/api/mesh-live.ts): the topology when it
  // changes, every edge's numbers as columns each second.
  const splitters = new Map<string, MeshLiveSplitter>();
  const live = new Map<string, { topology: MeshTopology; traffic: MeshTraffic }>();
  const splitLive = (summaries: MeshSummary[]) => {
    let changed = false;
    for (const summary of summaries) {
      let splitter = splitters.get(summary.profileId);
      if (!splitter) splitters.set(summary.profileId, (splitter = new MeshLiveSplitter(summary.profileId, LIVE_SPAN_S)));
      const out = splitter.split(summary);
      live.set(summary.profileId, { topology: out.topology, traffic: out.traffic });
      changed ||= out.changed;
    }
    if (changed) meshEvents.emit('topology', liveTopologies());
    meshEvents.emit('traffic', liveTraffic());
  };
  const watchingLive = () => LIVE_TOPICS.some((event) => meshEvents.listenerCount(event) > 0);
  const ensureLive = () => {
    if ([...meshes.keys()].some((id) => !live.has(id))) splitLive(meshSummaries());
  };
  const liveTopologies = (): MeshTopology[] => [...meshes.keys()].flatMap((id) => live.get(id)?.topology ?? []);
  const liveTraffic = (): MeshTraffic[] => [...meshes.keys()].flatMap((id) => live.get(id)?.traffic ?? []);
  const controlView = (profileId: string, mesh: MeshRuntime, limit = 50): ControlActionsView => ({
    profileId,
    at: Date.now(),
    leadership: mesh.control.leadership(),
    outbox: { open: mesh.control.outbox.openCount(), limit: mesh.control.outbox.limit },
    actions: mesh.control.actions.recent(limit),
  });
  const incidentViews = (): IncidentsView[] => [...meshes.entries()].map(([profileId, mesh]) => ({ profileId, at: Date.now(), ...mesh.incidents.view() }));
  const controlViews = (): ControlActionsView[] => [...meshes.entries()].map(([profileId, mesh]) => controlView(profileId, mesh));
  const liveTimer = setInterval(() => {
    if (meshes.size > 0) scheduleSummary();
  }, 1000);
  liveTimer.unref();

  const handlers: Handlers = {
    'system.info': () => ({
      product: 'Meshdeck',
      version: MESHDECK_VERSION,
      host: options.host,
      schemaVersion: currentSchemaVersion(db),
      migrations: schemaHistory(db),
      databasePath: options.databasePath,
      secretStore: { kind: secrets.kind, persistent: secrets.persistent, detail: secrets.detail },
      startedAt,
      node: process.versions.node,
      storage: storeHealth.state,
    }),
    'profiles.list': () => profiles.list(),
    'profiles.create': (input) => {
      const profile = profiles.create(input);
      if (profile.autoConnect) connections.connect(profile.id);
      return profiles.get(profile.id);
    },
    'profiles.update': async ({ id, patch }) => {
      const profile = profiles.update(id, patch);
      const live = connections.get(id);
      if (live && live.state.status !== 'idle' && live.state.status !== 'disconnected') {
        // Settings changed under a live connection: reconnect with the new ones.
        await live.stop();
        connections.connect(id);
      }
      return profile;
    },
    'profiles.delete': async ({ id }) => {
      profiles.get(id);
      if (id !== CLI_PROFILE_ID) await connections.forget(id);
      profiles.delete(id);
      return { deleted: true as const };
    },
    'profiles.test': async (input) => {
      const opts = 'id' in input ? profiles.connectOptions(input.id) : profiles.connectOptionsForInput(input.profile);
      return probeConnection(opts);
    },
    'connections.list': () => connections.states(),
    'connections.connect': ({ profileId }) => connections.connect(profileId),
    'connections.disconnect': ({ profileId }) => connections.disconnect(profileId),
    'mesh.services': ({ profileId }) => serviceSummaries(meshOf(profileId)),
    'mesh.instances': ({ profileId, service, healthyOnly, zone }) => {
      const mesh = meshOf(profileId);
      const health = new Map(mesh.failover.health(service).map((h) => [h.instanceId, h]));
      const sparedNow = mesh.sparedNow(service);
      return mesh.registry.instances(service, { healthyOnly, ...(zone ? { zone } : {}) }).map(({ seq: _seq, ...rest }) => {
        const h = health.get(rest.instanceId);
        const held = h && h.state !== 'healthy' ? h : null;
        const failover = held
          ? {
              state: held.state as 'ejected' | 'probing',
              until: held.until,
              reason: held.last?.reason ?? '',
              ejections: held.ejections,
              weightFactor: held.weightFactor,
              backoff: held.backoff,
              probeSuccesses: held.probeSuccesses,
              heartbeatHold: held.heartbeatHold,
            }
          : null;
        const last = h?.last;
        const lastTransition = last
          ? { at: last.at, from: last.from, to: last.to, until: last.until, durationMs: last.durationMs, backoff: last.backoff, ejections: last.ejections, reason: last.reason, evidence: last.evidence }
          : null;
        const sp = sparedNow.get(rest.instanceId);
        const spared = sp
          ? {
              at: sp.at,
              reason: sp.reason,
              p99: sp.samples.p99,
              threshold: sp.thresholds.threshold,
              ownP99: sp.samples.own.p99,
              ownThreshold: sp.samples.own.threshold,
              ownBy: sp.ownBy,
              ...(sp.samples.own.p50Threshold !== undefined ? { ownP50: sp.samples.own.p50, ownP50Threshold: sp.samples.own.p50Threshold } : {}),
              callees: sp.samples.outbound.callees,
            }
          : null;
        return { ...rest, failover, lastTransition, spared };
      });
    },
    'mesh.endpoints': ({ profileId, service }) => meshOf(profileId).endpointsFor(service),
    'mesh.history': ({ profileId, ...filter }) => meshOf(profileId).store.events(filter),
    'mesh.edges': ({ profileId, spanSeconds }) => meshOf(profileId).edges.summaries(Date.now(), spanSeconds * 1000),
    'mesh.edge': ({ profileId, from, to, spanSeconds }) => meshOf(profileId).edges.summary(from, to, Date.now(), spanSeconds * 1000),
    'telemetry.series': ({ profileId, ...query }) => {
      meshOf(profileId);
      return telemetryQueries.series({ mesh: profileId, ...query });
    },
    'failover.policy': ({ profileId, service }) => meshOf(profileId).policies.get(service),
    'failover.zones': ({ profileId, service }) => meshOf(profileId).zoneState(service),
    'failover.setPolicy': ({ profileId, service, preset, overrides, reset, reason }, ctx) => {
      const mesh = meshOf(profileId);
      const saved = reset ? mesh.policies.reset(service) : mesh.policies.set(service, preset, overrides, ctx.actor);
      mesh.control.audit.append({
        at: Date.now(),
        event: 'result',
        actor: ctx.actor,
        origin: 'operator',
        action: 'set-policy',
        service,
        reason,
        result: 'acked',
        detail: reset ? { reset: true } : { preset, overrides },
        coreId: mesh.control.coreId,
      });
      return saved;
    },
    'mesh.eventFlows': ({ profileId, spanSeconds }) => meshOf(profileId).events.summaries(Date.now(), spanSeconds * 1000),
    'control.preview': ({ profileId, action, target }) => meshOf(profileId).control.actions.preview({ action, target }),
    'control.act': ({ profileId, action, target, reason, expiresInSeconds }, ctx) =>
      meshOf(profileId).control.actions.act(
        { action, target, reason, ...(expiresInSeconds ? { ttlMs: expiresInSeconds * 1000 } : {}) },
        { actor: ctx.actor, origin: 'operator' },
      ),
    'control.undo': ({ profileId, actionId, reason, expiresInSeconds }, ctx) =>
      meshOf(profileId).control.actions.undo(actionId, reason, { actor: ctx.actor, ...(expiresInSeconds ? { ttlMs: expiresInSeconds * 1000 } : {}) }),
    'control.actions': ({ profileId, limit }) => controlView(profileId, meshOf(profileId), limit),
    'control.audit': ({ profileId, ...filter }) => meshOf(profileId).control.audit.query(filter),
    'broker.snapshot': async ({ profileId }) => {
      await monitorOf(profileId).snapshot();
      return monitorOf(profileId).reflow();
    },
    'broker.flows': async ({ profileId }) => {
      await monitorOf(profileId).snapshot();
      return monitorOf(profileId).reflow().flows;
    },
    'incidents.list': ({ profileId, status, service, limit }) => meshOf(profileId).incidents.list({ status, limit, ...(service ? { service } : {}) }),
    'incidents.get': ({ profileId, id }) => meshOf(profileId).incidents.get(id),
    'incidents.acknowledge': ({ profileId, id }, ctx) => meshOf(profileId).incidents.acknowledge(id, ctx.actor),
    'incidents.assign': ({ profileId, id, assignee }, ctx) => meshOf(profileId).incidents.assign(id, assignee, ctx.actor),
    'incidents.note': ({ profileId, id, text }, ctx) => meshOf(profileId).incidents.note(id, text, ctx.actor),
    'incidents.resolve': ({ profileId, id, reason }, ctx) => meshOf(profileId).incidents.resolve(id, ctx.actor, reason),
    'incidents.export': ({ profileId, id, format }) => meshOf(profileId).incidents.export(id, format),
    'incidents.rules': ({ profileId, service }) => meshOf(profileId).incidents.rulesInfo(service),
    'incidents.setRules': ({ profileId, service, rules, reset }, ctx) => {
      const incidents = meshOf(profileId).incidents;
      incidents.setRules(service, reset ? null : rules, ctx.actor);
      return incidents.rulesInfo(service);
    },
    'security.commandKeys': ({ profileId }) => meshOf(profileId).control.keys.list(),
    'security.rotateCommandKey': ({ profileId, reason, graceSeconds }, ctx) => meshOf(profileId).control.rotateCommandKey(ctx.actor, reason, graceSeconds * 1000),
  };

  const sources: TopicSources = {
    'connections.state': topicFrom<ConnectionState[]>(connections, 'changed', () => connections.states()),
    'profiles.changed': topicFrom<Profile[]>(profiles, 'changed', () => profiles.list()),
    'mesh.summary': topicFrom<MeshSummary[]>(meshEvents, 'summary', meshSummaries),
    'mesh.topology': topicFrom<MeshTopology[]>(meshEvents, 'topology', () => {
      ensureLive();
      return liveTopologies();
    }),
    'mesh.traffic': topicFrom<MeshTraffic[]>(meshEvents, 'traffic', () => {
      ensureLive();
      return liveTraffic();
    }),
    'control.actions': topicFrom<ControlActionsView[]>(meshEvents, 'control', controlViews),
    'system.storage': topicFrom<StoreHealthState>(storeHealth, 'change', () => storeHealth.state),
    'broker.snapshot': {
      current: brokerSnapshots,
      watch(listener) {
        brokerSubscribers += 1;
        brokerEvents.on('snapshot', listener);
        watchBrokers();
        return () => {
          brokerSubscribers -= 1;
          brokerEvents.off('snapshot', listener);
        };
      },
    },
    'incidents.changed': topicFrom<IncidentsView[]>(meshEvents, 'incidents', incidentViews),
    'events.tail': topicFrom<TailBatch>(tail, 'batch', () => tail.backlog()),
  };

  const router = new ApiRouter(handlers, sources, logger.child('api'), {
    explainError: (err, method) => {
      const explained = explainStoreError(err, `the change (${method})`, options.databasePath);
      storeHealth.failed(explained);
      return explained;
    },
    commandSucceeded: () => storeHealth.succeeded(),
  });

  if (options.commandLineBroker) {
    profiles.setCommandLineProfile(options.commandLineBroker, options.commandLineManagementUrl ? { managementUrl: options.commandLineManagementUrl } : {});
  }
  for (const profile of profiles.list()) {
    if (profile.autoConnect) connections.connect(profile.id);
  }

  let closed: Promise<void> | null = null;
  return {
    router,
    db,
    profiles,
    connections,
    meshes,
    metrics() {
      const now = Date.now();
      return renderPrometheus(
        [...meshes.entries()].map(([mesh, runtime]) => ({
          mesh,
          edges: runtime.edges.summaries(now),
          services: serviceSummaries(runtime).map((s) => ({ service: s.name, instances: { healthy: s.healthy, draining: s.draining, down: s.down } })),
        })),
      );
    },
    close() {
      closed ??= (async () => {
        clearInterval(liveTimer);
        collector.close();
        for (const monitor of monitors.values()) monitor.close();
        if (summaryTimer) clearTimeout(summaryTimer);
        closing = true;
        if (controlTimer) clearTimeout(controlTimer);
        if (incidentsTimer) clearTimeout(incidentsTimer);
        for (const mesh of meshes.values()) mesh.control.close();
        await connections.closeAll();
        await Promise.all([...meshes.values()].map((mesh) => mesh.close()));
        db.close();
        logger.info('core closed');
      })();
      return closed;
    },
  };
}
