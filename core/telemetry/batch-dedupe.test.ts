import { describe, expect, it } from 'vitest';
import { RecentBatchIds } from './batch-dedupe.js';

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
});
