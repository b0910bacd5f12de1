/**
 * The sidecar's view of the services it calls: one balancer per service, fed by the endpoint
 * sets the core pushes. Endpoints in the sidecar's own zone get priority 0 and the others 1,
 * so traffic stays local while the local zone can carry it (locality failover). The set's
 * `zones` caps the health of zones that are failing back or failed over by an operator.
 */
import { createBalancer, createLocalityAware, type BalancerKind, type Endpoint, type LocalityAwareBalancer } from '../../core/balancer/index.js';
import type { DiscoveryEndpoints } from '../../core/protocol/messages.js';
import type { MeshAgent } from '../sdk/mesh-agent.js';

export interface MeshEndpoint extends Endpoint {
  address: string;
}

interface ServicePool {
  revision: number;
  balancer: LocalityAwareBalancer;
  /** As the core sent them. */
  endpoints: MeshEndpoint[];
  /** Endpoints this sidecar set aside itself after connection failures: id → until (ms). */
  localEjections: Map<string, { until: number; times: number }>;
  /** Consecutive connection failures per endpoint. */
  connectFailures: Map<string, number>;
  /** Earliest local ejection end, to re-admit without scanning on every pick. */
  nextExpiry: number;
}

/**
 * Passive outlier detection in the data plane (Envoy's, per proxy): a refused connection means
 * nothing listens there any more, so the endpoint is set aside at once; other connection
 * failures after a few in a row. Local ejections last base × 2^(n−1), capped, and end by
 * themselves: the core's own detection and its endpoint pushes stay the source of truth.
 */
export interface LocalEjectionPolicy {
  baseMs: number;
  maxMs: number;
  /** Consecutive non-refused connection failures (resets, timeouts to connect) before ejecting. */
  consecutiveFailures: number;
}

/**
 * 4 s: longer than the core takes to mark a dead instance down by its heartbeats (3 missed 1-s
 * heartbeats, at most 3.25 s with the sweep) and push the set without it, so a caller that found
 * an instance refusing does not try it again before the core's decision arrives.
 */
export const DEFAULT_LOCAL_EJECTION: LocalEjectionPolicy = { baseMs: 4000, maxMs: 30_000, consecutiveFailures: 3 };

export type LocalEjectionListener = (event: { service: string; instanceId: string; until: number; reason: string }) => void;

export class UpstreamPool {
  private readonly services = new Map<string, ServicePool>();

  private readonly listeners = new Set<LocalEjectionListener>();

