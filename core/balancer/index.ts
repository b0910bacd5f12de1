/**
 * core/balancer: the pure load-balancing library shared by the sidecar (agent/) and the core.
 * No I/O, no timers, no clock: time comes in through `PickContext.now` and the feedback calls,
 * randomness through the `random` option. See README.md in this folder for the algorithms.
 *
 *   const lb = createBalancer('p2c-ewma');
 *   lb.update(endpoints);                       // on every registry change
 *   const ep = lb.pick({ now: performance.now() });
 *   lb.onStart(ep.id, t0); …; lb.onEnd(ep.id, t1, t1 - t0, ok);
 *
 *   const failover = createLocalityAware(() => createBalancer('p2c-ewma'), { overprovisioningFactor: 1.4 });
 */
import { LeastRequestBalancer } from './least-request.js';
import { MaglevBalancer } from './maglev.js';
import { resolveOptions } from './options.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { Balancer, BalancerKind, BalancerOptions } from './types.js';
import { SmoothWeightedRoundRobinBalancer } from './weighted-round-robin.js';

export { BALANCER_KINDS } from './types.js';
export type { Balancer, BalancerKind, BalancerOptions, Endpoint, PickContext, RandomSource } from './types.js';
export { createLocalityAware } from './locality.js';
export type { BalancerFactory, LocalityAwareBalancer, LocalityOptions, LocalityState, PriorityLevelState } from './locality.js';
export { isBalancerKind } from './options.js';
export { mulberry32 } from './random.js';

/** A balancer of the given kind with an empty endpoint set. Throws ValidationError for an unknown
 *  kind or invalid options (every problem listed in `issues`). */
export function createBalancer(kind: BalancerKind, options?: BalancerOptions): Balancer {
  const o = resolveOptions(kind, options);
  switch (o.kind) {
    case 'round-robin':
      return new RoundRobinBalancer(o.random);
    case 'weighted-round-robin':
      return new SmoothWeightedRoundRobinBalancer();
    case 'least-request':
      return new LeastRequestBalancer(o.random, o.activeRequestBias);
    case 'p2c-ewma':
      return new PeakEwmaBalancer(o.random, o.peakEwma);
    case 'ring-hash':
      return new RingHashBalancer(o.random, o.ring);
    case 'maglev':
      return new MaglevBalancer(o.random, o.tableSize);
  }
}
