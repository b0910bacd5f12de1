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
  /**
   * Caps the health of zones (the core's fail-back and zone failover, `zones` of the endpoint
   * set): zone → admitted health 0..1; null or {} = no cap. Throws ValidationError on a value
   * outside 0..1 and keeps the previous caps.
   */
  admit(admitted: Readonly<Record<string, number>> | null): void;
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

/** Per zone within one level: endpoints with weight > 0 and the healthy ones among them. */
interface ZoneCount {
  endpoints: number;
  available: number;
}

/**
 * A level's admitted health under per-zone caps: each capped zone counts as if only
 * min(available, admitted × endpoints / overprovisioning) of its endpoints were healthy, so a
 * level that is one zone gets exactly min(health, admitted); undefined when no zone is capped.
 */
export function admittedLevelHealth(zones: ReadonlyMap<string, ZoneCount>, admitted: ReadonlyMap<string, number>, overprovisioning: number): number | undefined {
  let capped = false;
  let endpoints = 0;
  let available = 0;
  for (const [zone, count] of zones) {
    const cap = admitted.get(zone);
    endpoints += count.endpoints;
    if (cap === undefined) {
      available += count.available;
    } else {
      capped = true;
      available += Math.min(count.available, (cap * count.endpoints) / overprovisioning);
    }
  }
  if (!capped) return undefined;
  // One zone: its cap as it is (priorityLevels takes min(health, cap)), free of rounding.
  if (zones.size === 1) return admitted.get(zones.keys().next().value!);
  return endpoints > 0 ? Math.min(1, (overprovisioning * available) / endpoints) : 0;
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
  private admitted: ReadonlyMap<string, number> = new Map();

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
    this.apply(this.set.replace(endpoints) !== null);
  }

  admit(admitted: Readonly<Record<string, number>> | null): void {
    const entries = Object.entries(admitted ?? {});
    const issues: FieldIssue[] = [];
    for (const [zone, value] of entries) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) issues.push({ path: `admitted.${zone}`, message: 'must be a number from 0 to 1' });
    }
    if (issues.length > 0) throw new ValidationError('Invalid admitted zone health', issues);
    if (entries.length === this.admitted.size && entries.every(([zone, value]) => this.admitted.get(zone) === value)) return;
    this.admitted = new Map(entries);
    this.apply(true);
  }

  /** Rebuilds the inner balancers; recomputes the levels when the set or the caps changed. */
  private apply(changed: boolean): void {
    const set = this.set;
    let levelCount = 1;
    for (let i = 0; i < set.size; i++) levelCount = Math.max(levelCount, set.priorities[i]! + 1);
    if (set.size === 0) levelCount = 0;

    const groups: Endpoint[][] = Array.from({ length: levelCount }, () => []);
    for (let i = 0; i < set.size; i++) groups[set.priorities[i]!]!.push(set.refs[i]!);

    if (changed) {
      const counts = new Array<number>(levelCount).fill(0);
      const available = new Array<number>(levelCount).fill(0);
      const zones = this.admitted.size > 0 ? Array.from({ length: levelCount }, () => new Map<string, ZoneCount>()) : null;
      for (let i = 0; i < set.size; i++) {
        if (!(set.weights[i]! > 0)) continue;
        const p = set.priorities[i]!;
        counts[p]!++;
        if (set.healthy[i]) available[p]!++;
        if (zones) {
          const zone = set.refs[i]!.zone;
          const count = zones[p]!.get(zone) ?? { endpoints: 0, available: 0 };
          count.endpoints++;
          if (set.healthy[i]) count.available++;
          zones[p]!.set(zone, count);
        }
      }
      this.levels = priorityLevels(
        counts.map((count, p) => {
          const admittedHealth = zones ? admittedLevelHealth(zones[p]!, this.admitted, this.overprovisioning) : undefined;
          return { endpoints: count, available: available[p]!, ...(admittedHealth === undefined ? {} : { admittedHealth }) };
        }),
        this.overprovisioning,
        this.panicThreshold,
      );
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

    if (changed) {
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