  constructor(
    private readonly kind: BalancerKind,
    private readonly zone: string,
    private readonly ejection: LocalEjectionPolicy = DEFAULT_LOCAL_EJECTION,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Called when this sidecar sets an endpoint aside (the agent reports it to the core). */
  onLocalEjection(listener: LocalEjectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  has(service: string): boolean {
    return this.services.has(service);
  }

  update(set: DiscoveryEndpoints): void {
    let pool = this.services.get(set.service);
    if (pool && pool.revision > set.revision) return;
    const endpoints: MeshEndpoint[] = set.endpoints.map((e) => ({
      id: e.instanceId,
      zone: e.zone,
      address: e.address,
      weight: e.weight,
      healthy: e.state === 'healthy',
      priority: e.zone === this.zone ? 0 : 1,
    }));
    if (!pool) {
      pool = {
        revision: set.revision,
        balancer: createLocalityAware(() => createBalancer(this.kind)),
        endpoints,
        localEjections: new Map(),
        connectFailures: new Map(),
        nextExpiry: Infinity,
      };
      this.services.set(set.service, pool);
    }
    pool.revision = set.revision;
    pool.endpoints = endpoints;
    this.rebuild(pool);
    // The core's fail-back ramp and zone failovers: per zone, the health this caller may count on.
    pool.balancer.admit(set.zones ? Object.fromEntries(Object.entries(set.zones).map(([zone, z]) => [zone, z.admitted])) : null);
  }

  /** A try could not connect to `id`; `code` is the socket error code (ECONNREFUSED, ...). */
  reportConnectFailure(service: string, id: string, code: string | null): void {
    const pool = this.services.get(service);
    if (!pool) return;
    const failures = (pool.connectFailures.get(id) ?? 0) + 1;
    pool.connectFailures.set(id, failures);
    const refused = code === 'ECONNREFUSED';
    if (!refused && failures < this.ejection.consecutiveFailures) return;
    const now = this.clock();
    const current = pool.localEjections.get(id);
    if (current && current.until > now) return;
    const times = (current?.times ?? 0) + 1;
    const until = now + Math.min(this.ejection.maxMs, this.ejection.baseMs * 2 ** (times - 1));
    pool.localEjections.set(id, { until, times });
    pool.connectFailures.set(id, 0);
    pool.nextExpiry = Math.min(pool.nextExpiry, until);
    this.rebuild(pool);
    const reason = refused ? 'connection refused' : `${failures} connection failures in a row (${code ?? 'unknown'})`;
    for (const listener of this.listeners) listener({ service, instanceId: id, until, reason });
  }

  /**
   * A try reached `id` (whatever it answered): its connection-failure streak ends, and once it has
   * been back for `baseMs` after its last local ejection, that ejection's backoff is forgotten
   * (Envoy decays its ejection multiplier while a host is healthy). Without this, every refusal
   * an endpoint ever caused would count: after a few restarts of one instance, a single refused
   * connection set it aside for `maxMs`, long after it was back.
   */
  reportReachable(service: string, id: string): void {
    const pool = this.services.get(service);
    if (!pool) return;
    pool.connectFailures.delete(id);
    const ejection = pool.localEjections.get(id);
    if (ejection && this.clock() - ejection.until >= this.ejection.baseMs) pool.localEjections.delete(id);
  }

  /** Endpoints this sidecar has set aside itself, for diagnostics and tests. */
  localEjections(service: string): string[] {
    const pool = this.services.get(service);
    if (!pool) return [];
    const now = this.clock();
    return [...pool.localEjections.entries()].filter(([, e]) => e.until > now).map(([id]) => id);
  }

  private rebuild(pool: ServicePool): void {
    const now = this.clock();
    let next = Infinity;
    for (const e of pool.localEjections.values()) if (e.until > now) next = Math.min(next, e.until);
    pool.nextExpiry = next;
    const effective =
      next === Infinity
        ? pool.endpoints
        : pool.endpoints.map((e) => ((pool.localEjections.get(e.id)?.until ?? 0) > now ? { ...e, healthy: false } : e));
    pool.balancer.update(effective);
  }

  /** An endpoint not yet tried by this request when possible. */
  pick(service: string, tried: ReadonlySet<string>): MeshEndpoint | null {
    const pool = this.services.get(service);
    if (!pool) return null;
    if (this.clock() >= pool.nextExpiry) this.rebuild(pool); // a local ejection ended
    const now = performance.now();
    let choice = pool.balancer.pick({ now }) as MeshEndpoint | null;
    for (let i = 0; i < 4 && choice && tried.has(choice.id); i++) choice = pool.balancer.pick({ now }) as MeshEndpoint | null;
    if (choice && tried.has(choice.id)) {
      // The balancer keeps choosing a tried one: take any healthy endpoint not tried yet and not
      // set aside here (a retry must not go back to an endpoint this sidecar found refusing).
      const wallNow = this.clock();
      choice = pool.endpoints.find((e) => e.healthy && e.weight > 0 && !tried.has(e.id) && !((pool.localEjections.get(e.id)?.until ?? 0) > wallNow)) ?? choice;
    }
    return choice;
  }

  onStart(service: string, id: string, now: number): void {
    this.services.get(service)?.balancer.onStart(id, now);
  }

  onEnd(service: string, id: string, now: number, latencyMs: number, ok: boolean): void {
    this.services.get(service)?.balancer.onEnd(id, now, latencyMs, ok);
  }

  snapshot(): Array<{ service: string; revision: number; endpoints: MeshEndpoint[] }> {
    return [...this.services.entries()].map(([service, pool]) => ({ service, revision: pool.revision, endpoints: pool.endpoints }));
  }
}

/**
 * Feeds `pool` with the endpoint sets `agent` receives, and tells the core at once (a health
 * signal) about every endpoint the pool sets aside after failed connections.
 */
export function bindPoolToAgent(pool: UpstreamPool, agent: MeshAgent): void {
  agent.on('endpoints', (set: DiscoveryEndpoints) => pool.update(set));
  pool.onLocalEjection(({ service, instanceId, until, reason }) => {
    void agent.reportSignal({ service, instanceId }, reason === 'connection refused' ? 'connect-refused' : 'connect-failed', reason, until);
  });
}
