/**
 * Compact binary form of latency sketches for the telemetry history, and a dense accumulator
 * that merges many of them quickly (rollups, query points).
 *
 * Blob format v1 (docs: core/telemetry/README.md), all integers unsigned LEB128 varints:
 *
 *   zero                                  count of the zero bucket
 *   then, per non-empty bucket by ascending index:
 *     v = key * 16 + c                    key: the first bucket: zigzag(index);
 *                                              later ones: index − previous index − 1
 *                                         c: the count if it is 1..15, else 0
 *     [count − 16]                        only when c = 0
 *
 * Adjacent buckets with small counts (the common case at 1 s) take one byte each; the empty
 * sketch is the single byte 0x00. Merging is exact (counts add), so a sketch decoded, merged
 * and re-encoded any number of times reads back the same quantiles as the merged wire sketches.
 */
import { bucketValue, SKETCH_MAX_INDEX, type SketchWire } from '../protocol/sketch.js';

const SPAN = 2 * SKETCH_MAX_INDEX + 1;

// --- varints ---------------------------------------------------------------------------------

/**
 * Copies src[from, to) to dst at `at`: byte by byte when short (blobs and window records mostly
 * are), which makes no view object; a typed-array set() for longer runs.
 */
export function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): void {
  if (to - from < 64) for (let i = from; i < to; i++) dst[at++] = src[i]!;
  else dst.set(src.subarray(from, to), at);
}

/** The writers' shared buffer (a blob is encoded into it, then copied out once), and whether one is using it. */
let shared = new Uint8Array(1024);
let sharedBusy = false;

class Writer {
  private buf: Uint8Array;
  private readonly owns: boolean;
  length = 0;
  constructor(capacity = 64) {
    this.owns = sharedBusy;
    if (!this.owns) {
      sharedBusy = true;
      if (shared.length < capacity) shared = new Uint8Array(Math.max(capacity, shared.length * 2));
    }
    this.buf = this.owns ? new Uint8Array(capacity) : shared;
  }

  varint(value: number): void {
    if (this.length + 8 > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2 + 16);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      if (!this.owns) shared = next;
    }
    // Values up to 2^53: arithmetic, not 32-bit bit operations, above 2^31.
    while (value >= 0x80) {
      this.buf[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.length++] = value;
  }

  /** The blob, in a Buffer of its own (the one allocation of an encoding). */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    copyBytes(this.buf, 0, this.length, out, 0);
    return out;
  }

  /** Done with the shared buffer (after finish(), or on a throw). */
  release(): void {
    if (!this.owns) sharedBusy = false;
  }

  private prev = 0;
  private first = true;

  /** One (index, count) bucket, after the zero count, by ascending index (counts ≤ 0 are skipped). */
  pair(index: number, count: number): void {
    if (count <= 0) return;
    const key = this.first ? zigzag(index) : index - this.prev - 1;
    this.first = false;
    this.prev = index;
    if (count < 16) this.varint(key * 16 + count);
    else {
      this.varint(key * 16);
      this.varint(count - 16);
    }
  }
}

/** A blob: the zero count, then the buckets `write` gives the writer's pair() (called once: no callback per bucket). */
function encodeBlob(zero: number, sizeHint: number, write: (w: Writer) => void): Buffer {
  const w = new Writer(sizeHint);
  try {
    w.varint(zero);
    write(w);
    return w.finish();
  } finally {
    w.release();
  }
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new RangeError('truncated sketch blob');
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError('varint too long in sketch blob');
    }
  }
}

const zigzag = (n: number) => (n >= 0 ? 2 * n : -2 * n - 1);
const unzigzag = (z: number) => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

/** Calls `bucket` for every (index, count) of a blob, ascending, and returns the zero count. */
export function readSketchBlob(blob: Uint8Array, bucket: (index: number, count: number) => void): number {
  const r = new Reader(blob);
  const zero = r.done ? 0 : r.varint();
  let index = 0;
  let first = true;
  while (!r.done) {
    const v = r.varint();
    const key = Math.floor(v / 16);
    const c = v % 16;
    index = first ? unzigzag(key) : index + key + 1;
    first = false;
    if (index > SKETCH_MAX_INDEX || index < -SKETCH_MAX_INDEX) throw new RangeError(`sketch blob index ${index} out of range`);
    bucket(index, c === 0 ? r.varint() + 16 : c);
  }
  return zero;
}

