/**
 * Meshdeck wire protocol v1: every message is a CloudEvents 1.0 event in structured JSON mode.
 * This file is the single source of truth for message shapes; docs/protocol.md documents it
 * for agents written in other languages.
 *
 * Versioning: the version is the last segment of `type` (`….v1`). A consumer that meets a type
 * it does not know (including a known type with another version) dead-letters it with a reason.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;
/** Largest encoded message accepted or sent (bytes). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

// --- patterns, shared with the hand-written validator of telemetry batches (telemetry-check.ts)

export const SERVICE_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_:-]{1,128}$/;
export const ZONE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const EVENT_TYPE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

// --- names (OpenTelemetry resource conventions: service.name, service.instance.id, cloud.availability_zone)

/** DNS-label-like service names: they appear in routing keys, URLs and Host headers. */
export const ServiceName = z
  .string()
  .regex(SERVICE_NAME_PATTERN, 'lowercase letters, digits and "-", 1-63 characters, not starting or ending with "-"');
/** No dots: instance ids are routing-key segments. "all" is taken by command.<service>.all. */
export const InstanceId = z
  .string()
  .regex(INSTANCE_ID_PATTERN, 'letters, digits, "_", ":" or "-", 1-128 characters')
  .refine((id) => id !== 'all', '"all" is reserved (command.<service>.all addresses every instance)');
export const Zone = z.string().regex(ZONE_PATTERN, 'lowercase letters, digits and "-", 1-63 characters');
/** host:port where the instance's sidecar (or the service itself) accepts mesh traffic. */
export const Address = z
  .string()
  .max(270)
  .regex(/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. 10.0.0.7:8080 or [::1]:8080');
const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const Millis = z.number().int().nonnegative();
const Metadata = z
  .record(z.string().max(64), z.string().max(256))
  .refine((m) => Object.keys(m).length <= 32, 'at most 32 metadata keys');
export const EventTypeName = z.string().regex(EVENT_TYPE_NAME_PATTERN, 'letters, digits, ".", "_" or "-", at most 200 characters');

// --- CloudEvents envelope

export const EnvelopeBase = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(128),
  source: z.string().min(1).max(512),
  type: z.string().min(1).max(256),
  time: z.string().datetime({ offset: true }),
  datacontenttype: z.literal('application/json').optional(),
  subject: z.string().max(512).optional(),
});

// --- registry

export const InstanceRegister = z
  .object({
    service: ServiceName,
    instanceId: InstanceId,
    zone: Zone,
    address: Address,
    weight: z.number().int().min(0).max(10_000).default(100),
    version: z.string().max(64).default(''),
    metadata: Metadata.default({}),
    /** What the instance can take: concurrent requests it is sized for (0 = unknown). */
    capacity: Count.default(0),
    heartbeatIntervalMs: z.number().int().min(100).max(60_000).default(1000),
    /** 'sidecar', 'gateway' or 'sdk' (joined without a sidecar). */
    agent: z.enum(['sidecar', 'gateway', 'sdk']).default('sdk'),
    startedAt: z.string().datetime({ offset: true }),
  })
  .strict();
export type InstanceRegister = z.infer<typeof InstanceRegister>;

export const InstanceHeartbeat = z
  .object({
    service: ServiceName,
    instanceId: InstanceId,
    seq: Count,
    /** What the instance itself says: serving, or draining (finishing work, wants no new traffic). */
    state: z.enum(['serving', 'draining']).default('serving'),
    weight: z.number().int().min(0).max(10_000).optional(),
    inflight: Count.default(0),
    /** Commands the agent is executing (fault drills, ejection); ids of commands it has applied. */
    activeCommands: z.array(z.string().max(128)).max(64).default([]),
  })
  .strict();
export type InstanceHeartbeat = z.infer<typeof InstanceHeartbeat>;

export const InstanceDeregister = z
  .object({
    service: ServiceName,
    instanceId: InstanceId,
    reason: z.string().max(256).default('shutdown'),
  })
  .strict();
export type InstanceDeregister = z.infer<typeof InstanceDeregister>;

// --- telemetry

export const SketchWireSchema = z
  .object({
    zero: Count,
    buckets: z.array(z.tuple([z.number().int().min(-2000).max(2000), Count.min(1)])).max(4096),
  })
  .strict();

