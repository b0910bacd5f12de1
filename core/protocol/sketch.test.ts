import { describe, expect, it } from 'vitest';
import { SketchWireSchema } from './messages.js';
import {
  bucketIndex,
  bucketValue,
  LatencySketch,
  SKETCH_GAMMA,
  SKETCH_MAX_INDEX,
  SKETCH_MIN_MS,
  SKETCH_RELATIVE_ACCURACY,
} from './sketch.js';
import { mulberry32 } from '../balancer/random.js';

/** The project's seeded PRNG (mulberry32), so runs are repeatable. */
const prng = mulberry32;

function normal(random: () => number): number {
  // Box-Muller; 1 - u keeps log away from 0.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const samplers: Record<string, (random: () => number) => number> = {
  'uniform 0.5-500 ms': (r) => 0.5 + r() * 499.5,
  'log-normal (median 20 ms, sigma 1)': (r) => 20 * Math.exp(normal(r)),
  'bimodal (cache hits ~2 ms, misses ~180 ms)': (r) => (r() < 0.7 ? 2 * Math.exp(0.2 * normal(r)) : 180 * Math.exp(0.3 * normal(r))),
};

/** The same rank rule as the sketch: the element at floor(q · (n − 1)) of the sorted sample. */
function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))] as number;
}

const QUANTILES = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];
// Float rounding at bucket edges may add a few ulps to the 1 % bound.
const TOLERANCE = SKETCH_RELATIVE_ACCURACY * (1 + 1e-9);

