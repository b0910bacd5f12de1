/**
 * MurmurHash3 (x86, 32-bit) of a string's UTF-8 bytes: the fast non-cryptographic hash behind the
 * ring, the maglev permutations and request keys. Hashing the UTF-8 bytes (lone surrogates become
 * U+FFFD, as TextEncoder does) keeps results equal to any other murmur3 implementation, so keys
 * can be placed outside JavaScript too.
 */

let scratch = new Uint8Array(256);

/** Encodes `text` as UTF-8 into the shared scratch buffer; returns the byte length. */
function encodeUtf8(text: string): number {
  const length = text.length;
  if (scratch.length < length * 3) scratch = new Uint8Array(length * 3);
  const out = scratch;
  let n = 0;
  for (let i = 0; i < length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else if ((c & 0xfc00) === 0xd800 && i + 1 < length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 0x3f);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      if ((c & 0xf800) === 0xd800) c = 0xfffd; // lone surrogate
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

/** MurmurHash3_x86_32 of the UTF-8 encoding of `text`, as an unsigned 32-bit integer. */
export function murmur3(text: string, seed = 0): number {
  const n = encodeUtf8(text);
  const b = scratch;
  let h = seed | 0;
  const blocks = n & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = n & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= b[i + 2]! << 16;
    if (tail >= 2) k ^= b[i + 1]! << 8;
    k ^= b[i]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Seeds that keep the different uses of the hash independent of each other. */
export const SEED_KEY = 0x6d657368; // request key → ring point / table slot
export const SEED_PRIORITY = 0x70726931; // request key → priority level (locality wrapper)
export const SEED_OFFSET = 0x6f666673; // maglev permutation offset
export const SEED_SKIP = 0x736b6970; // maglev permutation skip