export const ErrorCounts = z
  .object({
    /** HTTP 5xx answers. */
    http5xx: Count.default(0),
    /** HTTP 4xx answers (client errors: counted, not a health signal). */
    http4xx: Count.default(0),
    /** Could not connect (refused, reset before an answer, DNS). */
    connect: Count.default(0),
    /** No answer within the timeout. */
    timeout: Count.default(0),
  })
  .strict();

export const CircuitState = z.enum(['closed', 'open', 'half-open']);

/** A caller's circuit breaker for one callee service, as its agent reports it. */
export const CircuitReport = z
  .object({
    state: CircuitState,
    /** When it entered this state (ms since epoch). */
    since: Millis,
    /** open: when probes will be let through; absent when it stays open until reset. */
    until: Millis.optional(),
    /** Opened by an operator (trip-circuit) rather than by failures. */
    manual: z.boolean().default(false),
    /** The last transition's rule and reason (the evidence summary). */
    rule: z.string().max(64).default(''),
    reason: z.string().max(512).default(''),
  })
  .strict();
export type CircuitReport = z.infer<typeof CircuitReport>;

export const EdgeStats = z
  .object({
    direction: z.enum(['outbound', 'inbound']),
    /** The other end: the called service (outbound) or the caller ("external" when unknown). */
    peerService: z.union([ServiceName, z.literal('external')]),
    peerInstance: InstanceId.optional(),
    requests: Count,
    errors: ErrorCounts,
    retries: Count.default(0),
    latency: SketchWireSchema,
    /**
     * Outbound: requests the caller's circuit breaker answered itself (never sent; not part of
     * `requests` or `errors`). Absent from agents that predate it.
     */
    refused: Count.optional(),
    /** Outbound: the state of the caller's circuit breaker for this peer service. */
    circuit: CircuitReport.optional(),
  })
  .strict();
export type EdgeStats = z.infer<typeof EdgeStats>;

export const EventFlowStats = z
  .object({
    published: z
      .array(z.object({ type: EventTypeName, exchange: z.string().max(255), count: Count }).strict())
      .max(512)
      .default([]),
    consumed: z
      .array(
        z
          .object({ type: EventTypeName, queue: z.string().max(255), count: Count, failed: Count.default(0), latency: SketchWireSchema.optional() })
          .strict(),
      )
      .max(512)
      .default([]),
  })
  .strict();

export const TelemetryBatch = z
  .object({
    service: ServiceName,
    instanceId: InstanceId,
    zone: Zone,
    /** Start of the window (ms since epoch) and its length. */
    windowStart: Millis,
    windowMs: z.number().int().min(100).max(60_000),
    edges: z.array(EdgeStats).max(2048),
    /** A factory, not an object: a shared default's arrays would be shared by every decoded batch. */
    events: EventFlowStats.default(() => ({ published: [], consumed: [] })),
  })
  .strict();
export type TelemetryBatch = z.infer<typeof TelemetryBatch>;

// --- control

export const FaultSpec = z
  .object({
    /** Share of inbound requests affected, 0..1. */
    share: z.number().min(0).max(1),
    delayMs: z.number().int().min(0).max(60_000).default(0),
    /** HTTP status to answer with instead of forwarding (0 = no abort). */
    abortStatus: z.number().int().min(0).max(599).default(0),
    durationMs: z.number().int().min(1).max(3_600_000),
  })
  .strict()
  .refine((f) => f.abortStatus === 0 || f.abortStatus >= 400, { message: 'abortStatus is 0 (no abort) or an HTTP error status 400-599', path: ['abortStatus'] })
  .refine((f) => f.delayMs > 0 || f.abortStatus >= 400, 'a fault needs delayMs > 0 or abortStatus >= 400');

