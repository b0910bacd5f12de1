import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, tuneHeap } from './heap.js';

describe('tuneHeap', () => {
  it('sets the old generation growing factor once per process', () => {
    const flags: string[] = [];
    tuneHeap((f) => flags.push(f));
    tuneHeap((f) => flags.push(f));
    expect(flags).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });
});
