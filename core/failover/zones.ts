/**
 * Enforces zone fail-back: per service, the admitted health of each zone that the endpoint set
 * carries to every caller (`zones` of io.meshdeck.discovery.endpoints.v1), driven by the plans of
 * `planZoneFailover` (locality.ts). Pure: the mesh runtime passes counts, policy and `now`.
 *
 * - A zone that loses health loses its admitted health at once (the next push carries it).
 * - A zone that gains health keeps its admitted health until one `failback.intervalMs` has
 *   passed since the ramp started (or since its last step), then takes the plan's next step: with
 *   the defaults 0 → 0.25 → 0.5 → 0.75 → its real health. A change of counts in between (an
 *   instance ejected, another one back) replans from the admitted state in effect without
 *   advancing the ramp.
 * - A zone an operator failed over (`failover-zone`) is planned as if none of its instances were
 *   healthy: admitted 0. When it is restored it fails back like any recovering zone.
 * - The first plan of a service (a core that just started) admits the real health at once:
 *   there is no earlier state to ramp from.
 * - A zone whose every healthy instance is probing (half-open after an ejection) is admitted
 *   `probe.share` × its real health, whatever the ramp: within a zone a probing instance takes
 *   `probe.share` of its weight, but an instance alone in its zone (or with only ejected peers)
 *   has no healthy peer to weigh against and would take all the zone's load. The rest spills to
 *   the next priority. The ramp does not advance while the zone probes; once an instance is
 *   restored, the zone fails back from the probe share (defaults: 5 → 30 → 55 → 80 → 100 %).
 *
 * `zonesField` is what the endpoint set carries: only zones held below their real health, and
 * nothing when none is, so a set in the steady state is exactly what it was before the field.
 */
import { planZoneFailover, zoneLoads, type ZoneCounts, type ZoneFailoverPlan } from './locality.js';
import type { OutlierPolicy } from './policy.js';

const EPSILON = 1e-9;

export interface ZoneEndpoint {
  zone: string;
  weight: number;
  /** State in the endpoint set: only `healthy` endpoints take traffic. */
  state: string;
  /** Half-open after an ejection (state `healthy`, weight × probe.share). */
  probing?: boolean;
}

/** Counts per zone as the sidecar's balancer makes them: weight > 0, of those the healthy ones. */
export function countZones(endpoints: readonly ZoneEndpoint[]): ZoneCounts[] {
  const zones = new Map<string, ZoneCounts>();
  for (const e of endpoints) {
    if (!(e.weight > 0)) continue;
    const z = zones.get(e.zone) ?? { zone: e.zone, healthy: 0, total: 0 };
    z.total++;
    if (e.state === 'healthy') z.healthy++;
    zones.set(e.zone, z);
  }
  return [...zones.values()].sort((a, b) => (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0));
}

export interface ZoneStepChange {
  service: string;
  at: number;
  /** Admitted health per zone before and after. */
  from: Record<string, number>;
  to: Record<string, number>;
  /** Zones failed over by an operator at the time. */
  failedOver: string[];
  /** Zones whose every healthy instance was probing (admitted probe.share × health). */
  probing: string[];
  /** When the next ramp step is due (null: none pending). */
  nextStepAt: number | null;
  /** Why, in words: which zones fail over, fail back or are held. */
  reason: string;
  /** The plan's evidence: counts, health, actions per zone, step, interval, factor, threshold. */
  evidence: ZoneFailoverPlan['evidence'] & { counts: ZoneCounts[]; probing: string[]; probeShare: number; loads: Array<{ zone: string; load: number }> };
}

export interface ZoneView {
  service: string;
  admitted: Record<string, number>;
  /** Zones held below their real health, with the cap (what the endpoint set carries). */
  capped: Record<string, number>;
  nextStepAt: number | null;
  failedOver: string[];
  probing: string[];
  plan: ZoneFailoverPlan;
}

interface ServiceState {
  admitted: Record<string, number>;
  nextStepAt: number | null;
  view: ZoneView;
}