export const ControlAction = z.discriminatedUnion('action', [
  z.object({ action: z.literal('set-weight'), weight: z.number().int().min(0).max(10_000) }).strict(),
  z.object({ action: z.literal('drain') }).strict(),
  z.object({ action: z.literal('eject'), durationMs: z.number().int().min(1).max(86_400_000).optional() }).strict(),
  z.object({ action: z.literal('restore') }).strict(),
  z.object({ action: z.literal('fault'), fault: FaultSpec }).strict(),
  z.object({ action: z.literal('clear-fault') }).strict(),
  /** Opens the target (caller) service's circuit breaker towards `callee` until reset, or for durationMs. */
  z.object({ action: z.literal('trip-circuit'), callee: ServiceName, durationMs: z.number().int().min(1).max(86_400_000).optional() }).strict(),
  /** Closes the target (caller) service's circuit breaker towards `callee` (ends a trip, clears its counters). */
  z.object({ action: z.literal('reset-circuit'), callee: ServiceName }).strict(),
  /** Zone failover: the core stops sending the service's traffic to `zone` (sent to that zone's instances). */
  z.object({ action: z.literal('failover-zone'), zone: Zone }).strict(),
  /** Ends a zone failover: the zone gets its traffic back gradually (fail-back). */
  z.object({ action: z.literal('restore-zone'), zone: Zone }).strict(),
]);
export type ControlAction = z.infer<typeof ControlAction>;

const Base64Url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'base64url');

/** A rotated command key, endorsed (signed) by the key it replaces (docs/protocol.md "Signed commands"). */
export const KeyCertificate = z
  .object({
    keyId: z.string().min(3).max(64),
    /** Raw 32-byte Ed25519 public key, base64url. */
    publicKey: Base64Url.length(43),
    endorsedBy: z.string().min(3).max(64),
    /** The endorsing key verifies nothing signed after this (the rotation's grace period). */
    previousValidUntil: z.string().datetime({ offset: true }),
    endorsement: Base64Url.max(128),
  })
  .strict();
export type KeyCertificate = z.infer<typeof KeyCertificate>;

export const CommandSignature = z
  .object({
    alg: z.literal('ed25519'),
    keyId: z.string().min(3).max(64),
    /** 16 random bytes, base64url: agents refuse a nonce they have seen before the command expires. */
    nonce: Base64Url.min(16).max(64),
    signedAt: z.string().datetime({ offset: true }),
    /** The signing key's public key, for trust on first use; agents verify with the key they trust for keyId. */
    publicKey: Base64Url.length(43).optional(),
    /** Ed25519 signature, base64url. */
    value: Base64Url.max(128),
    /** The rotations that lead from an older key to keyId, oldest first (at most 8). */
    chain: z.array(KeyCertificate).max(8).optional(),
  })
  .strict();
export type CommandSignature = z.infer<typeof CommandSignature>;

export const ControlCommand = z
  .object({
    commandId: z.string().min(8).max(128),
    target: z.object({ service: ServiceName, instanceId: InstanceId.optional() }).strict(),
    issuedAt: z.string().datetime({ offset: true }),
    /** Agents ignore (and report) a command that arrives after this. */
    expiresAt: z.string().datetime({ offset: true }),
    issuer: z.string().max(128),
    reason: z.string().max(1024).default(''),
    command: ControlAction,
    /** Ed25519 signature of the leading core (absent only from cores before signing). */
    signature: CommandSignature.optional(),
  })
  .strict();
export type ControlCommand = z.infer<typeof ControlCommand>;

export const ControlAck = z
  .object({
    commandId: z.string().min(8).max(128),
    service: ServiceName,
    instanceId: InstanceId,
    /** applied: done now; duplicate: already applied earlier (same id); rejected: not done (see detail). */
    status: z.enum(['applied', 'duplicate', 'rejected']),
    detail: z.string().max(1024).default(''),
  })
  .strict();
export type ControlAck = z.infer<typeof ControlAck>;

// --- discovery

export const EndpointState = z.enum(['healthy', 'draining', 'ejected', 'down']);

/** The callee's circuit-breaker settings that its callers enforce (core/failover/policy.ts `circuitBreaker`). */
export const CircuitBreakerSettings = z
  .object({
    maxPending: z.number().int().min(1).max(1_000_000),
    maxInflight: z.number().int().min(1).max(1_000_000),
    enabled: z.boolean(),
    consecutiveFailures: z.number().int().min(1).max(1_000_000),
    failureRateThreshold: z.number().min(0).max(1),
    failureRateWindowMs: z.number().int().min(1).max(86_400_000),
    failureRateMinRequests: z.number().int().min(1).max(1_000_000),
    openMs: z.number().int().min(1).max(86_400_000),
    halfOpenProbes: z.number().int().min(1).max(1_000_000),
  })
  .strict();