/** Encodes (index, count) pairs given by ascending index. */
function encodePairs(zero: number, each: (emit: (index: number, count: number) => void) => void, sizeHint: number): Buffer {
  return encodeBlob(zero, sizeHint, (w) => each((index, count) => w.pair(index, count)));
}

/** Wire sketch → blob. Buckets in any order; duplicate indices are added. */
export function encodeSketch(wire: SketchWire): Buffer {
  let sorted = wire.buckets;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]![0] <= sorted[i - 1]![0]) {
      const merged = new Map<number, number>();
      for (const [index, count] of wire.buckets) merged.set(index, (merged.get(index) ?? 0) + count);
      sorted = [...merged.entries()].sort((a, b) => a[0] - b[0]);
      break;
    }
  }
  return encodeBlob(wire.zero, 8 + sorted.length * 2, (w) => {
    for (let i = 0; i < sorted.length; i++) w.pair(sorted[i]![0], sorted[i]![1]);
  });
}

// --- blobs on the wire -------------------------------------------------------------------------

/** At most this many buckets in a sketch on the wire (SketchWireSchema's `.max(4096)`). */
export const MAX_WIRE_BUCKETS = 4096;

/**
 * Whether buf[from, to) is exactly one valid sketch blob as a wire sketch must be (what
 * SketchWireSchema accepts): the zero count and every bucket's count a safe integer, indices
 * within ±SKETCH_MAX_INDEX, at most MAX_WIRE_BUCKETS buckets, no byte left over. Indices need no
 * check of their order: the format can only encode them ascending, each once, counts ≥ 1.
 */
export function checkSketchBlob(buf: Uint8Array, from: number, to: number): boolean {
  checkAt = from;
  let index = 0;
  let buckets = 0;
  if (checkAt >= to || checkVarint(buf, to) < 0) return false;
  while (checkAt < to) {
    const v = checkVarint(buf, to);
    if (v < 0 || ++buckets > MAX_WIRE_BUCKETS) return false;
    const key = Math.floor(v / 16);
    index = buckets === 1 ? unzigzag(key) : index + key + 1;
    if (index > SKETCH_MAX_INDEX || index < -SKETCH_MAX_INDEX) return false;
    if (v % 16 === 0) {
      const more = checkVarint(buf, to);
      if (more < 0 || more + 16 > Number.MAX_SAFE_INTEGER) return false;
    }
  }
  return true;
}

/** checkSketchBlob's read position: module state, not a closure per call (the check runs per edge of every batch). */
let checkAt = 0;

/** The varint at checkAt (moved past it), or −1 when it runs past `to`, has over 8 bytes or exceeds 2^53 − 1. */
function checkVarint(buf: Uint8Array, to: number): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (checkAt >= to) return -1;
    const byte = buf[checkAt++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value <= Number.MAX_SAFE_INTEGER ? value : -1;
    scale *= 0x80;
    if (scale > 2 ** 56) return -1;
  }
}

/**
 * A wire sketch that arrived as a blob (binary telemetry, docs/protocol.md §6.4.1): what
 * sketchBlobOf() wants is the blob itself, so `zero` and `buckets` are decoded only when
 * something reads them (once, then kept), and JSON.stringify writes the wire form. The blob must
 * have passed checkSketchBlob(); it is never written to.
 */
export class BlobSketch implements SketchWire {
  private wire: SketchWire | null = null;
  constructor(readonly blob: Buffer) {}

  private decoded(): SketchWire {
    return (this.wire ??= decodeSketch(this.blob));
  }

  get zero(): number {
    return this.decoded().zero;
  }

  get buckets(): Array<[number, number]> {
    return this.decoded().buckets;
  }

  toJSON(): SketchWire {
    return { zero: this.zero, buckets: this.buckets };
  }
}

/** Sketches sketchBlobOf() encoded last, and their blobs: a ring, newest at `recentAt`. */
const RECENT_BLOBS = 64;
const recentWires: Array<SketchWire | null> = new Array<SketchWire | null>(RECENT_BLOBS).fill(null);
const recentBlobs: Array<Buffer | null> = new Array<Buffer | null>(RECENT_BLOBS).fill(null);
let recentAt = 0;

/**
 * encodeSketch() of a wire sketch, once per sketch object: the ingest path hands the same
 * batch edge to the live view, the history, the incident signals and the failover engine, and
 * each wants its blob. Blobs are shared and never written to. The sketches met last are found
 * by identity in a small ring (a batch's edges are asked for by each consumer in turn, so a
 * batch of up to RECENT_BLOBS edges is encoded once); a WeakMap entry per sketch cost more than
 * the encoding it saved.
 */
