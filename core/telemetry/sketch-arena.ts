/**
 * Latency sketches being built from many blobs, held as chains of parts in one growable byte
 * array that its owner keeps across windows.
 *
 * Why: the ingest path's long-lived state (failover windows for 10 s, incident cells for 60 s)
 * used to keep each batch's sketch blob — a small Buffer, and the pool slab it sits in — until it
 * was merged. Every scavenge then found those young objects reachable from old state and copied
 * them (1.15 KB promoted per batch). Here a blob's bytes are copied in and the batch keeps
 * nothing alive; the owner keeps two numbers per sketch (its chain's head and part count).
 *
 * A part is a record [previous part + 1: 4 bytes][length: 4 bytes][blob], little-endian; a chain
 * is read from its newest part back. Merging a chain appends the merged blob as a new one-part
 * chain (the old parts stay as dead bytes until reset() or a compaction into a fresh arena).
 */
import { copyBytes, DenseSketch } from './sketch-codec.js';

/** The head of a chain with no part. */
export const NO_CHAIN = -1;
const HEADER = 8;
const MIN_CAPACITY = 256;

let scratch: DenseSketch | null = null;
const dense = (): DenseSketch => (scratch ??= new DenseSketch());

export class SketchArena {
  private bytes: Uint8Array;
  private used = 0;

  constructor(capacity = MIN_CAPACITY) {
    this.bytes = new Uint8Array(Math.max(MIN_CAPACITY, capacity));
  }

  /** Bytes in use (live and dead parts). */
  get size(): number {
    return this.used;
  }

  /** Bytes held. */
  get capacity(): number {
    return this.bytes.length;
  }

  /** Appends blob[from, to) to the chain at `head` (NO_CHAIN: a new chain); returns the chain's new head. */
  add(head: number, blob: Uint8Array, from = 0, to = blob.length): number {
    const len = to - from;
    const at = this.used;
    if (at + HEADER + len > this.bytes.length) this.grow(at + HEADER + len);
    const b = this.bytes;
    writeU32(b, at, head + 1);
    writeU32(b, at + 4, len);
    copyBytes(blob, from, to, b, at + HEADER);
    this.used = at + HEADER + len;
    return at;
  }

  /** Adds every part of the chain at `head` to `sketch`. */
  addTo(sketch: DenseSketch, head: number): void {
    const b = this.bytes;
    if (head >= this.used) throw new RangeError(`sketch chain head ${head} past the arena's ${this.used} bytes (a head kept across reset()?)`);
    for (let at = head; at !== NO_CHAIN; ) {
      const from = at + HEADER;
      sketch.addBlob(b, from, from + readU32(b, at + 4));
      // Parts point back to older ones only: anything else is a stale head, and would loop.
      const prev = readU32(b, at) - 1;
      if (prev >= at) throw new RangeError(`sketch chain part at ${at} points forward to ${prev} (a head kept across reset()?)`);
      at = prev;
    }
  }

  /** The chain at `head` as one part at the end of this arena (the head itself when it is one part already). */
  merge(head: number): number {
    if (head === NO_CHAIN || readU32(this.bytes, head) === 0) return head;
    return this.add(NO_CHAIN, this.blob(head)!);
  }

  /**
   * The chain's merged sketch as a blob of its own (null: no part): a Buffer from Node's pool, as
   * the codec's own blobs are, not a slice with an ArrayBuffer of its own (the failover sweep
   * takes tens of thousands a second and keeps them for its 10 intervals: an ArrayBuffer each
   * cost the collector about a tenth of the sweep, `npm run bench:failover-tick`).
   */
  blob(head: number): Uint8Array | null {
    if (head === NO_CHAIN) return null;
    if (head < this.used && readU32(this.bytes, head) === 0) {
      const from = head + HEADER;
      const to = from + readU32(this.bytes, head + 4);
      const out = Buffer.allocUnsafe(to - from);
      copyBytes(this.bytes, from, to, out, 0);
      return out;
    }
    const d = dense();
    d.reset();
    this.addTo(d, head);
    const blob = d.toBlob();
    d.reset();
    return blob;
  }

  /** Copies the chain at `head`, merged into one part, into `to`; returns its head there. */
  moveTo(to: SketchArena, head: number): number {
    if (head === NO_CHAIN) return NO_CHAIN;
    const b = this.bytes;
    if (readU32(b, head) === 0) return to.add(NO_CHAIN, b, head + HEADER, head + HEADER + readU32(b, head + 4));
    return to.add(NO_CHAIN, this.blob(head)!);
  }

  /** A copy holding exactly the bytes in use (chain heads stay valid in it): what a finished arena keeps. */
  trimmed(): SketchArena {
    const copy = new SketchArena();
    copy.bytes = this.bytes.slice(0, this.used);
    copy.used = this.used;
    return copy;
  }

  /** Forgets every chain; keeps the room, unless the last use needed under a quarter of it. */
  reset(): void {
    if (this.bytes.length > MIN_CAPACITY * 4 && this.used < this.bytes.length / 4) this.bytes = new Uint8Array(this.bytes.length / 2);
    this.used = 0;
  }

  private grow(need: number): void {
    const next = new Uint8Array(Math.max(need, this.bytes.length * 2));
    next.set(this.bytes.subarray(0, this.used));
    this.bytes = next;
  }
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}
