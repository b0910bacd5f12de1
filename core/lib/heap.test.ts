import { describe, expect, it } from 'vitest';
import { electronJsFlags, HEAP_GROWING_PERCENT, HOST_NODE_FLAGS, MAIN_SEMI_SPACE_MB, semiSpaceCap, tuneHeap } from './heap.js';

describe('tuneHeap', () => {
  it('sets the old generation growing factor once per process', () => {
    const flags: string[] = [];
    tuneHeap((f) => flags.push(f));
    tuneHeap((f) => flags.push(f));
    expect(flags).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });
});

describe('semiSpaceCap', () => {
  it('is the host flags’ cap when started with them', () => {
    expect(semiSpaceCap(HOST_NODE_FLAGS, undefined)).toBe(MAIN_SEMI_SPACE_MB);
  });

  it('reads the flag in both spellings and forms, from the command line over NODE_OPTIONS', () => {
    expect(semiSpaceCap(['--max_semi_space_size', '8'], undefined)).toBe(8);
    expect(semiSpaceCap([], '--max-old-space-size=512 --max-semi-space-size=2')).toBe(2);
    expect(semiSpaceCap(['--max-semi-space-size=6'], '--max-semi-space-size=2')).toBe(6);
  });

  it('is null without the flag or with a value V8 would not take', () => {
    expect(semiSpaceCap(['--enable-source-maps'], '')).toBeNull();
    expect(semiSpaceCap(['--max-semi-space-size=lots'], undefined)).toBeNull();
    expect(semiSpaceCap(['--max-semi-space-size-extra=4'], undefined)).toBeNull();
  });
});

describe('electronJsFlags', () => {
  it('splits every --js-flags switch of an Electron command line into its V8 flags', () => {
    expect(electronJsFlags(['/opt/Meshdeck/meshdeck', '--js-flags=--max-semi-space-size=4 --expose-gc', '--no-sandbox'])).toEqual([
      '--max-semi-space-size=4',
      '--expose-gc',
    ]);
    expect(semiSpaceCap(electronJsFlags(['/opt/Meshdeck/meshdeck', `--js-flags=${HOST_NODE_FLAGS.join(' ')}`]), undefined)).toBe(MAIN_SEMI_SPACE_MB);
    expect(electronJsFlags(['/opt/Meshdeck/meshdeck'])).toEqual([]);
  });
});
