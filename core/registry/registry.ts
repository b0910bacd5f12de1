/**
 * The mesh registry: services and their instances, in memory, driven by protocol messages and
 * by time (heartbeat expiry). Pure: the caller passes `now`, persists the changes it returns,
 * and pushes endpoint sets for the services those changes touched.
 */
import type { DiscoveryEndpoints, InstanceDeregister, InstanceHeartbeat, InstanceRegister } from '../protocol/messages.js';
import { graceText } from './heartbeat-lag.js';

export type InstanceState = 'healthy' | 'draining' | 'down' | 'deregistered';

export interface Instance {
  service: string;
  instanceId: string;
  zone: string;
  address: string;
  weight: number;
  version: string;
  metadata: Record<string, string>;
  capacity: number;
  agent: 'sidecar' | 'gateway' | 'sdk';
  heartbeatIntervalMs: number;
  state: InstanceState;
  firstSeen: number;
  lastSeen: number;
  /** Last heartbeat sequence seen, to spot restarts and reordering. */
  seq: number;
  inflight: number;
}

export type RegistryChangeKind = 'registered' | 'updated' | 'state' | 'weight' | 'forgotten';

export interface RegistryChange {
  at: number;
  service: string;
  instanceId: string;
  kind: RegistryChangeKind;
  from: InstanceState | null;
  to: InstanceState;
  detail: string;
}

export interface RegistryOptions {
  /** Heartbeats missed before an instance is marked down. */
  missedHeartbeats: number;
  /**
   * How long a down instance stays listed before it is set aside ("forgotten"). A forgotten
   * instance, like one known only from old history, comes back on its next heartbeat.
   */
  forgetDownAfterMs: number;
}

export const DEFAULT_REGISTRY_OPTIONS: RegistryOptions = { missedHeartbeats: 3, forgetDownAfterMs: 10 * 60_000 };

const ENDPOINT_STATE = { healthy: 'healthy', draining: 'draining', down: 'down' } as const;

export class Registry {
  private readonly services = new Map<string, Map<string, Instance>>();
  /** Instances known from history but not live: not listed, revived by a heartbeat. */
  private readonly dormant = new Map<string, Instance>();
  /**
   * Dormant instances this registry never listed: registrations replayed from the stream that
   * were already older than the TTL. Their first heartbeat is their joining this console's view
   * (a 'registered' change), not heartbeats resuming.
   */
  private readonly neverListed = new Set<string>();
  private readonly revisions = new Map<string, number>();
  private readonly options: RegistryOptions;

  constructor(options: Partial<RegistryOptions> = {}) {
    this.options = { ...DEFAULT_REGISTRY_OPTIONS, ...options };
  }

  /** Loads persisted instances (at start). Their TTL clock starts now: agents get a grace period. */
  load(instances: Instance[], now: number): void {
    for (const instance of instances) {
      if (instance.state === 'deregistered') continue;
      if (instance.state === 'down' && now - instance.lastSeen > this.options.forgetDownAfterMs) {
        this.dormant.set(key(instance.service, instance.instanceId), { ...instance });
        continue;
      }
      this.bucket(instance.service).set(instance.instanceId, { ...instance, lastSeen: Math.max(instance.lastSeen, now) });
    }
  }

  /**
   * `at` is when the registration was sent. A registration replayed from history that is older
   * than the heartbeat TTL starts as down: its first heartbeat brings it back.
   */
  register(data: InstanceRegister, now: number, at: number = now): RegistryChange[] {
    const stale = now - at > data.heartbeatIntervalMs * this.options.missedHeartbeats;
    const existing = this.services.get(data.service)?.get(data.instanceId);
    const next: Instance = {
      service: data.service,
      instanceId: data.instanceId,
      zone: data.zone,
      address: data.address,
      weight: data.weight,
      version: data.version,
      metadata: data.metadata,
      capacity: data.capacity,
      agent: data.agent,
      heartbeatIntervalMs: data.heartbeatIntervalMs,
      state: stale ? 'down' : 'healthy',
      firstSeen: existing?.firstSeen ?? at,
      lastSeen: at,
      seq: 0,
      inflight: 0,
    };
    const k = key(data.service, data.instanceId);
    if (stale && !existing) {
      // Old history (a console replaying the stream): keep it aside until it heartbeats. One
      // already set aside keeps what it was (listed before, or not).
      if (!this.dormant.has(k)) this.neverListed.add(k);
      this.dormant.set(k, next);
      return [];
    }
    this.dormant.delete(k);
    this.neverListed.delete(k);
    this.bucket(data.service).set(data.instanceId, next);
    if (!existing) {
      return [this.change(at, next, 'registered', null, `joined ${data.zone} at ${data.address}${stale ? ' (from history; no heartbeat yet)' : ''}`)];
    }
    const changes: RegistryChange[] = [];
    if (existing.state !== next.state) changes.push(this.change(at, next, 'state', existing.state, 'registered again'));
    const moved = existing.address !== next.address || existing.zone !== next.zone || existing.version !== next.version;
    if (moved) changes.push(this.change(at, next, 'updated', existing.state, `now ${next.zone} ${next.address} ${next.version}`.trim()));
    if (existing.weight !== next.weight) changes.push(this.change(at, next, 'weight', existing.state, `weight ${existing.weight} → ${next.weight}`));
    return changes;
  }

