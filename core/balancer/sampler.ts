/**
 * Draws the two candidates of a power-of-two-choices pick in O(1), without allocating.
 *  - All selectable weights equal: two distinct endpoints, uniformly.
 *  - Weights differ: each candidate is drawn proportionally to weight from a Walker/Vose alias
 *    table (built in O(n) on update); the second is redrawn, at most 3 times, while it equals the
 *    first, so with one dominant endpoint it may end up compared with itself.
 */
import type { EndpointSet } from './endpoints.js';
import type { RandomSource } from './types.js';

const REDRAWS = 3;

export class CandidateSampler {
  /** Endpoint indices of the selectable endpoints. */
  private sel = new Int32Array(0);
  private weighted = false;
  private prob = new Float64Array(0);
  private alias = new Int32Array(0);
  /** Results of drawPair(): endpoint indices. */
  first = -1;
  second = -1;

  constructor(private readonly random: RandomSource) {}

  get size(): number {
    return this.sel.length;
  }

  /** True when the selectable endpoints do not all have the same weight. */
  get isWeighted(): boolean {
    return this.weighted;
  }

  /** The endpoint index of the only selectable endpoint (size === 1). */
  only(): number {
    return this.sel[0]!;
  }

  reset(set: EndpointSet): void {
    const sel = set.selectable();
    this.sel = sel;
    const n = sel.length;
    const w0 = n > 0 ? set.weights[sel[0]!]! : 0;
    this.weighted = false;
    for (let i = 1; i < n; i++) if (set.weights[sel[i]!] !== w0) this.weighted = true;
    if (!this.weighted) {
      this.prob = new Float64Array(0);
      this.alias = new Int32Array(0);
      return;
    }
    // Vose's alias method.
    let total = 0;
    for (let i = 0; i < n; i++) total += set.weights[sel[i]!]!;
    const scaled = new Float64Array(n);
    for (let i = 0; i < n; i++) scaled[i] = (set.weights[sel[i]!]! * n) / total;
    const prob = new Float64Array(n);
    const alias = new Int32Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      if (scaled[i]! < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns]!;
      const l = large[--nl]!;
      prob[s] = scaled[s]!;
      alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) small[ns++] = l;
      else large[nl++] = l;
    }
    while (nl > 0) prob[large[--nl]!] = 1;
    while (ns > 0) prob[small[--ns]!] = 1; // only left by rounding error
    for (let i = 0; i < n; i++) alias[i] = sel[alias[i]!]!; // store endpoint indices
    this.prob = prob;
    this.alias = alias;
  }

  /** One endpoint index drawn proportionally to weight (size >= 1). */
  private drawWeighted(): number {
    const n = this.sel.length;
    const r = this.random() * n;
    let i = r | 0;
    if (i >= n) i = n - 1;
    return r - i < this.prob[i]! ? this.sel[i]! : this.alias[i]!;
  }

  /** Draws two candidates into `first` and `second` (size >= 2). */
  drawPair(): void {
    const n = this.sel.length;
    if (!this.weighted) {
      let i = (this.random() * n) | 0;
      if (i >= n) i = n - 1;
      let j = (this.random() * (n - 1)) | 0;
      if (j >= n - 1) j = n - 2;
      if (j >= i) j++;
      this.first = this.sel[i]!;
      this.second = this.sel[j]!;
      return;
    }
    const a = this.drawWeighted();
    let b = this.drawWeighted();
    for (let k = 0; k < REDRAWS && b === a; k++) b = this.drawWeighted();
    this.first = a;
    this.second = b;
  }
}