describe('LatencySketch accuracy', () => {
  it.each(Object.keys(samplers))('%s: every quantile within 1 percent of the exact one', (name) => {
    const sample = samplers[name] as (random: () => number) => number;
    const random = prng(name.length * 7919);
    const values = Array.from({ length: 50_000 }, () => sample(random));
    const sketch = new LatencySketch();
    for (const v of values) sketch.add(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of QUANTILES) {
      const exact = exactQuantile(sorted, q);
      const estimate = sketch.quantile(q);
      expect(estimate).not.toBeNull();
      expect(Math.abs((estimate as number) - exact) / exact, `q=${q}: exact ${exact}, sketch ${estimate}`).toBeLessThanOrEqual(TOLERANCE);
    }
    expect(sketch.count).toBe(values.length);
  });

  it('represents any single value within 1 % across twelve orders of magnitude', () => {
    const random = prng(12);
    for (let n = 0; n < 20_000; n++) {
      const v = 10 ** (-2.9 + random() * 12); // 0.00126 ms .. 1.26e9 ms
      const r = bucketValue(bucketIndex(v));
      expect(Math.abs(r - v) / v).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('uses DDSketch bucket boundaries: bucket i holds (γ^(i-1), γ^i]', () => {
    expect(SKETCH_GAMMA).toBeCloseTo(1.01 / 0.99, 15);
    expect(bucketIndex(1)).toBe(0);
    expect(bucketIndex(SKETCH_GAMMA * 1.0000001)).toBe(2);
    expect(bucketIndex(SKETCH_GAMMA * 0.9999999)).toBe(1);
    // The worked example in docs/protocol.md.
    expect(bucketIndex(12.3)).toBe(126);
    expect(bucketValue(126)).toBeCloseTo(12.3, 0);
    expect(Math.abs(bucketValue(126) - 12.3) / 12.3).toBeLessThan(SKETCH_RELATIVE_ACCURACY);
    expect(bucketIndex(0.5)).toBe(-34);
    expect(bucketIndex(1000)).toBe(346);
  });

  it('clamps absurd finite values into the top bucket so the wire form stays valid', () => {
    const sketch = new LatencySketch();
    sketch.add(Number.MAX_VALUE);
    sketch.add(1e300);
    expect(sketch.toWire()).toEqual({ zero: 0, buckets: [[SKETCH_MAX_INDEX, 2]] });
    expect(SketchWireSchema.safeParse(sketch.toWire()).success).toBe(true);
  });
});

describe('the worked example of docs/protocol.md §7', () => {
  it('computes the documented indices, values and merge', () => {
    expect(Math.log(SKETCH_GAMMA)).toBeCloseTo(0.020000666706669435, 15);
    expect(bucketValue(126)).toBeCloseTo(12.3053, 4);
    expect(bucketValue(125) * (1 + SKETCH_GAMMA) / 2).toBeCloseTo(12.1835, 4); // γ^125
    expect(bucketValue(126) * (1 + SKETCH_GAMMA) / 2).toBeCloseTo(12.4296, 4); // γ^126
    const s = new LatencySketch();
    for (const v of [12.3, 12.35, 0.0008, 500]) s.add(v);
    expect(s.toWire()).toEqual({ zero: 1, buckets: [[126, 2], [311, 1]] });
    s.mergeWire({ zero: 0, buckets: [[126, 5], [140, 1]] });
    expect(s.toWire()).toEqual({ zero: 1, buckets: [[126, 7], [140, 1], [311, 1]] });
    expect(s.quantile(0.5)).toBeCloseTo(12.31, 2);
    // Smallest index above SKETCH_MIN_MS, and the top of the wire range.
    expect(bucketIndex(SKETCH_MIN_MS * (1 + 1e-9))).toBe(-345);
    expect(bucketValue(SKETCH_MAX_INDEX)).toBeGreaterThan(2.3e17);
  });
});

describe('LatencySketch merge', () => {
  it('merging two sketches equals one sketch of the union', () => {
    const random = prng(99);
    const a = new LatencySketch();
    const b = new LatencySketch();
    const union = new LatencySketch();
    for (let n = 0; n < 20_000; n++) {
      const v = (samplers['log-normal (median 20 ms, sigma 1)'] as (r: () => number) => number)(random);
      const target = random() < 0.4 ? a : b;
      target.add(v);
      union.add(v);
    }
    for (let n = 0; n < 50; n++) {
      (n % 2 ? a : b).add(0);
      union.add(0);
    }
    const merged = new LatencySketch();
    merged.merge(a);
    merged.merge(b);
    expect(merged.toWire()).toEqual(union.toWire());
    expect(merged.count).toBe(union.count);
    expect(merged.sum).toBeCloseTo(union.sum, 6);
    for (const q of QUANTILES) expect(merged.quantile(q)).toBe(union.quantile(q));

    // Merging wire forms (what the core does with telemetry) gives the same result.
    const fromWire = LatencySketch.fromWire(a.toWire());
    fromWire.mergeWire(b.toWire());
    expect(fromWire.toWire()).toEqual(union.toWire());
    expect(fromWire.count).toBe(union.count);
  });

  it('merge order does not matter', () => {
    const random = prng(5);
    const parts = Array.from({ length: 5 }, () => {
      const s = new LatencySketch();
      for (let n = 0; n < 1000; n++) s.add(random() * 300);
      return s;
    });
    const forward = new LatencySketch();
    const backward = new LatencySketch();
    for (const p of parts) forward.merge(p);
    for (const p of [...parts].reverse()) backward.merge(p);
    expect(forward.toWire()).toEqual(backward.toWire());
  });

  it('merging an empty sketch changes nothing', () => {
    const s = new LatencySketch();
    s.add(12.3);
    s.merge(new LatencySketch());
    s.mergeWire({ zero: 0, buckets: [] });
    expect(s.toWire()).toEqual({ zero: 0, buckets: [[126, 1]] });
    expect(s.count).toBe(1);
  });

  it('the percentile of a merge is not the average of percentiles', () => {
    const fast = new LatencySketch();
    const slow = new LatencySketch();
    for (let n = 0; n < 990; n++) fast.add(10);
    for (let n = 0; n < 10; n++) slow.add(1000);
    const merged = new LatencySketch();
    merged.merge(fast);
    merged.merge(slow);
    // p50 of the union is ~10 ms; the mean of the two p50s would be ~505 ms.
    expect(merged.quantile(0.5)).toBeCloseTo(10, -1);
  });
});

describe('LatencySketch wire form', () => {
  it('toWire / fromWire round trip', () => {
    const random = prng(7);
    const s = new LatencySketch();
    for (let n = 0; n < 5000; n++) s.add(random() < 0.01 ? 0 : Math.exp(random() * 8));
    const wire = s.toWire();
    expect(SketchWireSchema.safeParse(wire).success).toBe(true);
    const back = LatencySketch.fromWire(JSON.parse(JSON.stringify(wire)));
    expect(back.toWire()).toEqual(wire);
    expect(back.count).toBe(s.count);
    for (const q of QUANTILES) expect(back.quantile(q)).toBe(s.quantile(q));
  });

  it('lists buckets by ascending index with positive integer counts', () => {
    const s = new LatencySketch();
    for (const v of [500, 0.01, 12.3, 12.31, 3, 500, 500]) s.add(v);
    const wire = s.toWire();
    const indices = wire.buckets.map(([i]) => i);
    expect(indices).toEqual([...indices].sort((x, y) => x - y));
    expect(new Set(indices).size).toBe(indices.length);
    for (const [, c] of wire.buckets) expect(Number.isInteger(c) && c > 0).toBe(true);
    expect(wire.buckets.reduce((sum, [, c]) => sum + c, 0) + wire.zero).toBe(7);
  });

  it('fromWire accepts buckets in any order', () => {
    const s = LatencySketch.fromWire({ zero: 1, buckets: [[200, 2], [-5, 1], [100, 3]] });
    expect(s.toWire()).toEqual({ zero: 1, buckets: [[-5, 1], [100, 3], [200, 2]] });
    expect(s.count).toBe(7);
  });
});

describe('LatencySketch edge cases', () => {
  it('empty sketch: quantile is null', () => {
    const s = new LatencySketch();
    expect(s.quantile(0.5)).toBeNull();
    expect(s.quantile(0)).toBeNull();
    expect(s.count).toBe(0);
    expect(s.toWire()).toEqual({ zero: 0, buckets: [] });
  });

  it('values at or below SKETCH_MIN_MS go to the zero bucket and read back as 0', () => {
    const s = new LatencySketch();
    s.add(0);
    s.add(-0);
    s.add(SKETCH_MIN_MS);
    s.add(SKETCH_MIN_MS / 10);
    expect(s.toWire()).toEqual({ zero: 4, buckets: [] });
    expect(s.quantile(1)).toBe(0);
    s.add(SKETCH_MIN_MS * 1.5);
    expect(s.toWire().zero).toBe(4);
    expect(s.toWire().buckets).toHaveLength(1);
    expect(s.quantile(0.5)).toBe(0);
    expect(Math.abs((s.quantile(1) as number) / (SKETCH_MIN_MS * 1.5) - 1)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('ignores negative, NaN and infinite values', () => {
    const s = new LatencySketch();
    for (const v of [-1, -0.0001, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -Number.MAX_VALUE]) s.add(v);
    expect(s.count).toBe(0);
    expect(s.sum).toBe(0);
    expect(s.toWire()).toEqual({ zero: 0, buckets: [] });
    s.add(5);
    expect(s.count).toBe(1);
    expect(s.quantile(0.99)).toBeCloseTo(5, 1);
  });

  it('add with a count weighs the value; zero, negative or fractional counts are ignored', () => {
    const s = new LatencySketch();
    s.add(10, 3);
    s.add(100, 1);
    expect(s.count).toBe(4);
    expect(s.quantile(0.5)).toBeCloseTo(10, 0);
    s.add(50, 0);
    s.add(50, -2);
    s.add(50, 1.5);
    s.add(50, Number.NaN);
    expect(s.count).toBe(4);
    expect(SketchWireSchema.safeParse(s.toWire()).success).toBe(true);
    expect(s.toWire().buckets.map(([i]) => i)).toEqual([bucketIndex(10), bucketIndex(100)]);
  });

  it('clamps q outside [0, 1] to the extremes', () => {
    const s = new LatencySketch();
    for (const v of [1, 2, 3, 4, 5]) s.add(v);
    expect(s.quantile(-1)).toBe(s.quantile(0));
    expect(s.quantile(2)).toBe(s.quantile(1));
    expect(s.quantile(1)).toBeCloseTo(5, 1);
  });

  it('clear empties the sketch', () => {
    const s = new LatencySketch();
    s.add(3);
    s.add(0);
    s.clear();
    expect(s.count).toBe(0);
    expect(s.sum).toBe(0);
    expect(s.quantile(0.5)).toBeNull();
    expect(s.toWire()).toEqual({ zero: 0, buckets: [] });
  });
});