  heartbeat(data: InstanceHeartbeat, now: number): RegistryChange[] {
    let instance = this.services.get(data.service)?.get(data.instanceId);
    let joins = false;
    if (!instance) {
      // Known from history only: its heartbeat brings it back, with the address it registered.
      const k = key(data.service, data.instanceId);
      const sleeping = this.dormant.get(k);
      if (!sleeping) return []; // never registered: we have no address to route to
      this.dormant.delete(k);
      joins = this.neverListed.delete(k);
      instance = { ...sleeping, state: 'down' };
      this.bucket(data.service).set(data.instanceId, instance);
    }
    if (instance.state === 'deregistered') return [];
    instance.lastSeen = now;
    instance.seq = data.seq;
    instance.inflight = data.inflight;
    const changes: RegistryChange[] = [];
    const wanted: InstanceState = data.state === 'draining' ? 'draining' : 'healthy';
    if (instance.state !== wanted) {
      const from = instance.state;
      instance.state = wanted;
      if (joins) {
        changes.push(this.change(now, instance, 'registered', null, `joined ${instance.zone} at ${instance.address} (registered ${Math.round((now - instance.firstSeen) / 1000)} s before its first heartbeat here)`));
      } else changes.push(this.change(now, instance, 'state', from, from === 'down' ? 'heartbeats resumed' : `agent reports ${data.state}`));
    }
    if (data.weight !== undefined && data.weight !== instance.weight) {
      const before = instance.weight;
      instance.weight = data.weight;
      changes.push(this.change(now, instance, 'weight', instance.state, `weight ${before} → ${data.weight}`));
    }
    return changes;
  }

  deregister(data: InstanceDeregister, now: number): RegistryChange[] {
    const bucket = this.services.get(data.service);
    const instance = bucket?.get(data.instanceId);
    if (!bucket || !instance) return [];
    const from = instance.state;
    instance.state = 'deregistered';
    instance.lastSeen = now;
    bucket.delete(data.instanceId);
    return [this.change(now, instance, 'state', from, `deregistered: ${data.reason}`)];
  }

  /**
   * Marks instances whose heartbeats stopped as down, and sets long-down ones aside. `graceMs`:
   * silence forgiven on top of the TTL because the core itself is behind (core/registry/heartbeat-lag.ts).
   */
  sweep(now: number, graceMs = 0): RegistryChange[] {
    const changes: RegistryChange[] = [];
    for (const bucket of this.services.values()) {
      for (const instance of bucket.values()) {
        if (instance.state === 'down') {
          if (now - instance.lastSeen > this.options.forgetDownAfterMs) {
            bucket.delete(instance.instanceId);
            this.dormant.set(key(instance.service, instance.instanceId), instance);
            changes.push(this.change(now, instance, 'forgotten', 'down', `down for ${Math.round((now - instance.lastSeen) / 1000)} s; no longer listed until it heartbeats again`));
          }
          continue;
        }
        const ttl = instance.heartbeatIntervalMs * this.options.missedHeartbeats;
        if (now - instance.lastSeen > ttl + graceMs) {
          const from = instance.state;
          instance.state = 'down';
          changes.push(this.change(now, instance, 'state', from, `no heartbeat for ${now - instance.lastSeen} ms (TTL ${ttl} ms${graceText(graceMs)})`));
        }
      }
    }
    return changes;
  }

  /** Whether serviceNames() has `service` (an instance of it is listed), without building the list. */
  hasService(service: string): boolean {
    return (this.services.get(service)?.size ?? 0) > 0;
  }

  serviceNames(): string[] {
    return [...this.services.keys()].filter((s) => (this.services.get(s)?.size ?? 0) > 0).sort();
  }

  instances(service: string, filter: { healthyOnly?: boolean; zone?: string } = {}): Instance[] {
    const all = [...(this.services.get(service)?.values() ?? [])];
    return all
      .filter((i) => (!filter.healthyOnly || i.state === 'healthy') && (!filter.zone || i.zone === filter.zone))
      .sort((a, b) => a.zone.localeCompare(b.zone) || a.instanceId.localeCompare(b.instanceId));
  }

  get(service: string, instanceId: string): Instance | undefined {
    return this.services.get(service)?.get(instanceId);
  }

  get size(): number {
    let n = 0;
    for (const bucket of this.services.values()) n += bucket.size;
    return n;
  }

  /** Bumps the service's revision: call once per batch of changes to that service. */
  bumpRevision(service: string, now: number): number {
    const next = Math.max((this.revisions.get(service) ?? 0) + 1, now);
    this.revisions.set(service, next);
    return next;
  }

  /** The endpoint set agents balance over (only `healthy` ones receive new requests). */
  endpoints(service: string): DiscoveryEndpoints {
    return {
      service,
      revision: this.revisions.get(service) ?? 0,
      endpoints: this.instances(service).map((i) => ({
        instanceId: i.instanceId,
        zone: i.zone,
        address: i.address,
        weight: i.weight,
        state: ENDPOINT_STATE[i.state as keyof typeof ENDPOINT_STATE] ?? 'down',
      })),
    };
  }

  /** Instances set aside (known from history, or down for long); for tests and diagnostics. */
  get dormantCount(): number {
    return this.dormant.size;
  }

  private bucket(service: string): Map<string, Instance> {
    let bucket = this.services.get(service);
    if (!bucket) {
      bucket = new Map();
      this.services.set(service, bucket);
    }
    return bucket;
  }

  private change(at: number, instance: Instance, kind: RegistryChangeKind, from: InstanceState | null, detail: string): RegistryChange {
    return { at, service: instance.service, instanceId: instance.instanceId, kind, from, to: instance.state, detail };
  }
}

function key(service: string, instanceId: string): string {
  return `${service}\u0000${instanceId}`;
}
