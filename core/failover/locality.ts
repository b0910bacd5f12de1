/**
 * Zone failover planning with Envoy's priority semantics, and gradual fail-back. Pure.
 *
 * Zones are priority levels, listed in the caller's order of preference (its own zone first,
 * priority 0; that is how the core hands out priorities, see core/balancer/locality.ts). Per zone:
 *
 *   health = min(1, overprovisioningFactor × healthy / total)        (0 for an empty zone)
 *   total  = min(1, Σ health)
 *   load   = min(remaining, health / total), walking from priority 0
 *   panic  = only when total < 1: healthy / total < panicThreshold
 *
 * This is the balancer's own computation (`priorityLevels` in core/balancer/locality.ts, which
 * sidecars run per pick), with its admitted-health cap used for fail-back; locality.test.ts checks
 * it against what `createLocalityAware(...).state()` reports over an exhaustive grid of zone counts.
 *
 * Fail-back. Losing health takes effect at once (traffic must leave a failing zone now); gaining
 * it does not: a recovering zone's *admitted* health rises by `failback.step` per
 * `failback.intervalMs` until it reaches its real health, and loads are computed from admitted
 * health. With the other zones able to absorb the rest, a zone coming back from 0 takes 25 %,
 * 50 %, 75 %, 100 % of its traffic over four intervals (defaults). The admitted health per zone is
 * the only state: keep the `admitted` of the step in effect and pass it to the next plan (replan
 * on every change in counts, or at each interval). Panic is judged on real counts: a zone that
 * is healthy but still ramping is not "in panic".
 *
 * Enforcement: `ZoneFailback` (zones.ts) runs these plans per service in the core and the
 * endpoint sets carry the admitted health per zone (`zones`), which the sidecar's balancer applies
 * as caps (`LocalityAwareBalancer.admit`).
 */
import { priorityLevels } from '../balancer/locality.js';

const EPSILON = 1e-9;
import { ValidationError, type FieldIssue } from '../lib/errors.js';
import type { OutlierPolicy } from './policy.js';

// Envoy's priority load and panic computation lives with the balancer, which applies it per pick.
export { priorityLevels, type LevelInput } from '../balancer/locality.js';

export interface ZoneCounts {
  zone: string;
  /** Instances able to take traffic (healthy, not ejected). */
  healthy: number;
  /** Instances with weight > 0, healthy or not. */
  total: number;
}

export interface ZoneLoad {
  zone: string;
  priority: number;
  healthy: number;
  total: number;
  /** min(1, overprovisioningFactor × healthy / total): what the zone could take now. */
  health: number;
  /** The health the loads were computed with (below `health` while failing back). */
  admittedHealth: number;
  /** Share of the caller's traffic for this zone, 0..1. */
  load: number;
  panic: boolean;
}

export interface ZoneLoadReport {
  zones: ZoneLoad[];
  /** Share of traffic leaving the caller's own zone (priority 0): 1 − load of priority 0. */
  spill: number;
  /** Some zone that receives traffic is in panic. */
  panic: boolean;
  /** min(1, Σ admitted health): below 1 the zones together are short and loads are normalised. */
  totalHealth: number;
}

export interface LocalityOptions {
  overprovisioningFactor: number;
  panicThreshold: number;
}

/** Each zone's health, load and panic now (no fail-back state: recoveries count at once). */
export function zoneLoads(zones: readonly ZoneCounts[], options: LocalityOptions, admitted?: Readonly<Record<string, number>>): ZoneLoadReport {
  validateZones(zones);
  const levels = priorityLevels(
    zones.map((z) => ({ endpoints: z.total, available: z.healthy, ...(admitted?.[z.zone] !== undefined ? { admittedHealth: admitted[z.zone] } : {}) })),
    options.overprovisioningFactor,
    options.panicThreshold,
  );
  const out = zones.map((z, i): ZoneLoad => {
    const level = levels[i]!;
    return {
      zone: z.zone,
      priority: i,
      healthy: z.healthy,
      total: z.total,
      health: realHealth(z, options.overprovisioningFactor),
      admittedHealth: level.health,
      load: level.load,
      panic: level.panic,
    };
  });
  return {
    zones: out,
    spill: out.length === 0 ? 0 : Math.max(0, 1 - out[0]!.load),
    panic: out.some((z) => z.panic && z.load > 0),
    totalHealth: Math.min(1, out.reduce((s, z) => s + z.admittedHealth, 0)),
  };
}

export type ZoneAction = 'steady' | 'failover' | 'failback';

