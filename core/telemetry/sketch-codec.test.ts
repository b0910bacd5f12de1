import { describe, expect, it } from 'vitest';
import { LatencySketch, SKETCH_MAX_INDEX, type SketchWire } from '../protocol/sketch.js';
import { addBlobPart, blobOfParts, decodeSketch, DenseSketch, encodeSketch, MAX_BLOB_PARTS, mergeSketchBlobs, quantilesOfParts, readSketchBlob, sketchBlobOf } from './sketch-codec.js';
import { logNormal, prng } from './test-support.js';

function sketchOf(values: number[]): LatencySketch {
  const s = new LatencySketch();
  for (const v of values) s.add(v);
  return s;
}

describe('sketch blobs', () => {
  it('round-trip the wire form exactly, including the zero bucket, extreme indices and huge counts', () => {
    const cases: SketchWire[] = [
      { zero: 0, buckets: [] },
      { zero: 7, buckets: [] },
      { zero: 0, buckets: [[0, 1]] },
      { zero: 3, buckets: [[-SKETCH_MAX_INDEX, 1], [-1, 15], [0, 16], [1, 17], [126, 300], [SKETCH_MAX_INDEX, Number.MAX_SAFE_INTEGER - 1000]] },
      { zero: 2 ** 40, buckets: [[-345, 2 ** 33], [755, 1]] },
    ];
    for (const wire of cases) expect(decodeSketch(encodeSketch(wire))).toEqual(wire);
  });

  it('sort and add up unsorted or repeated buckets', () => {
    expect(decodeSketch(encodeSketch({ zero: 1, buckets: [[5, 2], [3, 1], [5, 3]] }))).toEqual({ zero: 1, buckets: [[3, 1], [5, 5]] });
  });

  it('are compact: one byte per adjacent bucket with a small count, one byte when empty', () => {
    expect(encodeSketch({ zero: 0, buckets: [] })).toHaveLength(1);
    const buckets: Array<[number, number]> = Array.from({ length: 40 }, (_, i) => [120 + i, 1 + (i % 15)]);
    // zero (1) + first bucket (zigzag(120) * 16 + c needs 2 bytes) + 39 one-byte buckets
    expect(encodeSketch({ zero: 0, buckets })).toHaveLength(1 + 2 + 39);
  });

  it('reject truncated or out-of-range blobs instead of looping or inventing buckets', () => {
    const blob = encodeSketch({ zero: 0, buckets: [[10, 20]] });
    expect(() => decodeSketch(blob.subarray(0, blob.length - 1))).toThrow(RangeError);
    expect(() => readSketchBlob(Buffer.from([0, 0xa1, 0xf4, 0x03]) /* zigzag(2001) * 16 + 1 */, () => undefined)).toThrow(/out of range/);
  });

  it('merge like LatencySketch.merge (counts add bucket by bucket)', () => {
    const random = prng(7);
    const a = sketchOf(Array.from({ length: 500 }, () => logNormal(random, 20, 0.6)));
    const b = sketchOf(Array.from({ length: 300 }, () => logNormal(random, 80, 0.3)).concat([0, 0.0005]));
    const merged = new LatencySketch();
    merged.merge(a);
    merged.merge(b);
    expect(decodeSketch(mergeSketchBlobs(encodeSketch(a.toWire()), encodeSketch(b.toWire())))).toEqual(merged.toWire());
    expect(decodeSketch(mergeSketchBlobs(encodeSketch({ zero: 0, buckets: [] }), encodeSketch(b.toWire())))).toEqual(b.toWire());
  });
});

describe('DenseSketch', () => {
  it('reads the same quantiles as LatencySketch, after resets and reuse', () => {
    const random = prng(11);
    const dense = new DenseSketch();
    for (let round = 0; round < 5; round++) {
      const parts = Array.from({ length: 1 + round }, () => sketchOf(Array.from({ length: 50 + round * 100 }, () => logNormal(random, 5 + round * 10, 0.8))));
      const reference = new LatencySketch();
      dense.reset();
      for (const p of parts) {
        reference.merge(p);
        dense.addBlob(encodeSketch(p.toWire()));
      }
      const qs = [0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1];
      expect(dense.quantiles(qs)).toEqual(qs.map((q) => reference.quantile(q)));
      expect(dense.count).toBe(reference.count);
      expect(dense.toWire()).toEqual(reference.toWire());
      expect(decodeSketch(dense.toBlob())).toEqual(reference.toWire());
    }
  });

  it('rejects truncated or out-of-range blobs', () => {
    const blob = encodeSketch({ zero: 0, buckets: [[10, 20], [11, 300]] });
    expect(() => new DenseSketch().addBlob(blob.subarray(0, blob.length - 1))).toThrow(RangeError);
    expect(() => new DenseSketch().addBlob(Buffer.from([0, 0xa1, 0xf4, 0x03]))).toThrow(RangeError);
    expect(() => new DenseSketch().addBlob(encodeSketch({ zero: 0, buckets: [[SKETCH_MAX_INDEX - 1, 1], [SKETCH_MAX_INDEX, 1]] }))).not.toThrow();
  });

  it('reads quantiles asked in any order', () => {
    const dense = new DenseSketch();
    dense.addWire({ zero: 0, buckets: [[1, 1], [2, 1], [3, 1], [4, 1]] });
    const [a, b, c] = [dense.quantile(0), dense.quantile(0.5), dense.quantile(1)];
    expect(dense.quantiles([1, 0, 0.5])).toEqual([c, a, b]);
  });

  it('answers null when empty and 0 inside the zero bucket', () => {
    const dense = new DenseSketch();
    expect(dense.quantiles([0.5, 0.99])).toEqual([null, null]);
    dense.addWire({ zero: 9, buckets: [[100, 1]] });
    expect(dense.quantile(0.5)).toBe(0);
    expect(dense.quantile(1)).toBeCloseTo(2 * (101 / 99) ** 100 / (1 + 101 / 99), 9);
  });
});

describe('sketches kept as blob parts', () => {
  it('hold at most MAX_BLOB_PARTS blobs however many are added, and read back as one sketch fed with every part', () => {
    const random = prng(7);
    const all = new LatencySketch();
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 500; i++) {
      const one = sketchOf(Array.from({ length: 1 + (i % 13) }, () => logNormal(random, 20, 1)));
      all.merge(one);
      addBlobPart(parts, encodeSketch(one.toWire()));
      expect(parts.length).toBeLessThanOrEqual(MAX_BLOB_PARTS);
    }
    expect(decodeSketch(blobOfParts(parts))).toEqual(all.toWire());
    expect(quantilesOfParts(parts, [0.5, 0.99])).toEqual([all.quantile(0.5), all.quantile(0.99)]);
  });

  it('encode a wire sketch once however many consumers ask for its blob', () => {
    const wire = sketchOf([1, 2, 3]).toWire();
    expect(sketchBlobOf(wire)).toBe(sketchBlobOf(wire));
    expect(decodeSketch(sketchBlobOf(wire))).toEqual(wire);
  });
});