type Policy = Pick<OutlierPolicy, 'overprovisioningFactor' | 'panicThreshold' | 'failback'> & { probe: Pick<OutlierPolicy['probe'], 'share'> };

/** Zones with at least one healthy instance, every one of them probing. */
export function probingZones(endpoints: readonly ZoneEndpoint[]): Set<string> {
  const healthy = new Map<string, boolean>();
  for (const e of endpoints) {
    if (!(e.weight > 0) || e.state !== 'healthy') continue;
    healthy.set(e.zone, (healthy.get(e.zone) ?? true) && e.probing === true);
  }
  return new Set([...healthy].filter(([, all]) => all).map(([zone]) => zone));
}

export class ZoneFailback {
  private readonly services = new Map<string, ServiceState>();

  /**
   * Plans `service` now and takes the step in effect. Returns the change when the admitted
   * health of any zone moved (null when nothing changed).
   */
  update(service: string, endpoints: readonly ZoneEndpoint[], policy: Policy, now: number, failedOver: ReadonlySet<string> = new Set()): ZoneStepChange | null {
    const real = countZones(endpoints);
    const probing = probingZones(endpoints);
    for (const zone of failedOver) probing.delete(zone);
    // Probing zones are planned with no healthy instance (no ramp) and admitted their probe share below.
    const planned = real.map((z) => (failedOver.has(z.zone) || probing.has(z.zone) ? { ...z, healthy: 0 } : z));
    const state = this.services.get(service);
    const plan = planZoneFailover({ zones: planned, ...(state ? { admitted: state.admitted } : {}), policy, now });
    let step = plan.steps[0]!;
    let nextStepAt: number | null = null;
    if (plan.steps.length > 1) {
      const due = state?.nextStepAt ?? null;
      if (due !== null && now >= due - EPSILON) {
        step = plan.steps[1]!;
        nextStepAt = plan.steps.length > 2 ? now + policy.failback.intervalMs : null;
      } else {
        nextStepAt = due ?? now + policy.failback.intervalMs;
      }
    }
    // A zone that left the set (every instance gone) counts as admitted 0: when it comes back it fails back.
    const admitted = { ...step.admitted };
    for (const zone of Object.keys(state?.admitted ?? {})) admitted[zone] ??= 0;
    const health = new Map(real.map((z) => [z.zone, realHealth(z, policy.overprovisioningFactor)]));
    for (const zone of probing) admitted[zone] = policy.probe.share * health.get(zone)!;
    const capped: Record<string, number> = {};
    for (const z of real) {
      const a = admitted[z.zone] ?? health.get(z.zone)!;
      if (a < health.get(z.zone)! - EPSILON) capped[z.zone] = a;
    }
    // A failed-over zone is planned with health 0, so its real health is above the cap: list it.
    for (const zone of failedOver) if (real.some((z) => z.zone === zone && z.total > 0)) capped[zone] = admitted[zone] ?? 0;
    const loads = probing.size > 0 ? zoneLoads(real, { overprovisioningFactor: policy.overprovisioningFactor, panicThreshold: policy.panicThreshold }, admitted) : step.report;
    const view: ZoneView = { service, admitted, capped, nextStepAt, failedOver: [...failedOver].sort(), probing: [...probing].sort(), plan };
    const previous = state?.admitted;
    this.services.set(service, { admitted, nextStepAt, view });
    if (previous && sameAdmitted(previous, admitted)) return null;
    if (!previous && Object.keys(capped).length === 0) return null;
    return {
      service,
      at: now,
      from: previous ?? {},
      to: admitted,
      failedOver: view.failedOver,
      probing: view.probing,
      nextStepAt,
      reason: describe(real, plan, failedOver, probing, policy.probe.share, previous ?? {}, admitted),
      evidence: { ...plan.evidence, counts: real, probing: view.probing, probeShare: policy.probe.share, loads: loads.zones.map((z) => ({ zone: z.zone, load: z.load })) },
    };
  }