export interface ZoneEvidence {
  zone: string;
  healthy: number;
  total: number;
  health: number;
  /** Admitted health passed in (null: none known, taken as the real health). */
  previousAdmitted: number | null;
  /** Admitted health at step 0. */
  admitted: number;
  /** failover: health fell below what was admitted (applied at once); failback: ramping up. */
  action: ZoneAction;
}

export interface FailoverStep {
  index: number;
  /** When to apply it: now + index × failback.intervalMs. */
  at: number;
  /** Admitted health per zone in this step: pass the one in effect to the next plan. */
  admitted: Record<string, number>;
  report: ZoneLoadReport;
}

export interface ZoneFailoverPlan {
  at: number;
  /** Where the plan ends: loads from the real health of every zone. */
  target: ZoneLoadReport;
  /** Step 0 applies now; a plan without fail-back has that step only. */
  steps: FailoverStep[];
  evidence: {
    zones: ZoneEvidence[];
    step: number;
    intervalMs: number;
    overprovisioningFactor: number;
    panicThreshold: number;
  };
}

export interface ZoneFailoverInput {
  /** Zones in the caller's order of preference (its own first). */
  zones: readonly ZoneCounts[];
  /** Admitted health per zone from the step in effect (omit on the first plan). */
  admitted?: Readonly<Record<string, number>>;
  policy: Pick<OutlierPolicy, 'overprovisioningFactor' | 'panicThreshold' | 'failback'>;
  now: number;
}

/**
 * The steps from the admitted state to the zones' real health: losses at once (step 0), gains
 * by `failback.step` of health per `failback.intervalMs`. Throws ValidationError on bad counts.
 */
export function planZoneFailover(input: ZoneFailoverInput): ZoneFailoverPlan {
  const { zones, policy, now } = input;
  validateZones(zones);
  const options = { overprovisioningFactor: policy.overprovisioningFactor, panicThreshold: policy.panicThreshold };
  const { step, intervalMs } = policy.failback;
  const immediate = intervalMs === 0;

  const evidence: ZoneEvidence[] = zones.map((z) => {
    const health = realHealth(z, policy.overprovisioningFactor);
    const previous = input.admitted?.[z.zone];
    const admitted = previous === undefined || immediate ? health : Math.min(health, Math.max(0, previous));
    const action: ZoneAction = admitted < health - EPSILON ? 'failback' : previous !== undefined && health < previous - EPSILON ? 'failover' : 'steady';
    return { zone: z.zone, healthy: z.healthy, total: z.total, health, previousAdmitted: previous ?? null, admitted, action };
  });

  const count = Math.max(0, ...evidence.map((e) => Math.ceil((e.health - e.admitted) / step - EPSILON)));
  const steps: FailoverStep[] = [];
  for (let k = 0; k <= count; k++) {
    const admitted: Record<string, number> = {};
    for (const e of evidence) admitted[e.zone] = k === count ? e.health : Math.min(e.health, e.admitted + k * step);
    steps.push({ index: k, at: now + k * intervalMs, admitted, report: zoneLoads(zones, options, admitted) });
  }
  return {
    at: now,
    target: zoneLoads(zones, options),
    steps,
    evidence: { zones: evidence, step, intervalMs, overprovisioningFactor: policy.overprovisioningFactor, panicThreshold: policy.panicThreshold },
  };
}

/** `zones` with `localZone` first and the rest in their given order (the caller's priorities). */
export function zoneOrder<T extends { zone: string }>(localZone: string, zones: readonly T[]): T[] {
  return [...zones.filter((z) => z.zone === localZone), ...zones.filter((z) => z.zone !== localZone)];
}

function realHealth(z: ZoneCounts, overprovisioning: number): number {
  return z.total > 0 ? Math.min(1, (overprovisioning * z.healthy) / z.total) : 0;
}

function validateZones(zones: readonly ZoneCounts[]): void {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  zones.forEach((z, i) => {
    if (seen.has(z.zone)) issues.push({ path: `zones.${i}.zone`, message: `zone "${z.zone}" is listed twice` });
    seen.add(z.zone);
    if (!Number.isInteger(z.total) || z.total < 0) issues.push({ path: `zones.${i}.total`, message: 'must be an integer >= 0' });
    if (!Number.isInteger(z.healthy) || z.healthy < 0 || z.healthy > z.total) issues.push({ path: `zones.${i}.healthy`, message: 'must be an integer from 0 to total' });
  });
  if (issues.length > 0) throw new ValidationError('Invalid zone counts', issues);
}
