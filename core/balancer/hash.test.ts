import { describe, expect, it } from 'vitest';
import { murmur3 } from './hash.js';
import { mulberry32 } from './random.js';

/** Straightforward MurmurHash3_x86_32 over a byte buffer, the reference for the streaming version. */
function reference(bytes: Buffer, seed: number): number {
  const mix = (k: number) => Math.imul(((Math.imul(k, 0xcc9e2d51) << 15) | (Math.imul(k, 0xcc9e2d51) >>> 17)), 0x1b873593);
  let h = seed >>> 0;
  let i = 0;
  for (; i + 4 <= bytes.length; i += 4) {
    h ^= mix(bytes.readInt32LE(i));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = 0;
    for (let j = rest - 1; j >= 0; j--) k = (k << 8) | bytes[i + j]!;
    h ^= mix(k);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

describe('murmur3', () => {
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['abc', 0, 0xb3dd93fa],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ])('matches the published vector for %j (seed %d)', (text, seed, expected) => {
    expect(murmur3(text, seed)).toBe(expected);
  });

  it('hashes the UTF-8 bytes, including multi-byte characters, astral code points and lone surrogates', () => {
    const random = mulberry32(42);
    const alphabet = ['a', 'Z', '0', '-', 'é', 'ß', '→', '中', '😀', '\ud800', '\udc00', '\u0000', '\u07ff', '\uffff'];
    for (let n = 0; n < 2000; n++) {
      let text = '';
      const length = Math.floor(random() * 40);
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      const seed = (random() * 2 ** 32) >>> 0;
      expect(murmur3(text, seed)).toBe(reference(Buffer.from(text, 'utf8'), seed));
    }
  });

  it('handles long keys (the scratch buffer grows)', () => {
    const text = 'x'.repeat(10_000) + '😀'.repeat(500);
    expect(murmur3(text, 7)).toBe(reference(Buffer.from(text, 'utf8'), 7));
  });
});