export function sketchBlobOf(wire: SketchWire): Buffer {
  if (wire instanceof BlobSketch) return wire.blob;
  for (let n = 0, i = recentAt; n < RECENT_BLOBS; n++, i = i === 0 ? RECENT_BLOBS - 1 : i - 1) {
    const w = recentWires[i];
    if (w === wire) return recentBlobs[i]!;
    if (w === null) break;
  }
  const blob = encodeSketch(wire);
  recentAt = recentAt === RECENT_BLOBS - 1 ? 0 : recentAt + 1;
  recentWires[recentAt] = wire;
  recentBlobs[recentAt] = blob;
  return blob;
}

/**
 * A sketch kept as the blobs added to it (shared, not copied), merged into one whenever
 * MAX_BLOB_PARTS pile up: adding is a push, and percentiles read back exactly as from one
 * sketch fed with every part. A few hundred bytes where a LatencySketch holds a Map.
 */
export const MAX_BLOB_PARTS = 8;

export function addBlobPart(parts: Uint8Array[], blob: Uint8Array, maxParts = MAX_BLOB_PARTS): void {
  parts.push(blob);
  if (parts.length < maxParts) return;
  const merged = blobOfParts(parts);
  parts.length = 1;
  parts[0] = merged;
}

let partsScratch: DenseSketch | null = null;

/** The blobs merged into one (the single part as it is). */
export function blobOfParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const dense = (partsScratch ??= new DenseSketch());
  dense.reset();
  for (const part of parts) dense.addBlob(part);
  const blob = dense.toBlob();
  dense.reset();
  return blob;
}

/** Quantiles of the sketch the blobs make together (docs/protocol.md §7, as LatencySketch). */
export function quantilesOfParts(parts: readonly Uint8Array[], qs: readonly number[]): Array<number | null> {
  const dense = (partsScratch ??= new DenseSketch());
  dense.reset();
  for (const part of parts) dense.addBlob(part);
  const out = dense.quantiles(qs);
  dense.reset();
  return out;
}

export function decodeSketch(blob: Uint8Array): SketchWire {
  const buckets: Array<[number, number]> = [];
  const zero = readSketchBlob(blob, (index, count) => buckets.push([index, count]));
  return { zero, buckets };
}

/** Merges two blobs into one (a two-way merge of their sorted buckets): the SQL merge function. */
export function mergeSketchBlobs(a: Uint8Array, b: Uint8Array): Buffer {
  const ia: number[] = [];
  const ca: number[] = [];
  const ib: number[] = [];
  const cb: number[] = [];
  const za = readSketchBlob(a, (i, c) => {
    ia.push(i);
    ca.push(c);
  });
  const zb = readSketchBlob(b, (i, c) => {
    ib.push(i);
    cb.push(c);
  });
  return encodePairs(za + zb, (emit) => {
    let x = 0;
    let y = 0;
    while (x < ia.length || y < ib.length) {
      if (y >= ib.length || (x < ia.length && ia[x]! < ib[y]!)) {
        emit(ia[x]!, ca[x]!);
        x++;
      } else if (x >= ia.length || ib[y]! < ia[x]!) {
        emit(ib[y]!, cb[y]!);
        y++;
      } else {
        emit(ia[x]!, ca[x]! + cb[y]!);
        x++;
        y++;
      }
    }
  }, a.length + b.length + 8);
}

// --- dense accumulator -----------------------------------------------------------------------

/**
 * A sketch as a dense array over the whole index range: adding a blob is a decode loop with
 * array additions, and one object can be reset (only the touched range) and reused for every
 * point of a query. Quantiles follow docs/protocol.md §7 exactly like LatencySketch.
 */
export class DenseSketch {
  private readonly counts = new Float64Array(SPAN);
  private lo = SPAN;
  private hi = -1;
  private zero = 0;
  private total = 0;
  private readonly addBucket = (index: number, count: number) => {
    const k = index + SKETCH_MAX_INDEX;
    this.counts[k]! += count;
    if (k < this.lo) this.lo = k;
    if (k > this.hi) this.hi = k;
    this.total += count;
  };

  get count(): number {
    return this.total;
  }

  reset(): void {
    if (this.hi >= this.lo) this.counts.fill(0, this.lo, this.hi + 1);
    this.lo = SPAN;
    this.hi = -1;
    this.zero = 0;
    this.total = 0;
  }

