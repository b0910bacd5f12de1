/**
 * Locality-aware priority failover with Envoy's semantics, wrapping any balancer: one inner
 * balancer (from `factory`) per priority level, a weighted choice of level per pick, then the
 * inner balancer's pick within that level. The core gives priority 0 to the local zone, 1 to the
 * next, and so on.
 *
 * Counting (per level): endpoints = those with weight > 0 (weight 0 is "excluded", like Envoy's
 * excluded hosts: it neither receives traffic nor counts against health); available = those of
 * them that are healthy. Counts are unweighted, as Envoy's default.
 *
 *   health[p] = min(1, overprovisioningFactor * available / endpoints)   (0 for an empty level)
 *   total     = min(1, sum of health)                                    ("normalized total health")
 *   load[p]   = min(remaining, health[p] / total), walking p = 0, 1, 2 …
 *
 * So with everything healthy priority 0 takes 100%; at 50% healthy and factor 1.4 it takes 70%
 * and the next level 30%; when all levels together are short (total < 1) the loads are
 * normalised. Computed in floating point, where Envoy rounds to integer percent (71%/71% healthy
 * gives 99.4%/0.6% here, 99%/1% in Envoy).
 *
 * Panic (Envoy's panic threshold): only when total < 1 — the levels together cannot absorb the
 * traffic — a level whose available / endpoints is below panicThreshold is "in panic": its picks
 * ignore health and spread over all its endpoints with weight > 0, so the survivors are not
 * overloaded. If every level is in panic, loads follow endpoint counts instead of health. With no
 * available endpoint anywhere and panicThreshold 0, everything goes to priority 0 and picks
 * return null. `state()` reports health, loads and panic for the console.
 *
 * The level of a pick is drawn with `random`, except that a pick with a hashKey draws it from the
 * key's hash (as Envoy does for hash-based balancers), so a key stays on its endpoint while the
 * set is stable. Per-endpoint state lives in the inner balancer of the endpoint's level; an
 * endpoint that changes priority starts afresh.
 */
import { ValidationError, type FieldIssue } from '../lib/errors.js';
import { EndpointSet } from './endpoints.js';
import { murmur3, SEED_PRIORITY } from './hash.js';
import { DEFAULTS, numberOption, optionsObject, randomOption } from './options.js';
import type { Balancer, BalancerKind, Endpoint, PickContext, RandomSource } from './types.js';

export interface LocalityOptions {
  /** Envoy's overprovisioning factor, >= 1 (default 1.4). */
  overprovisioningFactor?: number;
  /** Envoy's healthy panic threshold as a fraction in [0, 1] (default 0.5); 0 disables panic. */
  panicThreshold?: number;
  /** Draws the priority level of picks without a hashKey (default Math.random). */
  random?: RandomSource;
}

export interface PriorityLevelState {
  priority: number;
  /** Endpoints with weight > 0. */
  endpoints: number;
  /** Of those, the healthy ones. */
  available: number;
  /** min(1, overprovisioningFactor * available / endpoints). */
  health: number;
  /** Share of picks sent to this level, 0..1. */
  load: number;
  /** Picks in this level ignore health. */
  panic: boolean;
}

export interface LocalityState {
  /** load of priority 0, 1, 2 … (sums to 1 when any endpoint exists). */
  priorityLoad: number[];
  /** Some level that receives load is in panic. */
  panic: boolean;
  levels: PriorityLevelState[];
}

export interface LocalityAwareBalancer extends Balancer {
  state(): LocalityState;
}

/** Returns a fresh inner balancer; called once per priority level in use. */
export type BalancerFactory = () => Balancer;

const EPSILON = 1e-9;


export interface LevelInput {
  /** Endpoints with weight > 0. */
  endpoints: number;
  /** Of those, the healthy ones. */
  available: number;
  /** Upper bound on the level's health (admitted health during fail-back); none = no bound. */
  admittedHealth?: number;
}

/**
 * Envoy's priority load and panic computation over per-level counts, with an optional cap on
 * each level's health (core/failover's gradual fail-back plans use it).
 */
export function priorityLevels(input: readonly LevelInput[], overprovisioning: number, panicThreshold: number): PriorityLevelState[] {
  const levels: PriorityLevelState[] = input.map((l, priority) => {
    const health = l.endpoints > 0 ? Math.min(1, (overprovisioning * l.available) / l.endpoints) : 0;
    return {
      priority,
      endpoints: l.endpoints,
      available: l.available,
      health: l.admittedHealth === undefined ? health : Math.max(0, Math.min(health, l.admittedHealth)),
      load: 0,
      panic: false,
    };
  });
  if (levels.length === 0) return levels;
  const sum = levels.reduce((s, l) => s + l.health, 0);
  const total = Math.min(1, sum);
  if (total === 0) {
    levels[0]!.load = 1;
  } else {
    let remaining = 1;
    for (const level of levels) {
      level.load = Math.max(0, Math.min(remaining, level.health / total));
      remaining -= level.load;
    }
  }
  if (total >= 1 - EPSILON || (panicThreshold === 0 && total === 0)) return levels;
  for (const level of levels) level.panic = level.endpoints === 0 || level.available / level.endpoints < panicThreshold;
  if (levels.every((l) => l.panic)) {
    const all = levels.reduce((s, l) => s + l.endpoints, 0);
    for (const level of levels) level.load = all === 0 ? (level.priority === 0 ? 1 : 0) : level.endpoints / all;
  }
  return levels;
}

