/**
 * The ONE typed API of the Meshdeck core: every query, command and subscription topic, with
 * zod schemas for inputs and outputs. Both transports (Electron IPC and the headless host's
 * HTTP/WebSocket) serve exactly this contract through one router (core/api/router.ts).
 *
 * This file must stay environment-neutral (no Node, no DOM): the renderer imports its types.
 */
import { z } from 'zod';
import { OutlierPolicy } from '../failover/policy.js';
import { ControlAction, InstanceId, ServiceName } from '../protocol/messages.js';
import { IncidentDetail, IncidentSummary, IncidentsView } from '../incidents/schema.js';
import { IncidentRules } from '../incidents/rules.js';
import { TailBatch } from '../events/schema.js';
import type { Evidence as DetectorEvidence } from '../health/evidence.js';
import type { TrackerEvidence } from '../failover/ejections.js';

// ---------------------------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------------------------

export const ConnectionStatus = z.enum([
  'idle', // never asked to connect
  'connecting', // first attempt in progress
  'connected',
  'blocked', // broker sent connection.blocked (resource alarm): publishing is paused
  'reconnecting', // lost or not reachable; retrying with backoff
  'failed', // a non-transient refusal (credentials, vhost, TLS): no retry until asked
  'disconnected', // closed by the user
]);
export type ConnectionStatus = z.infer<typeof ConnectionStatus>;

export const ConnectionState = z.object({
  profileId: z.string(),
  status: ConnectionStatus,
  /** Consecutive failed attempts; 0 once connected. */
  attempt: z.number().int().nonnegative(),
  /** The broker's (or the socket's) own error text for the last failure. */
  error: z.string().nullable(),
  errorCode: z.string().nullable(),
  blockedReason: z.string().nullable(),
  /** When the current status began (ms since epoch). */
  since: z.number(),
  nextRetryAt: z.number().nullable(),
  connectedAt: z.number().nullable(),
  /** A security warning about how this connection is made (TLS verification off, plain AMQP to a remote host). */
  warning: z.string().nullable().optional(),
});
export type ConnectionState = z.infer<typeof ConnectionState>;

const trimmed = (max: number) => z.string().trim().max(max);

export const TlsSettings = z.object({
  caFile: trimmed(4096).optional(),
  certFile: trimmed(4096).optional(),
  keyFile: trimmed(4096).optional(),
  servername: trimmed(255).optional(),
  /** Server certificate verification. On by default; turning it off is an explicit choice. */
  verify: z.boolean().default(true),
});
export type TlsSettings = z.infer<typeof TlsSettings>;

export const BrokerUrl = z
  .string()
  .trim()
  .min(1, 'URL is required')
  .max(2048)
  .refine((value) => /^amqps?:\/\/[^/\s]+/i.test(value), {
    message: 'must be an amqp:// or amqps:// URL with a host, e.g. amqp://127.0.0.1:5672',
  });

const profileFields = {
  name: trimmed(80).min(1, 'name is required'),
  url: BrokerUrl,
  /** Defaults to the URL's path, or "/". */
  vhost: trimmed(255).optional(),
  /** Defaults to the URL's user part. */
  username: trimmed(255).optional(),
  /** Omit to keep the saved password; empty string to clear it. */
  password: z.string().max(1024).optional(),
  heartbeatSeconds: z.number().int().min(0).max(3600),
  tls: TlsSettings.optional(),
  managementUrl: z
    .string()
    .trim()
    .max(2048)
    .refine((v) => v === '' || /^https?:\/\/[^/\s]+/i.test(v), { message: 'must be an http:// or https:// URL' })
    .optional(),
  autoConnect: z.boolean(),
  /** A separate (monitoring) user for the management API; empty: use the profile's own user. */
  managementUsername: trimmed(255).optional(),
  /** Its password. Omit to keep the saved one; empty string to clear it. */
  managementPassword: z.string().max(1024).optional(),
};

export const ProfileInput = z.object({
  ...profileFields,
  heartbeatSeconds: profileFields.heartbeatSeconds.default(30),
  autoConnect: profileFields.autoConnect.default(false),
});
export type ProfileInput = z.input<typeof ProfileInput>;

/**
 * A change to a saved profile. No defaults here: zod applies defaults even to optional keys,
 * which would reset an omitted heartbeatSeconds/autoConnect instead of keeping the saved value.
 */
export const ProfilePatch = z.object(profileFields).partial();

export const PasswordStorage = z.enum(['none', 'encrypted', 'session']);

