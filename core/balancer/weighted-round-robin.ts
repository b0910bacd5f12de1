/**
 * weighted-round-robin: nginx's smooth weighted round robin. Each pick adds every selectable
 * endpoint's weight to its credit, picks the largest credit (first in id order on a tie) and takes
 * the total weight off the winner. Deterministic; over one cycle (sum of weights picks, for integer
 * weights) each endpoint is picked exactly `weight` times, evenly interleaved: 5:1:1 gives
 * a a b a c a a. O(selectable) per pick, no allocation.
 * The credit of endpoints that stay selectable across an update is kept; newly selectable ones
 * start at 0. No feedback (health is the control plane's business).
 */
import { EndpointSet } from './endpoints.js';
import type { Balancer, Endpoint, PickContext } from './types.js';

export class SmoothWeightedRoundRobinBalancer implements Balancer {
  readonly kind = 'weighted-round-robin' as const;
  private readonly set = new EndpointSet();
  /** Per selectable position: endpoint index, weight, credit. */
  private sel = new Int32Array(0);
  private weight = new Float64Array(0);
  private credit = new Float64Array(0);
  private total = 0;

  update(endpoints: readonly Endpoint[]): void {
    const oldSel = this.sel;
    const oldCredit = this.credit;
    const oldIds = this.set.ids; // replace() swaps in new arrays, never mutates this one
    if (this.set.replace(endpoints) === null) return;
    const carried = new Map<string, number>();
    for (let k = 0; k < oldSel.length; k++) carried.set(oldIds[oldSel[k]!]!, oldCredit[k]!);
    const set = this.set;
    const sel = set.selectable();
    const n = sel.length;
    this.weight = new Float64Array(n);
    this.credit = new Float64Array(n);
    this.total = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      this.weight[k] = set.weights[i]!;
      this.credit[k] = carried.get(set.ids[i]!) ?? 0;
      this.total += set.weights[i]!;
    }
    this.sel = sel;
  }

  pick(_ctx: PickContext): Endpoint | null {
    const n = this.sel.length;
    if (n === 0) return null;
    const weight = this.weight;
    const credit = this.credit;
    let best = 0;
    let bestCredit = -Infinity;
    for (let k = 0; k < n; k++) {
      const c = credit[k]! + weight[k]!;
      credit[k] = c;
      if (c > bestCredit) {
        bestCredit = c;
        best = k;
      }
    }
    credit[best] = bestCredit - this.total;
    return this.set.refs[this.sel[best]!]!;
  }

  onStart(_id: string, _now: number): void {}

  onEnd(_id: string, _now: number, _latencyMs: number, _ok: boolean): void {}
}
