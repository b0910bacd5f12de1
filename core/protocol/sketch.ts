/**
 * Latency distributions as mergeable log-bucket sketches (DDSketch's logarithmic mapping).
 *
 * A value v > 0 (milliseconds) falls in bucket i = ceil(log_γ(v)) with γ = (1 + α) / (1 − α),
 * α = 0.01: any quantile read back is within 1 % of the true value. Values ≤ MIN_MS go to the
 * zero bucket. Sketches merge by adding counts bucket by bucket, so percentiles stay correct
 * after aggregation across instances and time windows (never average percentiles).
 *
 * Wire form (documented in docs/protocol.md): { "zero": n, "buckets": [[index, count], ...] }
 * with indices ascending, counts positive integers.
 */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
export const SKETCH_GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(SKETCH_GAMMA);
/** Values at or below this (ms) count in the zero bucket: 1 µs. */
export const SKETCH_MIN_MS = 0.001;

export interface SketchWire {
  zero: number;
  buckets: Array<[number, number]>;
}

/** Bucket indices on the wire stay within ±SKETCH_MAX_INDEX (γ^2000 ≈ 2.3e17 ms); larger values land in the top bucket. */
export const SKETCH_MAX_INDEX = 2000;

export function bucketIndex(valueMs: number): number {
  return Math.min(SKETCH_MAX_INDEX, Math.max(-SKETCH_MAX_INDEX, Math.ceil(Math.log(valueMs) / LOG_GAMMA)));
}

/** The representative value of bucket i: the point whose relative error to both edges is α. */
export function bucketValue(index: number): number {
  return (2 * SKETCH_GAMMA ** index) / (1 + SKETCH_GAMMA);
}

export class LatencySketch {
  private readonly counts = new Map<number, number>();
  private zeroCount = 0;
  private total = 0;
  private sumMs = 0;
  private minMs = Infinity;
  private maxMs = -Infinity;

  static fromWire(wire: SketchWire): LatencySketch {
    const sketch = new LatencySketch();
    sketch.mergeWire(wire);
    return sketch;
  }

  get count(): number {
    return this.total;
  }

  /** Sum of recorded values, only for sketches fed with add() (not carried on the wire). */
  get sum(): number {
    return this.sumMs;
  }

  add(valueMs: number, count = 1): void {
    if (!(valueMs >= 0) || !Number.isFinite(valueMs)) return;
    // Wire counts are positive integers: a 0, negative or fractional count would make toWire() invalid.
    if (!Number.isSafeInteger(count) || count <= 0) return;
    if (valueMs <= SKETCH_MIN_MS) this.zeroCount += count;
    else {
      const i = bucketIndex(valueMs);
      this.counts.set(i, (this.counts.get(i) ?? 0) + count);
    }
    this.total += count;
    this.sumMs += valueMs * count;
    if (valueMs < this.minMs) this.minMs = valueMs;
    if (valueMs > this.maxMs) this.maxMs = valueMs;
  }

  merge(other: LatencySketch): void {
    for (const [i, c] of other.counts) this.counts.set(i, (this.counts.get(i) ?? 0) + c);
    this.zeroCount += other.zeroCount;
    this.total += other.total;
    this.sumMs += other.sumMs;
    this.minMs = Math.min(this.minMs, other.minMs);
    this.maxMs = Math.max(this.maxMs, other.maxMs);
  }

  mergeWire(wire: SketchWire): void {
    for (const [i, c] of wire.buckets) {
      this.counts.set(i, (this.counts.get(i) ?? 0) + c);
      this.total += c;
    }
    this.zeroCount += wire.zero;
    this.total += wire.zero;
  }

  /** q in [0, 1]; null when empty. Within SKETCH_RELATIVE_ACCURACY of the true quantile. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(0, Math.min(this.total - 1, Math.floor(q * (this.total - 1))));
    if (rank < this.zeroCount) return 0;
    let seen = this.zeroCount;
    const indices = [...this.counts.keys()].sort((a, b) => a - b);
    for (const i of indices) {
      seen += this.counts.get(i) ?? 0;
      if (seen > rank) return bucketValue(i);
    }
    return bucketValue(indices.at(-1) ?? 0);
  }

  toWire(): SketchWire {
    const buckets = [...this.counts.entries()].sort((a, b) => a[0] - b[0]);
    return { zero: this.zeroCount, buckets };
  }

  clear(): void {
    this.counts.clear();
    this.zeroCount = 0;
    this.total = 0;
    this.sumMs = 0;
    this.minMs = Infinity;
    this.maxMs = -Infinity;
  }
}