export const Profile = z.object({
  id: z.string(),
  name: z.string(),
  /** Without credentials. */
  url: z.string(),
  vhost: z.string(),
  username: z.string(),
  /** Where the password lives: encrypted at rest, in memory for this session only, or none. */
  passwordStorage: PasswordStorage,
  heartbeatSeconds: z.number().int(),
  tls: z.object({
    enabled: z.boolean(),
    caFile: z.string().nullable(),
    certFile: z.string().nullable(),
    keyFile: z.string().nullable(),
    servername: z.string().nullable(),
    verify: z.boolean(),
  }),
  managementUrl: z.string().nullable(),
  autoConnect: z.boolean(),
  /** The management API user when it differs from the AMQP one (null: the profile's own user). */
  managementUsername: z.string().nullable().optional(),
  managementPasswordStorage: PasswordStorage.optional(),
  /** `cli` profiles come from `--broker`/`MESHDECK_BROKER` and are read-only. */
  source: z.enum(['saved', 'cli']),
  /** Security warnings to show with the profile (TLS verification off, plain AMQP to a remote host). */
  warnings: z.array(z.string()).optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type Profile = z.infer<typeof Profile>;

export const ProfileTestResult = z.object({
  ok: z.boolean(),
  latencyMs: z.number(),
  error: z.string().nullable(),
  errorCode: z.string().nullable(),
});
export type ProfileTestResult = z.infer<typeof ProfileTestResult>;

/** The database's health: the last write that failed (disk full, read-only, locked, I/O), until one succeeds. */
export const StorageHealth = z.object({
  state: z.enum(['ok', 'failing']),
  problem: z.enum(['full', 'read-only', 'locked', 'io', 'corrupt', 'other']).nullable(),
  message: z.string().nullable(),
  operation: z.string().nullable(),
  since: z.number().nullable(),
  failures: z.number().int(),
});
export type StorageHealth = z.infer<typeof StorageHealth>;

export const SystemInfo = z.object({
  product: z.literal('Meshdeck'),
  version: z.string(),
  host: z.enum(['electron', 'headless']),
  schemaVersion: z.number().int(),
  migrations: z.array(z.object({ version: z.number().int(), name: z.string(), appliedAt: z.number() })),
  databasePath: z.string(),
  secretStore: z.object({
    kind: z.enum(['safeStorage', 'passphrase', 'memory']),
    persistent: z.boolean(),
    detail: z.string(),
  }),
  startedAt: z.number(),
  node: z.string(),
  storage: StorageHealth,
});
export type SystemInfo = z.infer<typeof SystemInfo>;


export const InstanceStateSchema = z.enum(['healthy', 'draining', 'down', 'deregistered']);

export const ServiceSummary = z.object({
  name: z.string(),
  instances: z.number().int(),
  healthy: z.number().int(),
  draining: z.number().int(),
  down: z.number().int(),
  zones: z.array(z.string()),
  versions: z.array(z.string()),
  /** The same counts per zone. */
  byZone: z.array(
    z.object({
      zone: z.string(),
      instances: z.number().int(),
      healthy: z.number().int(),
      draining: z.number().int(),
      down: z.number().int(),
      ejected: z.number().int().optional(),
      probing: z.number().int().optional(),
    }),
  ),
  /** Instances automatic failover holds out (ejected) or lets back in with a little traffic (probing); registry-healthy or draining ones only. */
  ejected: z.number().int().optional(),
  probing: z.number().int().optional(),
  /** The agent kinds its instances run (`gateway` marks an edge gateway). */
  agents: z.array(z.enum(['sidecar', 'gateway', 'sdk'])).optional(),
});
export type ServiceSummary = z.infer<typeof ServiceSummary>;

export const InstanceInfo = z.object({
  service: z.string(),
  instanceId: z.string(),
  zone: z.string(),
  address: z.string(),
  weight: z.number().int(),
  version: z.string(),
  metadata: z.record(z.string(), z.string()),
  capacity: z.number().int(),
  agent: z.enum(['sidecar', 'gateway', 'sdk']),
  heartbeatIntervalMs: z.number().int(),
  state: InstanceStateSchema,
  firstSeen: z.number(),
  lastSeen: z.number(),
  inflight: z.number().int(),
  /** What automatic failover holds against the instance (null: nothing), and why. */
  failover: z
    .object({
      state: z.enum(['ejected', 'probing']),
      until: z.number().nullable(),
      reason: z.string(),
      ejections: z.number().int(),
      /** Share of its weight it gets now: 0 ejected, the policy's probe share while probing. */
      weightFactor: z.number().optional(),
      /** Backoff multiplier (the next ejection lasts base × (backoff + 1), capped). */
      backoff: z.number().int().optional(),
      /** Successful probe windows so far. */
      probeSuccesses: z.number().int().optional(),
      /** Held out because heartbeats stopped (until they resume, not for a set time). */
      heartbeatHold: z.boolean().optional(),
    })
    .nullable(),
  /** The last automatic failover transition of the instance (also after it was restored), with its evidence; null: none since the core started. */
  lastTransition: z.lazy(() => FailoverTransitionInfo).nullable().optional(),
  /**
   * The service's latest latency sweep found the instance above the bars but did not eject it:
   * its calls to other services explain its latency (its own is under the bar `ownBy` names). null: not spared.
   */
  spared: z
    .object({
      at: z.number(),
      reason: z.string(),
      p99: z.number(),
      threshold: z.number(),
      /** Its p99 with its slowest callee's taken out, and the bar over the other hosts' own latencies. */
      ownP99: z.number(),
      ownThreshold: z.number(),
      /**
       * Which of its own latencies is under its bar: 'p99', or 'p50' for a host judged over more
       * than one interval whose own p99 (the worst one or two of its requests) is still above.
       */
      ownBy: z.enum(['p99', 'p50']),
      /** Its own p50 and the bar over the other hosts' own p50s: only for a host judged over more than one interval. */
      ownP50: z.number().optional(),
      ownP50Threshold: z.number().optional(),
      callees: z.array(z.object({ service: z.string(), requests: z.number(), p99: z.number(), p50: z.number() })),
    })
    .nullable()
    .optional(),
});
export type InstanceInfo = z.infer<typeof InstanceInfo>;

/**
 * The evidence of an automatic failover decision, as core/health/detector.ts and
 * core/failover/ejections.ts build it: `{ rule, at, samples, thresholds }` (rules and fields in
 * core/failover/README.md). Checked for its `rule` only; the types carry the rest.
 */
export type FailoverEvidence = DetectorEvidence | TrackerEvidence;
export const FailoverEvidenceSchema = z.custom<FailoverEvidence>(
  (v) => typeof v === 'object' && v !== null && typeof (v as { rule?: unknown }).rule === 'string',
  'evidence must be an object with a rule',
);

export const FailoverTransitionInfo = z.object({
  at: z.number(),
  from: z.enum(['healthy', 'ejected', 'probing']),
  to: z.enum(['healthy', 'ejected', 'probing']),
  /** ejected: when probing starts (null: held until heartbeats resume). */
  until: z.number().nullable(),
  durationMs: z.number().nullable(),
  backoff: z.number().int(),
  ejections: z.number().int(),
  reason: z.string(),
  evidence: FailoverEvidenceSchema,
});
export type FailoverTransitionInfo = z.infer<typeof FailoverTransitionInfo>;

export const EndpointSet = z.object({
  service: z.string(),
  revision: z.number().int(),
  endpoints: z.array(
    z.object({
      instanceId: z.string(),
      zone: z.string(),
      address: z.string(),
      weight: z.number().int(),
      state: z.enum(['healthy', 'draining', 'ejected', 'down']),
    }),
  ),
  /** Zones held below their real health (fail-back, operator zone failover): admitted health 0..1. */
  zones: z.record(z.string(), z.object({ admitted: z.number() })).optional(),
});

export const RegistryEventInfo = z.object({
  id: z.number().int(),
  at: z.number(),
  service: z.string(),
  instanceId: z.string(),
  kind: z.string(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  detail: z.string(),
});

export const EdgeSummary = z.object({
  from: z.string(),
  to: z.string(),
  rps: z.number(),
  requests: z.number().int(),
  errors: z.object({ http5xx: z.number().int(), http4xx: z.number().int(), connect: z.number().int(), timeout: z.number().int() }),
  errorRate: z.number(),
  retries: z.number().int(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
  lastSeen: z.number(),
  /** Requests the callers' circuit breakers answered themselves (not in requests/errors). */
  refused: z.number().int().optional(),
  /** The callers' circuit breakers on this edge: the worst state and each caller instance's report. */
  circuit: z
    .object({
      state: z.enum(['closed', 'open', 'half-open']),
      instances: z.array(
        z.object({
          instanceId: z.string(),
          state: z.enum(['closed', 'open', 'half-open']),
          since: z.number(),
          until: z.number().nullable(),
          manual: z.boolean(),
          rule: z.string(),
          reason: z.string(),
          at: z.number(),
        }),
      ),
    })
    .optional(),
});
export type EdgeSummary = z.infer<typeof EdgeSummary>;

export const EventTypeFlow = z.object({
  type: z.string(),
  producers: z.array(z.object({ service: z.string(), exchange: z.string(), perSecond: z.number(), total: z.number().int() })),
  consumers: z.array(z.object({ service: z.string(), queue: z.string(), perSecond: z.number(), total: z.number().int(), failed: z.number().int() })),
});
export type EventTypeFlow = z.infer<typeof EventTypeFlow>;

/** How far the core's telemetry consumer is behind the stream (a restarted console backfills). */
export const TelemetryIngest = z.object({
  state: z.enum(['live', 'backfilling', 'unknown']),
  reachedOffset: z.number().int().nullable(),
  tailOffset: z.number().int().nullable(),
  behind: z.number().int().nullable(),
  lagMs: z.number().nullable(),
  processedPerSecond: z.number(),
  arrivingPerSecond: z.number(),
  etaSeconds: z.number().nullable(),
  tailReadAt: z.number().nullable(),
});
export type TelemetryIngest = z.infer<typeof TelemetryIngest>;

export const MeshSummary = z.object({
  profileId: z.string(),
  at: z.number(),
  services: z.array(ServiceSummary),
  edges: z.array(EdgeSummary),
  events: z.array(EventTypeFlow),
  /** Telemetry backfill progress (absent from cores that do not report it). */
  ingest: TelemetryIngest.optional(),
});
export type MeshSummary = z.infer<typeof MeshSummary>;

/**
 * The live mesh in two compact parts (core/api/mesh-live.ts): what it is made of, sent when that
 * changes, and each edge's numbers every second as columns in the order of the topology's edges.
 */
export const MeshTopology = z.object({
  profileId: z.string(),
  at: z.number(),
  /** Changes whenever the services (with their instance counts) or the edge list do (an edge joins, or has been quiet for a minute). */
  revision: z.number().int(),
  services: z.array(ServiceSummary),
  /** The services and callers the edges name. */
  names: z.array(z.string()),
  /** Edge i calls names[edges[2i]] → names[edges[2i + 1]]. */
  edges: z.array(z.number().int().nonnegative()),
});
export type MeshTopology = z.infer<typeof MeshTopology>;

export const MeshTraffic = z.object({
  profileId: z.string(),
  at: z.number(),
  /** The topology revision whose edge list these columns follow. */
  revision: z.number().int(),
  /** The span of the numbers (s): rps = requests / spanSeconds. */
  spanSeconds: z.number().positive(),
  requests: z.array(z.number().int()),
  /** Failed requests (5xx, connect failures, timeouts): errorRate = failed / requests. */
  failed: z.array(z.number().int()),
  /** Latency quantiles (ms, rounded to the microsecond); null without requests. */
  p50: z.array(z.number().nullable()),
  p99: z.array(z.number().nullable()),
  /** Edges whose callers' breakers report a circuit or refused requests. */
  extras: z.array(z.object({ edge: z.number().int().nonnegative(), refused: z.number().int().optional(), circuit: EdgeSummary.shape.circuit })),
  /** Edges of the topology not live this second (quiet for less than a minute): not in mesh.summary now; their columns are 0 / null. */
  absent: z.array(z.number().int().nonnegative()),
  events: z.array(EventTypeFlow),
  ingest: TelemetryIngest.optional(),
});
export type MeshTraffic = z.infer<typeof MeshTraffic>;

// --- control: operator actions, their progress, the audit log, leadership --------------------

export const ControlTarget = z.object({ service: ServiceName, instanceId: InstanceId.optional() }).strict();
const TargetOut = z.object({ service: z.string(), instanceId: z.string().optional() });
export const CommandState = z.enum(['pending', 'forwarded', 'published', 'acked', 'partially-acked', 'expired', 'rejected']);
export const ActionOrigin = z.enum(['operator', 'automatic', 'undo']);
export const AuditEventKind = z.enum(['requested', 'result', 'refused']);
export const AuditResult = z.enum(['pending', 'acked', 'partially-acked', 'rejected', 'expired', 'refused']);
export const ControlActionName = z.enum(['set-weight', 'drain', 'eject', 'restore', 'fault', 'clear-fault', 'trip-circuit', 'reset-circuit', 'failover-zone', 'restore-zone']);

export const UndoPlanInfo = z.object({
  summary: z.string(),
  commands: z.array(z.object({ target: TargetOut, action: ControlAction })),
});

export const ControlProgress = z.object({
  expected: z.number().int(),
  acked: z.number().int(),
  rejected: z.number().int(),
  waiting: z.number().int(),
  /** Per instance: waiting, applied, duplicate (applied before) or rejected, with the agent's detail. */
  instances: z.array(
    z.object({
      instanceId: z.string(),
      expected: z.boolean(),
      status: z.enum(['waiting', 'applied', 'duplicate', 'rejected']),
      detail: z.string(),
      at: z.number().nullable(),
    }),
  ),
});

export const ControlActionRecord = z.object({
  id: z.string(),
  origin: ActionOrigin,
  actor: z.string(),
  reason: z.string(),
  target: TargetOut,
  action: ControlAction,
  summary: z.string(),
  createdAt: z.number(),
  expiresAt: z.number(),
  undo: UndoPlanInfo.nullable(),
  undoOf: z.string().nullable(),
  undoneBy: z.string().nullable(),
  evidence: z.unknown(),
  coreId: z.string(),
  state: CommandState,
  progress: ControlProgress,
  commands: z.array(
    z.object({ commandId: z.string(), target: TargetOut, action: ControlAction, state: CommandState, publishedAt: z.number().nullable(), lastError: z.string().nullable() }),
  ),
});
export type ControlActionRecord = z.infer<typeof ControlActionRecord>;

export const ControlPreview = z.object({
  target: TargetOut,
  action: ControlAction,
  summary: z.string(),
  instances: z.array(
    z.object({
      instanceId: z.string(),
      zone: z.string(),
      state: InstanceStateSchema,
      weight: z.number().int(),
      affected: z.boolean(),
      shareOfHealthy: z.number(),
      shareOfTraffic: z.number().nullable().optional(),
    }),
  ),
  affected: z.number().int(),
  affectedHealthy: z.number().int(),
  healthyWeight: z.number(),
  affectedHealthyWeight: z.number(),
  affectedShare: z.number().nullable(),
  capacityAfter: z.number().nullable(),
  trafficAffectedShare: z.number(),
  undo: UndoPlanInfo.nullable(),
  warnings: z.array(z.string()),
});
export type ControlPreview = z.infer<typeof ControlPreview>;

export const Leadership = z.object({
  self: z.object({ coreId: z.string(), host: z.string() }),
  isLeader: z.boolean(),
  /** Who leads as far as this core knows; null while unknown. */
  leader: z.object({ coreId: z.string(), host: z.string(), since: z.number() }).nullable(),
  connected: z.boolean(),
  tickMs: z.number().int(),
  leaseMs: z.number().int(),
});
export type Leadership = z.infer<typeof Leadership>;

export const ControlActionsView = z.object({
  profileId: z.string(),
  at: z.number(),
  leadership: Leadership,
  outbox: z.object({ open: z.number().int(), limit: z.number().int() }),
  actions: z.array(ControlActionRecord),
});
export type ControlActionsView = z.infer<typeof ControlActionsView>;

export const AuditEntryInfo = z.object({
  id: z.number().int(),
  at: z.number(),
  event: AuditEventKind,
  actor: z.string(),
  origin: ActionOrigin,
  action: z.string(),
  service: z.string(),
  instanceId: z.string().nullable(),
  reason: z.string(),
  result: AuditResult,
  detail: z.unknown(),
  evidence: z.unknown(),
  actionId: z.string().nullable(),
  commandIds: z.array(z.string()),
  undoOf: z.string().nullable(),
  coreId: z.string(),
});
export type AuditEntryInfo = z.infer<typeof AuditEntryInfo>;

export const AuditPage = z.object({ entries: z.array(AuditEntryInfo), nextCursor: z.number().int().nullable() });

const Reason = z.string().trim().min(1, 'a reason is required').max(1024);
const ExpiresIn = z.number().int().min(1).max(3600).optional();

export const SeriesPointSchema = z.object({
  t: z.number(),
  requests: z.number(),
  rps: z.number(),
  errors: z.object({ http5xx: z.number(), http4xx: z.number(), connect: z.number(), timeout: z.number() }),
  errorRate: z.number(),
  retries: z.number(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});
export type SeriesPoint = z.infer<typeof SeriesPointSchema>;

export const SeriesResultSchema = z.object({
  resolution: z.enum(['1s', '10s', '1m']),
  stepMs: z.number(),
  start: z.number(),
  end: z.number(),
  series: z.number().int(),
  points: z.array(SeriesPointSchema),
});

export const ServicePolicyInfo = z.object({
  service: z.string(),
  source: z.enum(['default', 'saved']),
  preset: z.enum(['meshdeck', 'envoy']),
  /** The complete policy in force (core/failover/README.md documents every field). */
  policy: OutlierPolicy,
  updatedAt: z.number().nullable(),
  updatedBy: z.string().nullable(),
});

// --- broker introspection (core/broker): the management API's view of the broker -------------

const Rate = z.number().nullable();

export const BrokerCapability = z.object({
  /** What it concerns: the whole API, statistics, rates, other users' connections, one vhost. */
  area: z.enum(['management', 'credentials', 'monitoring', 'vhost', 'stats', 'rates', 'config']),
  /** Plain words for the UI: what is missing and why. */
  message: z.string(),
});
export type BrokerCapability = z.infer<typeof BrokerCapability>;

export const BrokerPeer = z.object({
  /** The AMQP connection name the client set (Meshdeck agents: meshdeck-<agent>:<service>/<instance>). */
  connectionName: z.string().nullable(),
  /** The mesh service and instance the connection name names, when it is a Meshdeck agent. */
  service: z.string().nullable(),
  instanceId: z.string().nullable(),
  agent: z.string().nullable(),
});
export type BrokerPeer = z.infer<typeof BrokerPeer>;

export const BrokerExchange = z.object({
  name: z.string(),
  type: z.string(),
  durable: z.boolean(),
  autoDelete: z.boolean(),
  internal: z.boolean(),
  rateIn: Rate,
  rateOut: Rate,
});
export const BrokerQueue = z.object({
  name: z.string(),
  type: z.enum(['classic', 'quorum', 'stream', 'unknown']),
  durable: z.boolean(),
  autoDelete: z.boolean(),
  exclusive: z.boolean(),
  state: z.string().nullable(),
  ready: z.number().int().nullable(),
  unacked: z.number().int().nullable(),
  consumers: z.number().int(),
  /** Messages/s published into the queue, delivered (or got) from it, and acked. */
  rateIn: Rate,
  rateOut: Rate,
  rateAck: Rate,
});
export type BrokerQueue = z.infer<typeof BrokerQueue>;
export const BrokerBinding = z.object({
  source: z.string(),
  destination: z.string(),
  destinationType: z.enum(['queue', 'exchange']),
  routingKey: z.string(),
});
export const BrokerConsumer = BrokerPeer.extend({
  queue: z.string(),
  consumerTag: z.string(),
  channel: z.string(),
  prefetch: z.number().int(),
  ackRequired: z.boolean(),
  active: z.boolean(),
});
export type BrokerConsumer = z.infer<typeof BrokerConsumer>;
export const BrokerConnectionInfo = BrokerPeer.extend({
  name: z.string(),
  user: z.string(),
  state: z.string().nullable(),
  channels: z.number().int(),
  peer: z.string(),
  publishRate: Rate,
  deliverRate: Rate,
});
/** Who publishes to which exchange, as a broker in rates_mode detailed reports it. */
export const BrokerPublisher = BrokerPeer.extend({ exchange: z.string(), channel: z.string(), rate: Rate });
export const BrokerFlowNode = z.object({
  id: z.string(),
  kind: z.enum(['publisher', 'exchange', 'queue', 'consumer']),
  label: z.string(),
  /** The mesh service (publishers and consumers), when known. */
  service: z.string().nullable(),
  /** True when the service is registered in the mesh. */
  inMesh: z.boolean(),
});
export const BrokerFlowEdge = z.object({
  from: z.string(),
  to: z.string(),
  kind: z.enum(['publish', 'route', 'deliver']),
  /** msg/s; null when neither the broker nor the agents know it. */
  rate: Rate,
  /** Who told us: the broker's management API, the agents' telemetry, or both. */
  source: z.enum(['broker', 'agents', 'both']),
  /** Binding keys of a route edge, event types of a publish or deliver edge. */
  keys: z.array(z.string()),
});
export const BrokerFlows = z.object({ nodes: z.array(BrokerFlowNode), edges: z.array(BrokerFlowEdge) });
export type BrokerFlows = z.infer<typeof BrokerFlows>;

export const BrokerOverview = z.object({
  rabbitmqVersion: z.string().nullable(),
  managementVersion: z.string().nullable(),
  clusterName: z.string().nullable(),
  node: z.string().nullable(),
  ratesMode: z.enum(['none', 'basic', 'detailed', 'unknown']),
  statsDisabled: z.boolean(),
  /** What the management user is (tags), as /api/whoami says. */
  user: z.string().nullable(),
  tags: z.array(z.string()),
  /** Whole-broker message rates (msg/s). */
  publishRate: Rate,
  deliverRate: Rate,
  ackRate: Rate,
});
export type BrokerOverview = z.infer<typeof BrokerOverview>;

export const BrokerSnapshot = z.object({
  profileId: z.string(),
  /** When the snapshot was read (ms since epoch); 0 when none has been read yet. */
  at: z.number(),
  managementUrl: z.string().nullable(),
  vhost: z.string(),
  /** How often it is read: never faster than the broker's statistics interval. */
  pollIntervalMs: z.number().int(),
  /** False when nothing could be read (the messages say why). */
  available: z.boolean(),
  capabilities: z.array(BrokerCapability),
  overview: BrokerOverview.nullable(),
  exchanges: z.array(BrokerExchange),
  queues: z.array(BrokerQueue),
  bindings: z.array(BrokerBinding),
  consumers: z.array(BrokerConsumer),
  connections: z.array(BrokerConnectionInfo),
  /** Per channel and exchange; only from a broker in rates_mode detailed (else empty). */
  publishers: z.array(BrokerPublisher),
  flows: BrokerFlows,
});
export type BrokerSnapshot = z.infer<typeof BrokerSnapshot>;
export const ZoneStateInfo = z.object({
  service: z.string(),
  zones: z.array(
    z.object({ zone: z.string(), healthy: z.number().int(), total: z.number().int(), health: z.number(), admitted: z.number(), capped: z.boolean(), failedOver: z.boolean() }),
  ),
  nextStepAt: z.number().nullable(),
  recent: z.array(z.object({ at: z.number(), from: z.record(z.string(), z.number()), to: z.record(z.string(), z.number()), reason: z.string() })),
});
export type ZoneStateInfo = z.infer<typeof ZoneStateInfo>;

const Empty = z.object({}).strict().default({});
const IncidentId = z.number().int().positive();
export const IncidentRulesInfo = z.object({
  service: z.string(),
  source: z.enum(['default', 'saved']),
  rules: IncidentRules,
  updatedAt: z.number().nullable(),
  updatedBy: z.string().nullable(),
});
export type IncidentRulesInfo = z.infer<typeof IncidentRulesInfo>;
export { IncidentDetail, IncidentSummary, IncidentsView };
/** A command signing key as the console shows it: public material only (security.commandKeys). */
export const CommandKeyInfo = z
  .object({
    keyId: z.string(),
    fingerprint: z.string(),
    publicKey: z.string(),
    createdAt: z.number(),
    createdBy: z.string(),
    status: z.enum(['active', 'retired']),
    retiredAt: z.number().nullable(),
    validUntil: z.number().nullable(),
    privateKey: z.enum(['secret-store', 'memory', 'unavailable']),
  })
  .strict();
export type CommandKeyInfo = z.infer<typeof CommandKeyInfo>;

const MeshRef = z.object({ profileId: z.string().min(1, 'profileId is required') }).strict();
const ProfileRef = z.object({ id: z.string().min(1, 'id is required') }).strict();

// ---------------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------------

export interface MethodDef<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  kind: 'query' | 'command';
  summary: string;
  input: I;
  output: O;
}

const query = <I extends z.ZodType, O extends z.ZodType>(summary: string, input: I, output: O): MethodDef<I, O> => ({
  kind: 'query',
  summary,
  input,
  output,
});
const command = <I extends z.ZodType, O extends z.ZodType>(summary: string, input: I, output: O): MethodDef<I, O> => ({
  kind: 'command',
  summary,
  input,
  output,
});

export const methods = {
  'system.info': query('Versions, schema version, database path and where secrets are kept.', Empty, SystemInfo),

  'profiles.list': query('All broker connection profiles, command-line ones first.', Empty, z.array(Profile)),
  'profiles.create': command('Save a new broker connection profile.', ProfileInput.strict(), Profile),
  'profiles.update': command(
    'Change a saved profile; omitted fields keep their value.',
    z.object({ id: z.string().min(1), patch: ProfilePatch.strict() }).strict(),
    Profile,
  ),
  'profiles.delete': command('Delete a saved profile (disconnecting it first).', ProfileRef, z.object({ deleted: z.literal(true) })),
  'profiles.test': command(
    'Open and close one connection with a saved profile, or with unsaved settings, and report the outcome.',
    z.union([ProfileRef, z.object({ profile: ProfileInput.strict() }).strict()]),
    ProfileTestResult,
  ),

  'connections.list': query('Live state of every profile\u2019s broker connection.', Empty, z.array(ConnectionState)),
  'connections.connect': command('Connect a profile (retrying with backoff until connected or refused).', z.object({ profileId: z.string().min(1) }).strict(), ConnectionState),
  'connections.disconnect': command('Close a profile\u2019s connection.', z.object({ profileId: z.string().min(1) }).strict(), ConnectionState),

  'mesh.services': query('Services that joined the mesh behind a profile\u2019s broker, with instance counts by state.', MeshRef, z.array(ServiceSummary)),
  'mesh.instances': query(
    'Instances of a service: all, or healthy only, or in one zone.',
    MeshRef.extend({ service: z.string().min(1), healthyOnly: z.boolean().default(false), zone: z.string().optional() }).strict(),
    z.array(InstanceInfo),
  ),
  'mesh.endpoints': query(
    'The endpoint set the core pushes to agents for a service (discovery), with its revision.',
    MeshRef.extend({ service: z.string().min(1) }).strict(),
    EndpointSet,
  ),
  'mesh.history': query(
    'Registry history (joins, state changes, weight changes), newest first.',
    MeshRef.extend({ service: z.string().optional(), instanceId: z.string().optional(), since: z.number().optional(), limit: z.number().int().min(1).max(5000).default(200) }).strict(),
    z.array(RegistryEventInfo),
  ),
  'mesh.edges': query(
    'Live traffic per edge (caller \u2192 callee): rate, errors by class, p50/p95/p99, over the last span.',
    MeshRef.extend({ spanSeconds: z.number().int().min(1).max(300).default(10) }).strict(),
    z.array(EdgeSummary),
  ),
  'mesh.edge': query(
    'One edge\u2019s live traffic (caller \u2192 callee) over the last span, as in mesh.edges; null when it carried nothing in that span.',
    MeshRef.extend({ from: z.string().min(1), to: z.string().min(1), spanSeconds: z.number().int().min(1).max(300).default(10) }).strict(),
    EdgeSummary.nullable(),
  ),
  'telemetry.series': query(
    'Traffic history of an edge, a service (every edge into it) or an instance: requests/s, errors by class, p50/p95/p99 per point, resolution chosen from the range unless given.',
    z
      .object({
        profileId: z.string().min(1, 'profileId is required'),
        kind: z.enum(['edge', 'service', 'instance']),
        from: z.string().min(1).optional(),
        to: z.string().min(1).optional(),
        service: z.string().min(1).optional(),
        instance: z.string().min(1).optional(),
        start: z.number().int().nonnegative(),
        end: z.number().int().nonnegative(),
        resolution: z.enum(['auto', '1s', '10s', '1m']).default('auto'),
      })
      .strict(),
    SeriesResultSchema,
  ),
  'failover.policy': query(
    'The failover policy in force for a service (Meshdeck\u2019s default unless one was saved).',
    z.object({ profileId: z.string().min(1, 'profileId is required'), service: ServiceName }).strict(),
    ServicePolicyInfo,
  ),
  'failover.zones': query(
    'Zone failover and fail-back of a service: per zone the healthy/total counts, real and admitted health, whether the endpoint set caps it (fail-back ramp) and whether an operator failed it over; when the next ramp step is due; the last changes with their reasons.',
    z.object({ profileId: z.string().min(1, 'profileId is required'), service: ServiceName }).strict(),
    ZoneStateInfo,
  ),
  'failover.setPolicy': command(
    'Save a service\u2019s failover policy: a preset (meshdeck or envoy) with overrides, validated field by field; reset: true goes back to the default. Audited.',
    z
      .object({
        profileId: z.string().min(1, 'profileId is required'),
        service: ServiceName,
        preset: z.enum(['meshdeck', 'envoy']).default('meshdeck'),
        overrides: z.record(z.string(), z.unknown()).default({}),
        reset: z.boolean().default(false),
        reason: z.string().max(1024).default(''),
      })
      .strict(),
    ServicePolicyInfo,
  ),
  'mesh.eventFlows': query(
    'Domain event types with the services that produce and consume them, and their rates, over the last span.',
    MeshRef.extend({ spanSeconds: z.number().int().min(1).max(300).default(10) }).strict(),
    z.array(EventTypeFlow),
  ),

  'control.preview': query(
    'Blast radius of an operator action before it is confirmed: the instances it touches, their share of the service\u2019s healthy capacity by weight, what would remain, and how it would be undone.',
    MeshRef.extend({ action: ControlAction, target: ControlTarget }).strict(),
    ControlPreview,
  ),
  'control.act': command(
    'Carry out an operator action (drain, eject, restore, set-weight, fault, clear-fault, trip-circuit, reset-circuit, failover-zone, restore-zone): written to the durable outbox and the audit log, published by the leading core.',
    MeshRef.extend({ action: ControlAction, target: ControlTarget, reason: Reason, expiresInSeconds: ExpiresIn }).strict(),
    ControlActionRecord,
  ),
  'control.undo': command(
    'Undo an action: restore after drain/eject, the previous weight after set-weight, clear-fault after a fault drill, reset-circuit after trip-circuit and back. Audited as an undo of the original.',
    MeshRef.extend({ actionId: z.string().min(1, 'actionId is required').max(128), reason: Reason, expiresInSeconds: ExpiresIn }).strict(),
    ControlActionRecord,
  ),
  'control.actions': query(
    'Recent actions with their ack progress (expected/acked/rejected, per instance), who leads, and how full the outbox is.',
    MeshRef.extend({ limit: z.number().int().min(1).max(500).default(50) }).strict(),
    ControlActionsView,
  ),
  'control.audit': query(
    'The audit log, newest first: who did what to which target, why, and the result; filters and paging by cursor.',
    MeshRef.extend({
      actor: z.string().max(256).optional(),
      service: z.string().max(63).optional(),
      instanceId: z.string().max(128).optional(),
      action: ControlActionName.optional(),
      event: AuditEventKind.optional(),
      result: AuditResult.optional(),
      origin: ActionOrigin.optional(),
      actionId: z.string().max(128).optional(),
      since: z.number().int().nonnegative().optional(),
      until: z.number().int().nonnegative().optional(),
      cursor: z.number().int().positive().optional(),
      limit: z.number().int().min(1).max(500).default(100),
    }).strict(),
    AuditPage,
  ),
  'broker.snapshot': query(
    'The broker as its management API shows it, for the profile\u2019s vhost: overview, exchanges, queues (type, ready/unacked, consumers, rates), bindings, consumers and connections joined to mesh services, the event-flow graph, and what could not be read and why. Never read faster than the broker\u2019s statistics interval.',
    MeshRef,
    BrokerSnapshot,
  ),
  'broker.flows': query(
    'The event-flow graph only: publisher \u2192 exchange \u2192 queue \u2192 consumer with msg/s, from the broker and the agents\u2019 telemetry.',
    MeshRef,
    BrokerFlows,
  ),

  'incidents.list': query(
    'Incidents, open and acknowledged first (failing before degraded), then newest; filter by status or service.',
    MeshRef.extend({ status: z.enum(['open', 'resolved', 'all']).default('all'), service: z.string().max(63).optional(), limit: z.number().int().min(1).max(1000).default(200) }).strict(),
    z.array(IncidentSummary),
  ),
  'incidents.get': query(
    'One incident: its timeline (rule crossings, registry changes, automatic decisions with evidence, operator actions, notes), ranked suspects with their reasoning, notes.',
    MeshRef.extend({ id: IncidentId }).strict(),
    IncidentDetail,
  ),
  'incidents.acknowledge': command('Acknowledge an incident (someone is on it).', MeshRef.extend({ id: IncidentId }).strict(), IncidentSummary),
  'incidents.assign': command(
    'Assign an incident to someone (null: unassign).',
    MeshRef.extend({ id: IncidentId, assignee: z.string().trim().min(1).max(256).nullable() }).strict(),
    IncidentSummary,
  ),
  'incidents.note': command('Add a note to an incident’s timeline.', MeshRef.extend({ id: IncidentId, text: z.string().trim().min(1, 'a note needs text').max(4000) }).strict(), IncidentDetail),
  'incidents.resolve': command(
    'Resolve an incident by hand. If its symptom persists, a new incident opens after the rule’s delay.',
    MeshRef.extend({ id: IncidentId, reason: z.string().trim().max(1024).default('') }).strict(),
    IncidentSummary,
  ),
  'incidents.export': query(
    'An incident as a Markdown or JSON report, secrets redacted.',
    MeshRef.extend({ id: IncidentId, format: z.enum(['markdown', 'json']).default('markdown') }).strict(),
    z.object({ filename: z.string(), contentType: z.string(), content: z.string() }),
  ),
  'incidents.rules': query('The incident rule thresholds in force for a service (the defaults unless some were saved).', MeshRef.extend({ service: ServiceName }).strict(), IncidentRulesInfo),
  'incidents.setRules': command(
    'Save a service’s incident thresholds (omitted fields take the defaults), validated field by field; reset: true goes back to the defaults.',
    MeshRef.extend({ service: ServiceName, rules: z.record(z.string(), z.unknown()).default({}), reset: z.boolean().default(false) }).strict(),
    IncidentRulesInfo,
  ),
  'security.commandKeys': query(
    'The mesh’s command signing keys (Ed25519): key id, fingerprint, public key, created, active or retired and until when a retired key verifies. Never the private key.',
    MeshRef,
    z.array(CommandKeyInfo),
  ),
  'security.rotateCommandKey': command(
    'Make a new command signing key active; the old one endorses it and still verifies in-flight commands for the grace period. Audited.',
    MeshRef.extend({ reason: Reason, graceSeconds: z.number().int().min(0).max(86_400).default(600) }).strict(),
    z.object({ previous: CommandKeyInfo, active: CommandKeyInfo }).strict(),
  ),
} as const satisfies Record<string, MethodDef>;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodInput<M extends MethodName> = z.input<Methods[M]['input']>;
export type MethodParsedInput<M extends MethodName> = z.output<Methods[M]['input']>;
export type MethodOutput<M extends MethodName> = z.output<Methods[M]['output']>;

// ---------------------------------------------------------------------------------------------
// Subscription topics: the subscriber receives the current value at once, then every change
// (coalesced by the transport: the newest value wins when a client falls behind).
// ---------------------------------------------------------------------------------------------

export interface TopicDef<P extends z.ZodType = z.ZodType> {
  summary: string;
  payload: P;
}

export const topics = {
  'connections.state': {
    summary: 'Every profile\u2019s connection state, sent whole on each change.',
    payload: z.array(ConnectionState),
  },
  'profiles.changed': {
    summary: 'The profile list, sent whole when a profile is created, changed or deleted.',
    payload: z.array(Profile),
  },
  'mesh.summary': {
    summary: 'Per connected mesh: services with instance counts and live edges, at most once a second.',
    payload: z.array(MeshSummary),
  },
  'mesh.topology': {
    summary: 'Per connected mesh: the services with their instance counts and the edge list, with a revision; pushed when they change, at most once a second.',
    payload: z.array(MeshTopology),
  },
  'mesh.traffic': {
    summary: 'Per connected mesh, once a second: each edge\u2019s numbers as columns in the order of its topology revision, the event flows and the telemetry ingest.',
    payload: z.array(MeshTraffic),
  },
  'control.actions': {
    summary: 'Per connected mesh: recent actions with their ack progress and who leads; pushed when acks arrive, at most once a second.',
    payload: z.array(ControlActionsView),
  },
  'system.storage': {
    summary: 'The database\u2019s health: pushed when a write fails (disk full, read-only, locked, I/O error) and when writes succeed again.',
    payload: StorageHealth,
  },
  'broker.snapshot': {
    summary: 'Per watched profile: the broker snapshot (as broker.snapshot), pushed after every poll, at most once per statistics interval.',
    payload: z.array(BrokerSnapshot),
  },
  'incidents.changed': {
    summary: 'Per connected mesh: open incidents (failing first, then newest) and the newest that opened; pushed when an incident opens, changes or resolves.',
    payload: z.array(IncidentsView),
  },
  'events.tail': {
    summary: 'The events tail: registry changes, failover decisions, control actions and acks, incidents, flows, broker and storage changes, one line each; the recent ones at once, then a batch at most once a second.',
    payload: TailBatch,
  },
} as const satisfies Record<string, TopicDef>;

export type Topics = typeof topics;
export type TopicName = keyof Topics;
export type TopicPayload<T extends TopicName> = z.output<Topics[T]['payload']>;

// ---------------------------------------------------------------------------------------------
// What every transport gives the renderer
// ---------------------------------------------------------------------------------------------

export type { FieldIssue, ApiErrorBody, ErrorCode } from '../lib/errors.js';
export type { TailBatch, TailEvent, TailEventKind, TailEventLevel } from '../events/schema.js';
export type { InvokeResult, MeshdeckBridge, WsClientFrame, WsServerFrame } from './wire.js';
