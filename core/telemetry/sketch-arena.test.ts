import { describe, expect, it } from 'vitest';
import { LatencySketch } from '../protocol/sketch.js';
import { NO_CHAIN, SketchArena } from './sketch-arena.js';
import { decodeSketch, encodeSketch } from './sketch-codec.js';
import { logNormal, prng } from './test-support.js';

function blobOf(values: number[]): Buffer {
  const s = new LatencySketch();
  for (const v of values) s.add(v);
  return encodeSketch(s.toWire());
}

describe('SketchArena', () => {
  it('keeps interleaved chains apart and merges each to exactly the sketch of its parts, through growth, merges and moves', () => {
    const random = prng(3);
    // A small arena: it has to grow many times while chains point into it.
    const arena = new SketchArena(16);
    const chains = 40;
    const heads = new Array<number>(chains).fill(NO_CHAIN);
    const parts = new Array<number>(chains).fill(0);
    const reference = Array.from({ length: chains }, () => new LatencySketch());
    for (let round = 0; round < 30; round++) {
      for (let c = 0; c < chains; c++) {
        if (random() < 0.3) continue;
        const values = Array.from({ length: Math.floor(random() * 20) }, () => logNormal(random, 5 + c, 0.7));
        for (const v of values) reference[c]!.add(v);
        // Given as a slice of a larger buffer, as the decoder hands them out.
        const blob = blobOf(values);
        const body = Buffer.concat([Buffer.from([9, 9, 9]), blob, Buffer.from([7])]);
        heads[c] = arena.add(heads[c]!, body, 3, 3 + blob.length);
        if (++parts[c]! >= 8) {
          heads[c] = arena.merge(heads[c]!);
          parts[c] = 1;
        }
      }
    }
    expect(arena.capacity).toBeGreaterThan(16);
    for (let c = 0; c < chains; c++) {
      if (heads[c] === NO_CHAIN) continue;
      expect(decodeSketch(arena.blob(heads[c]!)!)).toEqual(reference[c]!.toWire());
    }
    // Compaction: every chain moved, merged, into a fresh arena reads the same and takes less room.
    const packed = new SketchArena(16);
    const moved = heads.map((h) => arena.moveTo(packed, h));
    expect(packed.size).toBeLessThan(arena.size);
    for (let c = 0; c < chains; c++) if (moved[c] !== NO_CHAIN) expect(decodeSketch(packed.blob(moved[c]!)!)).toEqual(reference[c]!.toWire());
  });

  it('refuses a head kept across reset() instead of reading stale bytes or looping', () => {
    const arena = new SketchArena();
    arena.add(NO_CHAIN, blobOf([1]));
    const head = arena.add(arena.add(NO_CHAIN, blobOf([2])), blobOf([3]));
    arena.reset();
    expect(() => arena.blob(head)).toThrow(/past the arena/);
    // Refilled past the stale head, whose bytes now read as a part pointing forward: an error, not an endless walk.
    const bytes = new Uint8Array(head - 8 + 9);
    bytes.set([0xff, 0xff, 0, 0, 1, 0, 0, 0, 0], head - 8);
    arena.add(NO_CHAIN, bytes);
    expect(() => arena.blob(head)).toThrow(/points forward/);
  });

  it('has no blob for an empty chain, and merging one part returns it unchanged', () => {
    const arena = new SketchArena();
    expect(arena.blob(NO_CHAIN)).toBeNull();
    expect(arena.merge(NO_CHAIN)).toBe(NO_CHAIN);
    const head = arena.add(NO_CHAIN, blobOf([1, 2, 3]));
    const used = arena.size;
    expect(arena.merge(head)).toBe(head);
    expect(arena.size).toBe(used);
  });

  it('reuses its room after reset, and gives back most of it when a use needed under a quarter', () => {
    const arena = new SketchArena(256);
    const blob = blobOf(Array.from({ length: 200 }, (_, i) => 1 + i));
    for (let i = 0; i < 200; i++) arena.add(NO_CHAIN, blob);
    const grown = arena.capacity;
    arena.reset();
    expect(arena.size).toBe(0);
    expect(arena.capacity).toBe(grown);
    arena.add(NO_CHAIN, blob);
    arena.reset();
    expect(arena.capacity).toBe(grown / 2);
  });
});