  /** Adds a blob, or the one in blob[from, to) (decoded inline: this is the hot loop of rollups and queries). */
  addBlob(blob: Uint8Array, from = 0, to = blob.length): void {
    const len = to;
    if (len <= from) return;
    const counts = this.counts;
    let pos = from;
    let byte = blob[pos++]!;
    let zero = byte & 0x7f;
    for (let scale = 0x80; byte >= 0x80; scale *= 0x80) {
      byte = blob[pos++]!;
      zero += (byte & 0x7f) * scale;
    }
    let total = zero;
    let k = 0;
    let firstK = 0;
    let any = false;
    while (pos < len) {
      byte = blob[pos++]!;
      let v = byte & 0x7f;
      for (let scale = 0x80; byte >= 0x80; scale *= 0x80) {
        byte = blob[pos++]!;
        v += (byte & 0x7f) * scale;
      }
      const key = Math.floor(v / 16);
      let count = v % 16;
      if (!any) {
        k = (key % 2 === 0 ? key / 2 : -(key + 1) / 2) + SKETCH_MAX_INDEX;
        firstK = k;
        any = true;
      } else k += key + 1;
      if (count === 0) {
        byte = blob[pos++]!;
        count = byte & 0x7f;
        for (let scale = 0x80; byte >= 0x80; scale *= 0x80) {
          byte = blob[pos++]!;
          count += (byte & 0x7f) * scale;
        }
        count += 16;
      }
      if (k >= SPAN) break;
      counts[k] = counts[k]! + count;
      total += count;
    }
    // Indices ascend within a blob: the first and last bound what was touched.
    if (pos > len || k >= SPAN || firstK < 0) throw new RangeError('corrupt sketch blob (truncated or index out of range)');
    if (any) {
      if (firstK < this.lo) this.lo = firstK;
      if (k > this.hi) this.hi = k;
    }
    this.zero += zero;
    this.total += total;
  }

  addWire(wire: SketchWire): void {
    for (const [index, count] of wire.buckets) this.addBucket(index, count);
    this.zero += wire.zero;
    this.total += wire.zero;
  }

  addSketch(other: DenseSketch): void {
    for (let k = other.lo; k <= other.hi; k++) {
      const c = other.counts[k]!;
      if (c > 0) this.addBucket(k - SKETCH_MAX_INDEX, c);
    }
    this.zero += other.zero;
    this.total += other.zero;
  }

  /** q in [0, 1]; null when empty. */
  quantile(q: number): number | null {
    return this.quantiles([q])[0] ?? null;
  }

  /** Several quantiles in one walk over the buckets. */
  quantiles(qs: readonly number[]): Array<number | null> {
    for (let j = 1; j < qs.length; j++) {
      if (qs[j]! < qs[j - 1]!) {
        const order = qs.map((q, index) => ({ q, index })).sort((a, b) => a.q - b.q);
        const sorted = this.quantiles(order.map((o) => o.q));
        const out: Array<number | null> = new Array<number | null>(qs.length);
        order.forEach((o, j2) => (out[o.index] = sorted[j2]!));
        return out;
      }
    }
    const out: Array<number | null> = new Array<number | null>(qs.length).fill(null);
    if (this.total === 0) return out;
    let i = 0;
    const last = this.total - 1;
    const ranks = qs.map((q) => Math.max(0, Math.min(last, Math.floor(Math.min(1, Math.max(0, q)) * last))));
    while (i < qs.length && ranks[i]! < this.zero) out[i++] = 0;
    let seen = this.zero;
    let next = ranks[i] ?? Infinity;
    const counts = this.counts;
    for (let k = this.lo; k <= this.hi && i < qs.length; k++) {
      seen += counts[k]!;
      if (seen <= next) continue;
      const value = bucketValue(k - SKETCH_MAX_INDEX);
      while (i < qs.length && seen > ranks[i]!) out[i++] = value;
      next = ranks[i] ?? Infinity;
    }
    return out;
  }

  toBlob(): Buffer {
    return encodeBlob(this.zero, 8 + Math.max(0, this.hi - this.lo + 1) * 2, (w) => {
      const counts = this.counts;
      for (let k = this.lo; k <= this.hi; k++) if (counts[k]! > 0) w.pair(k - SKETCH_MAX_INDEX, counts[k]!);
    });
  }

  toWire(): SketchWire {
    const buckets: Array<[number, number]> = [];
    for (let k = this.lo; k <= this.hi; k++) {
      const c = this.counts[k]!;
      if (c > 0) buckets.push([k - SKETCH_MAX_INDEX, c]);
    }
    return { zero: this.zero, buckets };
  }
}