function computeLevels(endpoints: number[], available: number[], overprovisioning: number, panicThreshold: number): PriorityLevelState[] {
  return priorityLevels(
    endpoints.map((count, priority) => ({ endpoints: count, available: available[priority]! })),
    overprovisioning,
    panicThreshold,
  );
}

class LocalityAware implements LocalityAwareBalancer {
  readonly kind: BalancerKind;
  private readonly set = new EndpointSet();
  /** Inner balancer per priority; created on first use, kept (emptied) when a level empties. */
  private readonly inner: Balancer[] = [];
  private levels: PriorityLevelState[] = [];
  private cumulative = new Float64Array(0);
  private lastLoaded = 0;
  /** Per level in panic: id → the caller's endpoint (the inner balancer holds healthy copies). */
  private originals: (Map<string, Endpoint> | null)[] = [];
  private levelOf: ReadonlyMap<string, Balancer> = new Map();

  constructor(
    private readonly factory: BalancerFactory,
    private readonly overprovisioning: number,
    private readonly panicThreshold: number,
    private readonly random: RandomSource,
  ) {
    const first = factory();
    this.inner.push(first);
    this.kind = first.kind;
  }

  update(endpoints: readonly Endpoint[]): void {
    const change = this.set.replace(endpoints);
    const set = this.set;
    let levelCount = 1;
    for (let i = 0; i < set.size; i++) levelCount = Math.max(levelCount, set.priorities[i]! + 1);
    if (set.size === 0) levelCount = 0;

    const groups: Endpoint[][] = Array.from({ length: levelCount }, () => []);
    for (let i = 0; i < set.size; i++) groups[set.priorities[i]!]!.push(set.refs[i]!);

    if (change !== null) {
      const counts = new Array<number>(levelCount).fill(0);
      const available = new Array<number>(levelCount).fill(0);
      for (let i = 0; i < set.size; i++) {
        if (!(set.weights[i]! > 0)) continue;
        counts[set.priorities[i]!]!++;
        if (set.healthy[i]) available[set.priorities[i]!]!++;
      }
      this.levels = computeLevels(counts, available, this.overprovisioning, this.panicThreshold);
      const cumulative = new Float64Array(levelCount);
      let sum = 0;
      this.lastLoaded = 0;
      this.levels.forEach((level, p) => {
        sum += level.load;
        cumulative[p] = sum;
        if (level.load > 0) this.lastLoaded = p;
      });
      this.cumulative = cumulative;
    }

    while (this.inner.length < levelCount) this.inner.push(this.factory());
    const originals: (Map<string, Endpoint> | null)[] = [];
    for (let p = 0; p < this.inner.length; p++) {
      const group = groups[p] ?? [];
      const panic = this.levels[p]?.panic === true;
      originals.push(panic ? new Map(group.map((e) => [e.id, e])) : null);
      this.inner[p]!.update(panic ? group.map((e) => ({ ...e, healthy: true })) : group);
    }
    this.originals = originals;

    if (change !== null) {
      const levelOf = new Map<string, Balancer>();
      for (let i = 0; i < set.size; i++) levelOf.set(set.ids[i]!, this.inner[set.priorities[i]!]!);
      this.levelOf = levelOf;
    }
  }

  pick(ctx: PickContext): Endpoint | null {
    const levels = this.levels.length;
    if (levels === 0) return null;
    let p = 0;
    if (levels > 1) {
      const r = ctx.hashKey !== undefined ? murmur3(ctx.hashKey, SEED_PRIORITY) / 4294967296 : this.random();
      const cumulative = this.cumulative;
      p = this.lastLoaded;
      for (let q = 0; q < levels; q++) {
        if (r < cumulative[q]!) {
          p = q;
          break;
        }
      }
    }
    const endpoint = this.inner[p]!.pick(ctx);
    if (endpoint === null) return null;
    const originals = this.originals[p];
    return originals ? (originals.get(endpoint.id) ?? endpoint) : endpoint;
  }

  onStart(id: string, now: number): void {
    this.levelOf.get(id)?.onStart(id, now);
  }

  onEnd(id: string, now: number, latencyMs: number, ok: boolean): void {
    this.levelOf.get(id)?.onEnd(id, now, latencyMs, ok);
  }

  state(): LocalityState {
    const levels = this.levels.map((l) => ({ ...l }));
    return {
      priorityLoad: levels.map((l) => l.load),
      panic: levels.some((l) => l.panic && l.load > 0),
      levels,
    };
  }
}

/**
 * Wraps balancers made by `factory` (one per priority level) with Envoy's priority load,
 * overprovisioning and panic semantics. Throws ValidationError for invalid options.
 */
export function createLocalityAware(factory: BalancerFactory, options?: LocalityOptions): LocalityAwareBalancer {
  const issues: FieldIssue[] = [];
  if (typeof factory !== 'function') issues.push({ path: 'factory', message: 'must be a function returning a Balancer' });
  const input = optionsObject(issues, options);
  const random = randomOption(issues, input);
  const overprovisioning = numberOption(issues, input, 'overprovisioningFactor', DEFAULTS.overprovisioningFactor, { min: 1 });
  const panicThreshold = numberOption(issues, input, 'panicThreshold', DEFAULTS.panicThreshold, { min: 0, max: 1 });
  if (issues.length > 0) throw new ValidationError('Invalid locality options', issues);
  return new LocalityAware(factory, overprovisioning, panicThreshold, random);
}
