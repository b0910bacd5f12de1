import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RecentBatchIds, idHash } from './batch-dedupe.js';
import { heapInUse } from './test-support.js';

describe('RecentBatchIds', () => {
  it('sees an id once per instance, within the last ids of that instance', () => {
    const ids = new RecentBatchIds(3);
    expect(ids.firstSeen('a', '1', 'x')).toBe(true);
    expect(ids.firstSeen('a', '1', 'x')).toBe(false);
    // Another instance has its own ids, and so has the same instance id in another service.
    expect(ids.firstSeen('a', '2', 'x')).toBe(true);
    expect(ids.firstSeen('b', '1', 'x')).toBe(true);
    for (const id of ['y', 'z']) expect(ids.firstSeen('a', '1', id)).toBe(true);
    // x is still among the last 3 of a/1 …
    expect(ids.firstSeen('a', '1', 'x')).toBe(false);
    // … until a fourth id pushes it out.
    expect(ids.firstSeen('a', '1', 'w')).toBe(true);
    expect(ids.firstSeen('a', '1', 'x')).toBe(true);
    // The ring goes on: now w, x are the last with z before them; y was pushed out.
    expect(ids.firstSeen('a', '1', 'z')).toBe(false);
    expect(ids.firstSeen('a', '1', 'y')).toBe(true);
  });

  it('forgets the instance heard from least recently when full', () => {
    const ids = new RecentBatchIds(4, 2);
    ids.firstSeen('a', 'a-1', '1');
    ids.firstSeen('b', 'b-1', '1');
    ids.firstSeen('a', 'a-1', '2'); // a heard again: b is now the oldest
    ids.firstSeen('c', 'c-1', '1');
    expect(ids.instances).toBe(2);
    expect(ids.firstSeen('a', 'a-1', '1')).toBe(false);
    expect(ids.firstSeen('b', 'b-1', '1')).toBe(true);
  });

  it('tells 200 000 different UUIDs apart, and the same id again at once', () => {
    const ids = new RecentBatchIds(16);
    const hashes = new Set<number>();
    for (let i = 0; i < 200_000; i++) {
      const id = randomUUID();
      hashes.add(idHash(id));
      expect(ids.firstSeen('svc', 'svc-0', id)).toBe(true);
      if (i % 1000 === 0) expect(ids.firstSeen('svc', 'svc-0', id)).toBe(false);
    }
    // Every hash distinct (52 bits: a collision among 200 000 has odds of about 1 in 10^6).
    expect(hashes.size).toBe(200_000);
    expect(idHash('a')).not.toBe(idHash('b'));
    expect(Number.isSafeInteger(idHash(randomUUID()))).toBe(true);
  });

  it('keeps under 600 bytes per instance with 16 UUIDs each, not the ids themselves', () => {
    const before = heapInUse();
    const ids = new RecentBatchIds(16);
    for (let n = 0; n < 10_000; n++) for (let k = 0; k < 16; k++) ids.firstSeen(`svc-${n % 1000}`, `svc-${n % 1000}-${n}`, randomUUID());
    const perInstance = (heapInUse() - before) / 10_000;
    console.log(`batch ids: ${perInstance.toFixed(0)} B per instance (16 ids each)`);
    expect(ids.instances).toBe(10_000);
    // The instance-id keys and Maps are counted too (~460 B in all); with the ids kept as strings
    // the same took 3 833 B per instance.
    expect(perInstance).toBeLessThan(600);
  });
});