  /** What the endpoint set of `service` carries: zone → admitted, only for capped zones; undefined when none. */
  zonesField(service: string): Record<string, { admitted: number }> | undefined {
    const capped = this.services.get(service)?.view.capped;
    if (!capped || Object.keys(capped).length === 0) return undefined;
    return Object.fromEntries(Object.entries(capped).map(([zone, admitted]) => [zone, { admitted }]));
  }

  view(service: string): ZoneView | null {
    return this.services.get(service)?.view ?? null;
  }

  /** Services with a ramp step due at or before `now`. */
  due(now: number): string[] {
    return [...this.services].filter(([, s]) => s.nextStepAt !== null && now >= s.nextStepAt - EPSILON).map(([service]) => service);
  }

  forget(service: string): void {
    this.services.delete(service);
  }
}

export interface ZoneStateInfo {
  service: string;
  /** Per zone (sorted): counts, real health, admitted health, whether the set caps it, operator failover. */
  zones: Array<{ zone: string; healthy: number; total: number; health: number; admitted: number; capped: boolean; failedOver: boolean }>;
  /** When the next ramp step is due (ms since epoch), null when none is. */
  nextStepAt: number | null;
  /** The service's last changes of admitted health, newest last (at most 20). */
  recent: Array<Pick<ZoneStepChange, 'at' | 'from' | 'to' | 'reason'>>;
}

/** The zone state of a service for the console (`failover.zones`). */
export function zoneState(
  service: string,
  zones: ZoneFailback,
  real: readonly ZoneCounts[],
  overprovisioningFactor: number,
  failedOver: ReadonlySet<string>,
  history: readonly ZoneStepChange[],
): ZoneStateInfo {
  const view = zones.view(service);
  const capped = view?.capped ?? {};
  return {
    service,
    zones: real.map((z) => {
      const health = z.total > 0 ? Math.min(1, (overprovisioningFactor * z.healthy) / z.total) : 0;
      return { ...z, health, admitted: view?.admitted[z.zone] ?? health, capped: capped[z.zone] !== undefined, failedOver: failedOver.has(z.zone) };
    }),
    nextStepAt: view?.nextStepAt ?? null,
    recent: history
      .filter((c) => c.service === service)
      .slice(-20)
      .map(({ at, from, to, reason }) => ({ at, from, to, reason })),
  };
}

function realHealth(z: ZoneCounts, overprovisioning: number): number {
  return z.total > 0 ? Math.min(1, (overprovisioning * z.healthy) / z.total) : 0;
}

function sameAdmitted(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] !== undefined && Math.abs(a[k]! - b[k]!) <= EPSILON);
}

const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;

function describe(
  real: readonly ZoneCounts[],
  plan: ZoneFailoverPlan,
  failedOver: ReadonlySet<string>,
  probing: ReadonlySet<string>,
  share: number,
  from: Record<string, number>,
  to: Record<string, number>,
): string {
  const parts: string[] = [];
  for (const e of plan.evidence.zones) {
    const before = from[e.zone];
    const after = to[e.zone] ?? e.health;
    if (before !== undefined && Math.abs(before - after) <= EPSILON) continue;
    const counts = `${real.find((z) => z.zone === e.zone)?.healthy ?? e.healthy}/${e.total} healthy`;
    if (failedOver.has(e.zone)) parts.push(`zone ${e.zone} failed over by an operator (${counts}): admitted ${pct(after)}`);
    else if (probing.has(e.zone)) parts.push(`zone ${e.zone} probing (${counts}, every healthy instance probing): admitted ${pct(after)}, the probe share ${pct(share)} of its health`);
    else if (before !== undefined && after < before) parts.push(`zone ${e.zone} lost health (${counts}, health ${pct(e.health)}): admitted ${pct(before)} → ${pct(after)} at once`);
    else if (before !== undefined) parts.push(`zone ${e.zone} fails back (${counts}): admitted ${pct(before)} → ${pct(after)} of ${pct(e.health)}`);
    else parts.push(`zone ${e.zone} (${counts}): admitted ${pct(after)}`);
  }
  return parts.join('; ') || 'zone plan unchanged';
}