export type CircuitBreakerSettings = z.infer<typeof CircuitBreakerSettings>;

export const DiscoveryEndpoints = z
  .object({
    service: ServiceName,
    /** Increases with every change of this service's set; agents ignore older revisions. */
    revision: Count,
    endpoints: z
      .array(
        z
          .object({ instanceId: InstanceId, zone: Zone, address: Address, weight: z.number().int().min(0).max(10_000), state: EndpointState })
          .strict(),
      )
      .max(10_000),
    /**
     * Circuit-breaker settings callers apply to this service; absent: Meshdeck's defaults. The
     * core sends it only when the service's policy differs from the defaults.
     */
    circuitBreaker: CircuitBreakerSettings.optional(),
    /**
     * Optional, only while some zone is held below its real health (gradual fail-back, or an
     * operator's zone failover): per zone the health callers may count on it, 0..1, in the
     * balancer's units (min(1, overprovisioning × healthy / endpoints)). A zone not listed is
     * not capped. Agents that do not know the field may ignore it.
     */
    zones: z
      .record(Zone, z.object({ admitted: z.number().min(0).max(1) }).strict())
      .refine((zones) => Object.keys(zones).length <= 1000, 'at most 1000 zones')
      .optional(),
  })
  .strict();
export type DiscoveryEndpoints = z.infer<typeof DiscoveryEndpoints>;

export const DiscoveryRequest = z
  .object({
    /** The services whose endpoint sets the agent needs now (empty: all); the core answers on reply_to. */
    services: z.array(ServiceName).max(1000),
  })
  .strict();
export type DiscoveryRequest = z.infer<typeof DiscoveryRequest>;

// --- health signals

/**
 * What an agent saw of another instance that cannot wait for the next telemetry window: it
 * could not connect to it (and set it aside locally). The core treats it as direct evidence.
 */
export const HealthSignal = z
  .object({
    reporter: z.object({ service: ServiceName, instanceId: InstanceId }).strict(),
    target: z.object({ service: ServiceName, instanceId: InstanceId }).strict(),
    kind: z.enum(['connect-refused', 'connect-failed']),
    detail: z.string().max(256).default(''),
    /** Until when the reporter keeps the target out of its own balancing (ms since epoch). */
    localEjectionUntil: Millis.optional(),
  })
  .strict();
export type HealthSignal = z.infer<typeof HealthSignal>;

// --- the catalogue

export const MESSAGE_TYPES = {
  'io.meshdeck.instance.register.v1': InstanceRegister,
  'io.meshdeck.instance.heartbeat.v1': InstanceHeartbeat,
  'io.meshdeck.instance.deregister.v1': InstanceDeregister,
  'io.meshdeck.telemetry.batch.v1': TelemetryBatch,
  'io.meshdeck.control.command.v1': ControlCommand,
  'io.meshdeck.control.ack.v1': ControlAck,
  'io.meshdeck.discovery.endpoints.v1': DiscoveryEndpoints,
  'io.meshdeck.discovery.request.v1': DiscoveryRequest,
  'io.meshdeck.health.signal.v1': HealthSignal,
} as const;

export type MeshMessageType = keyof typeof MESSAGE_TYPES;
export type MeshData<T extends MeshMessageType> = z.output<(typeof MESSAGE_TYPES)[T]>;
export type MeshDataInput<T extends MeshMessageType> = z.input<(typeof MESSAGE_TYPES)[T]>;

export interface MeshEvent<T extends MeshMessageType = MeshMessageType> {
  specversion: '1.0';
  id: string;
  source: string;
  type: T;
  time: string;
  datacontenttype?: 'application/json';
  subject?: string;
  data: MeshData<T>;
}

/** Domain events published by services themselves: any CloudEvent whose type is not io.meshdeck.*. */
export const DomainEvent = EnvelopeBase.extend({
  type: EventTypeName.refine((t) => !t.startsWith('io.meshdeck.'), 'io.meshdeck.* types are reserved for the mesh'),
  data: z.unknown().optional(),
}).passthrough();
export type DomainEvent = z.infer<typeof DomainEvent>;

export function isMeshType(type: string): type is MeshMessageType {
  return Object.hasOwn(MESSAGE_TYPES, type);
}
