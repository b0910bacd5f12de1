/**
 * The traffic split a weight change would give a service: each serving instance's share is its
 * weight over the serving instances' total weight (what the sidecars' weighted balancers do
 * within a zone; locality may still keep callers in their own zone). Pure, for the weights dialog.
 */
import type { InstanceInfo } from '../../../core/api/contract';
import { instanceCondition } from '../failover-words';

export interface SplitRow {
  instanceId: string;
  zone: string;
  /** The weight now, and after the change (the same when the change does not touch it). */
  weightBefore: number;
  weightAfter: number;
  /** Share of the service's traffic now and after; 0 for instances that take no traffic. */
  shareBefore: number;
  shareAfter: number;
  serving: boolean;
  changed: boolean;
}

/** `instanceId` absent: every instance of the service gets `weight`. */
export interface WeightChange {
  instanceId?: string;
  weight: number;
}

type SplitInput = Pick<InstanceInfo, 'instanceId' | 'zone' | 'weight' | 'state' | 'failover'>;

/** Ejected, draining, down and deregistered instances take no new traffic; probing ones do. */
export function takesTraffic(i: Pick<InstanceInfo, 'state' | 'failover'>): boolean {
  const c = instanceCondition(i);
  return c === 'healthy' || c === 'probing';
}

export function trafficSplit(instances: SplitInput[], change: WeightChange | null): SplitRow[] {
  const after = (i: SplitInput) => (change && (change.instanceId === undefined || change.instanceId === i.instanceId) ? change.weight : i.weight);
  const serving = instances.filter(takesTraffic);
  const totalBefore = serving.reduce((n, i) => n + i.weight, 0);
  const totalAfter = serving.reduce((n, i) => n + after(i), 0);
  return instances.map((i) => {
    const on = takesTraffic(i);
    const weightAfter = after(i);
    return {
      instanceId: i.instanceId,
      zone: i.zone,
      weightBefore: i.weight,
      weightAfter,
      shareBefore: on && totalBefore > 0 ? i.weight / totalBefore : 0,
      shareAfter: on && totalAfter > 0 ? weightAfter / totalAfter : 0,
      serving: on,
      changed: weightAfter !== i.weight,
    };
  });
}

/** True when no serving instance would be left with any weight (nothing would take traffic). */
export function nothingServes(rows: SplitRow[]): boolean {
  return rows.filter((r) => r.serving).every((r) => r.weightAfter === 0);
}
