/**
 * The sidecar's view of the services it calls: one balancer per service, fed by the endpoint
 * sets the core pushes. Endpoints in the sidecar's own zone get priority 0 and the others 1,
 * so traffic stays local while the local zone can carry it (locality failover).
 */
import { createBalancer, createLocalityAware } from '../../core/balancer/index.js';
import type { Balancer, BalancerKind, Endpoint } from '../../core/balancer/types.js';
import type { DiscoveryEndpoints } from '../../core/protocol/messages.js';

export interface MeshEndpoint extends Endpoint {
  address: string;
}

interface ServicePool {
  revision: number;
  balancer: Balancer;
  endpoints: MeshEndpoint[];
}

export class UpstreamPool {
  private readonly services = new Map<string, ServicePool>();

  constructor(
    private readonly kind: BalancerKind,
    private readonly zone: string,
  ) {}

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
      pool = { revision: set.revision, balancer: createLocalityAware(() => createBalancer(this.kind)), endpoints };
      this.services.set(set.service, pool);
    }
    pool.revision = set.revision;
    pool.endpoints = endpoints;
    pool.balancer.update(endpoints);
  }

  /** An endpoint not yet tried by this request when possible. */
  pick(service: string, tried: ReadonlySet<string>): MeshEndpoint | null {
    const pool = this.services.get(service);
    if (!pool) return null;
    const now = performance.now();
    let choice = pool.balancer.pick({ now }) as MeshEndpoint | null;
    for (let i = 0; i < 4 && choice && tried.has(choice.id); i++) choice = pool.balancer.pick({ now }) as MeshEndpoint | null;
    if (choice && tried.has(choice.id)) {
      // The balancer keeps choosing a tried one: take any healthy endpoint not tried yet.
      choice = pool.endpoints.find((e) => e.healthy && e.weight > 0 && !tried.has(e.id)) ?? choice;
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
