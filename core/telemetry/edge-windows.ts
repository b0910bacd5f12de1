/**
 * Compact storage of one edge's recent windows for LiveEdges: four rings of fixed slots whose
 * records live as bytes in one arena per edge (no object per window):
 *
 *   fine      1 s windows of the last FINE_SECONDS: counters; for the last SKETCH_SECONDS (up to
 *             SKETCH_SECONDS + 9: see below) also the requests per caller instance and the
 *             latency sketch
 *   coarse    10 s blocks behind the fine ring: counters
 *   tens      10 s blocks of latency for the seconds older than that (TEN_SLOTS of them: as far
 *             back as the fine ring's minute)
 *   minute    60 s blocks of latency behind the tens
 *
 * Why the split: a 1 s sketch of an edge's few requests is ~23 bytes, a 10 s one ~82 and a
 * minute's ~104 with the benchmarks' traffic, so a minute of 1 s sketches (1.4 KB an edge) held
 * what six 10 s blocks hold in a third of the bytes; counters stay at 1 s for the minute (a few
 * bytes a window), and at 10 s behind it.
 *
 * A slot's record, after one flag byte all unsigned LEB128 varints:
 *
 *   flags                                                        bit i: counter i is not 0;
 *                                                                bit 7: callers follow
 *   requests http5xx http4xx connect timeout retries refused     the window's counters, those
 *                                                                not 0 only
 *   [n, then n × (caller, count)]                                requests per caller instance
 *                                                                (index into the edge's caller
 *                                                                table; recent 1 s windows only)
 *   then until the record's end: (length, sketch blob)*          latency, as sketch-codec blobs
 *                                                                (in recent 1 s windows, and in
 *                                                                tens and minute blocks, which
 *                                                                hold nothing else)
 *
 * Sketch parts are appended as reports come and merged into one blob once there are
 * MAX_PARTS (and on reads, lazily, into a shared dense sketch): merging adds counts bucket by
 * bucket, so percentiles read back exactly as from one sketch fed with every report.
 *
 * As the fine ring moves on, once every second of a 10 s block is SKETCH_SECONDS old, the block's
 * ten 1 s windows give their sketches, merged into one, to the block's tens slot and drop their
 * callers (they keep their counters): a block at a time, one merge and one write of the tens
 * ring for ten windows, so a 1 s window keeps its sketch for 10 to 19 s. Once the ring moves a
 * minute past a window, its counters go to their 10 s block. A tens block the ring leaves behind
 * goes to its minute. A late report goes where its second's parts are at the time. Blocks older
 * than their ring's reach are dropped.
 */
import { copyBytes, DenseSketch } from './sketch-codec.js';

export const FINE_SECONDS = 60;
/** 1 s windows keep their latency sketch and their callers at least this long (and less than this + 10 s). */
export const SKETCH_SECONDS = 10;
export const COARSE_SECONDS = 10;
export const MINUTE_SECONDS = 60;
/**
 * Slots of the tens ring: the blocks of the fine ring's minute whose windows gave up their
 * sketches (at most 5), so that any span up to a minute reads its latency from 1 s windows and
 * 10 s blocks, never from a minute.
 */
export const TEN_SLOTS = Math.ceil((FINE_SECONDS - SKETCH_SECONDS) / COARSE_SECONDS);
export const COUNTERS = 7;
/** Counter order in a record (and in the `totals` of a read). */
export const REQUESTS = 0;
export const HTTP5XX = 1;
export const HTTP4XX = 2;
export const CONNECT = 3;
export const TIMEOUT = 4;
export const RETRIES = 5;
export const REFUSED = 6;

const MAX_PARTS = 4;
/** Flag bit of a record that counts requests per caller (bits 0–6: which counters are not 0). */
const HAS_CALLERS = 0x80;
const MAX_RECORD = 0xffff;
/** An arena smaller than this doubles when it grows, from 256 bytes (then it grows by an eighth, at most 256 bytes). */
const GROW_DOUBLING_BELOW = 1024;

// --- varints over a growable scratch buffer ----------------------------------------------------

let out = new Uint8Array(1024);
let outLen = 0;

function reserve(n: number): void {
  if (outLen + n <= out.length) return;
  const next = new Uint8Array(Math.max(out.length * 2, outLen + n));
  next.set(out.subarray(0, outLen));
  out = next;
}

function putVarint(value: number): void {
  reserve(8);
  while (value >= 0x80) {
    out[outLen++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[outLen++] = value;
}

function putBytes(bytes: Uint8Array, from: number, to: number): void {
  reserve(to - from);
  copyBytes(bytes, from, to, out, outLen);
  outLen += to - from;
}

let pos = 0;
function getVarint(buf: Uint8Array): number {
  let byte = buf[pos++]!;
  let value = byte & 0x7f;
  for (let scale = 0x80; byte >= 0x80; scale *= 0x80) {
    byte = buf[pos++]!;
    value += (byte & 0x7f) * scale;
  }
  return value;
}

/**
 * One record decoded in place: counters, callers and where its sketch parts lie in `buf`. Typed
 * arrays with counts, reused for every record: resetting a JS array's length to 0 drops its
 * backing store, so arrays refilled per record were a new allocation each time (the largest
 * garbage of live-edge ingest).
 */
interface Decoded {
  counters: Float64Array;
  callers: number;
  callerIds: Float64Array;
  callerCounts: Float64Array;
  parts: number;
  partFrom: Int32Array;
  partTo: Int32Array;
}

const decoded = (): Decoded => ({
  counters: new Float64Array(COUNTERS),
  callers: 0,
  callerIds: new Float64Array(16),
  callerCounts: new Float64Array(16),
  parts: 0,
  partFrom: new Int32Array(MAX_PARTS),
  partTo: new Int32Array(MAX_PARTS),
});
const scratch = decoded();
/** A record moving between rings (trimmed, or leaving the fine or the tens ring), copied out and decoded. */
const leaving = { record: new Uint8Array(256), decoded: decoded() };
const dense = new DenseSketch();

function grown<T extends Float64Array | Int32Array>(a: T, n: number): T {
  if (n < a.length) return a;
  const next = new (a.constructor as new (length: number) => T)(Math.max(n + 1, a.length * 2));
  next.set(a);
  return next;
}

function pushCaller(d: Decoded, id: number, count: number): void {
  if (d.callers >= d.callerIds.length) {
    d.callerIds = grown(d.callerIds, d.callers);
    d.callerCounts = grown(d.callerCounts, d.callers);
  }
  d.callerIds[d.callers] = id;
  d.callerCounts[d.callers] = count;
  d.callers += 1;
}

/** Starts a record in `out`: the flag byte, the counters and the callers of `d`. */
function putHead(d: Decoded): void {
  outLen = 0;
  reserve(1);
  let flags = d.callers ? HAS_CALLERS : 0;
  for (let i = 0; i < COUNTERS; i++) if (d.counters[i]) flags |= 1 << i;
  out[outLen++] = flags;
  for (let i = 0; i < COUNTERS; i++) if (d.counters[i]) putVarint(d.counters[i]!);
  if (d.callers) putVarint(d.callers);
  for (let i = 0; i < d.callers; i++) {
    putVarint(d.callerIds[i]!);
    putVarint(d.callerCounts[i]!);
  }
}

function decode(buf: Uint8Array, from: number, to: number, d: Decoded): void {
  d.counters.fill(0);
  d.callers = 0;
  d.parts = 0;
  if (to <= from) return;
  pos = from;
  const flags = buf[pos++]!;
  for (let i = 0; i < COUNTERS; i++) d.counters[i] = flags & (1 << i) ? getVarint(buf) : 0;
  const n = flags & HAS_CALLERS ? getVarint(buf) : 0;
  for (let i = 0; i < n; i++) {
    const id = getVarint(buf);
    pushCaller(d, id, getVarint(buf));
  }
  while (pos < to) {
    const len = getVarint(buf);
    if (d.parts >= d.partFrom.length) {
      d.partFrom = grown(d.partFrom, d.parts);
      d.partTo = grown(d.partTo, d.parts);
    }
    d.partFrom[d.parts] = pos;
    d.partTo[d.parts] = pos + len;
    d.parts += 1;
    pos += len;
  }
}

/** Sums over a read: counters, requests per caller index, and the merged latency sketch. */
export interface WindowTotals {
  counters: Float64Array;
  callers: Map<number, number>;
  sketch: DenseSketch;
}

export class EdgeWindows {
  /**
   * Newest window index of each ring (seconds, 10 s blocks of counters, 10 s blocks of latency,
   * 60 s blocks). tensNewest is the newest block whose windows gave up their sketches: it follows
   * fineNewest (tensHead()), whether or not the edge reported in it.
   */
  private fineNewest = -Infinity;
  private coarseNewest = -Infinity;
  private tensNewest = -Infinity;
  private minuteNewest = -Infinity;
  /**
   * The records, after a header of each slot's record length (uint16, little-endian; 0 = empty):
   * FINE_SECONDS fine slots, then coarseSlots 10 s ones, TEN_SLOTS tens, minuteSlots 60 s ones.
   * One typed array per edge: a second one for the lengths cost ~300 bytes an edge in its objects alone.
   */
  private data: Uint8Array;
  /** Bytes of `data` in use (the header included). */
  private used: number;
  /** Bytes of the header: 2 per slot. */
  private readonly header: number;
  /** First slot of the tens ring and of the minute ring. */
  private readonly tensAt: number;
  private readonly minuteAt: number;

  constructor(
    private readonly coarseSlots: number,
    private readonly minuteSlots: number,
  ) {
    this.tensAt = FINE_SECONDS + coarseSlots;
    this.minuteAt = this.tensAt + TEN_SLOTS;
    this.header = 2 * (this.minuteAt + minuteSlots);
    this.data = new Uint8Array(this.header);
    this.used = this.header;
  }

  /** Bytes held by the typed array (capacity, not only what is used). */
  get byteLength(): number {
    return this.data.byteLength;
  }

  private length(slot: number): number {
    return this.data[2 * slot]! | (this.data[2 * slot + 1]! << 8);
  }

  /**
   * Adds a report to the 1 s window `second` (epoch seconds): its counters (in record order), the
   * requests of caller table index `caller` (< 0 for none; kept in recent windows only)
   * and its latency as a sketch-codec blob. False when it is too old to keep. (Arguments, not an
   * object: called per edge of every batch.)
   */
  add(second: number, counters: ArrayLike<number>, caller: number, callerCount: number, blob: Uint8Array): boolean {
    if (second > this.fineNewest) this.advanceFine(second);
    if (Math.floor(second / COARSE_SECONDS) > this.tensNewest) {
      this.mergeInto(mod(second, FINE_SECONDS), counters, caller, callerCount, blob, 0, blob.length);
      return true;
    }
    if (second > this.fineNewest - FINE_SECONDS) this.mergeInto(mod(second, FINE_SECONDS), counters, -1, 0, EMPTY, 0, 0);
    else if (!this.addCoarse(Math.floor(second / COARSE_SECONDS), counters)) return false;
    this.addLatency(second, blob, 0, blob.length);
    return true;
  }

  /**
   * Sums the windows that end after `sinceSecond` starts (1 s windows with start ≥ sinceSecond).
   * Counters: a span reaching past the fine ring is answered there from whole 10 s blocks (its old
   * end rounded down to a 10 s boundary). Latency: exact over the windows that still hold their
   * sketches (at least the last SKETCH_SECONDS); a longer span's old end is rounded down to a 10 s
   * boundary while the tens ring holds it (any span up to a minute), to a minute beyond. Returns
   * false when no counters were in the span.
   */
  read(sinceSecond: number, into: WindowTotals, withCallers: boolean): boolean {
    let any = false;
    const fineFrom = this.fineNewest - FINE_SECONDS + 1;
    if (sinceSecond < fineFrom) {
      const firstBlock = Math.floor(sinceSecond / COARSE_SECONDS);
      for (let b = Math.max(firstBlock, this.coarseNewest - this.coarseSlots + 1); b <= this.coarseNewest; b++) {
        any = this.readSlot(FINE_SECONDS + mod(b, this.coarseSlots), into, false) || any;
      }
    }
    const firstTen = Math.floor(sinceSecond / COARSE_SECONDS);
    if (firstTen <= this.tensNewest) {
      const tensFrom = this.tensNewest - TEN_SLOTS + 1;
      for (let b = Math.max(firstTen, tensFrom); b <= this.tensNewest; b++) this.readSlot(this.tensAt + mod(b, TEN_SLOTS), into, false);
      if (firstTen < tensFrom) {
        for (let m = Math.max(Math.floor(sinceSecond / MINUTE_SECONDS), this.minuteNewest - this.minuteSlots + 1); m <= this.minuteNewest; m++) {
          this.readSlot(this.minuteAt + mod(m, this.minuteSlots), into, false);
        }
      }
    }
    for (let s = Math.max(sinceSecond, fineFrom); s <= this.fineNewest; s++) {
      any = this.readSlot(mod(s, FINE_SECONDS), into, withCallers) || any;
    }
    return any;
  }

  /** Caller indices referenced by the fine ring (the ones a caller table must keep). */
  callersInUse(into: Set<number>): void {
    let off = this.header;
    for (let slot = 0; slot < FINE_SECONDS; slot++) {
      const len = this.length(slot);
      if (len) {
        decode(this.data, off, off + len, scratch);
        for (let i = 0; i < scratch.callers; i++) into.add(scratch.callerIds[i]!);
      }
      off += len;
    }
  }

  private readSlot(slot: number, into: WindowTotals, withCallers: boolean): boolean {
    const len = this.length(slot);
    if (!len) return false;
    const off = this.offset(slot);
    decode(this.data, off, off + len, scratch);
    for (let i = 0; i < COUNTERS; i++) into.counters[i]! += scratch.counters[i]!;
    if (withCallers) {
      for (let i = 0; i < scratch.callers; i++) {
        const id = scratch.callerIds[i]!;
        into.callers.set(id, (into.callers.get(id) ?? 0) + scratch.callerCounts[i]!);
      }
    }
    for (let i = 0; i < scratch.parts; i++) into.sketch.addBlob(this.data, scratch.partFrom[i], scratch.partTo[i]);
    return true;
  }

  /**
   * Moves the fine ring on to `second`: the 10 s blocks whose windows are all SKETCH_SECONDS old
   * by then give their sketches to the tens ring (the tens blocks it leaves behind go to their
   * minutes), and the windows the ring passes leave their counters to their 10 s blocks.
   */
  private advanceFine(second: number): void {
    const old = this.fineNewest;
    const head = tensHead(second);
    if (head > this.tensNewest) {
      const from = this.tensNewest + 1;
      // The tens ring first: the blocks trimmed below take their slots, or go to their minutes.
      this.advanceTens(head);
      // The blocks with windows in the ring as it was (at most its minute's).
      if (old > -Infinity) for (let b = Math.max(from, Math.floor((old - FINE_SECONDS + 1) / COARSE_SECONDS)); b <= head && b * COARSE_SECONDS <= old; b++) this.trim(b, old);
    }
    const from = Math.max(old + 1, second - FINE_SECONDS + 1);
    for (let s = from; s <= second; s++) {
      const slot = mod(s, FINE_SECONDS);
      const len = this.length(slot);
      if (!len) continue;
      // The slot holds the second of the ring's last minute that shares its slot with s: it
      // leaves now, with its counters only (its block was trimmed above, or earlier).
      const off = this.offset(slot);
      decode(this.data, off, off + len, leaving.decoded);
      const counters = leaving.decoded.counters;
      this.replace(slot, off, len, 0);
      const held = old - mod(old - s, FINE_SECONDS);
      this.addCoarse(Math.floor(held / COARSE_SECONDS), counters);
    }
    this.fineNewest = second;
  }

  /**
   * The windows of 10 s block `block` in the fine ring (as of its newest second `newest`) give
   * their sketches, merged into one, to the block's tens slot (or its minute, when the tens ring
   * has passed it) and drop their callers; their counters stay.
   */
  private trim(block: number, newest: number): void {
    let any = false;
    for (let s = Math.max(block * COARSE_SECONDS, newest - FINE_SECONDS + 1); s < (block + 1) * COARSE_SECONDS && s <= newest; s++) {
      const slot = mod(s, FINE_SECONDS);
      const len = this.length(slot);
      if (!len) continue;
      const off = this.offset(slot);
      decode(this.data, off, off + len, leaving.decoded);
      const { partFrom, partTo, parts } = leaving.decoded;
      if (parts === 0 && leaving.decoded.callers === 0) continue;
      if (!any) dense.reset();
      any = true;
      for (let i = 0; i < parts; i++) dense.addBlob(this.data, partFrom[i], partTo[i]);
      // Its counters stay: the record rewritten once without its callers and parts.
      leaving.decoded.callers = 0;
      putHead(leaving.decoded);
      this.replace(slot, off, len, outLen, out);
    }
    if (!any || dense.count === 0) return;
    const merged = dense.toBlob();
    dense.reset();
    if (block > this.tensNewest - TEN_SLOTS) this.mergeInto(this.tensAt + mod(block, TEN_SLOTS), ZERO_COUNTERS, -1, 0, merged, 0, merged.length);
    else this.addMinute(Math.floor((block * COARSE_SECONDS) / MINUTE_SECONDS), merged, 0, merged.length);
  }

  /** Moves the tens ring on to block `block`: the blocks it passes go to their minutes. */
  private advanceTens(block: number): void {
    for (let b = Math.max(this.tensNewest + 1, block - TEN_SLOTS + 1); b <= block; b++) {
      const slot = this.tensAt + mod(b, TEN_SLOTS);
      const len = this.length(slot);
      if (!len) continue;
      const off = this.offset(slot);
      if (leaving.record.length < len) leaving.record = new Uint8Array(Math.max(len, leaving.record.length * 2));
      const record = leaving.record;
      copyBytes(this.data, off, off + len, record, 0);
      this.replace(slot, off, len, 0);
      decode(record, 0, len, leaving.decoded);
      // The block that held the slot: tensNewest's ring, b − TEN_SLOTS when it was full.
      const held = this.tensNewest - mod(this.tensNewest - b, TEN_SLOTS);
      const minute = Math.floor((held * COARSE_SECONDS) / MINUTE_SECONDS);
      const { partFrom, partTo, parts } = leaving.decoded;
      for (let i = 0; i < parts; i++) this.addMinute(minute, record, partFrom[i]!, partTo[i]!);
      // The minute's last block: one sketch for the minute.
      if (mod(held, MINUTE_SECONDS / COARSE_SECONDS) === MINUTE_SECONDS / COARSE_SECONDS - 1 && minute > this.minuteNewest - this.minuteSlots) this.compact(this.minuteAt + mod(minute, this.minuteSlots));
    }
    this.tensNewest = block;
  }

  /** A late sketch part of second `second`, whose window gave up its sketch: to its tens block while the ring holds it, else to its minute. */
  private addLatency(second: number, blob: Uint8Array, blobFrom: number, blobTo: number): void {
    if (blobTo <= blobFrom) return;
    const block = Math.floor(second / COARSE_SECONDS);
    if (block > this.tensNewest - TEN_SLOTS) {
      this.mergeInto(this.tensAt + mod(block, TEN_SLOTS), ZERO_COUNTERS, -1, 0, blob, blobFrom, blobTo);
    } else this.addMinute(Math.floor(second / MINUTE_SECONDS), blob, blobFrom, blobTo);
  }

  /** Adds counters to the 10 s block `block`; false when it is older than the ring keeps. */
  private addCoarse(block: number, counters: ArrayLike<number>): boolean {
    if (block > this.coarseNewest) {
      this.clear(FINE_SECONDS, this.coarseSlots, this.coarseNewest, block);
      this.coarseNewest = block;
    }
    if (block <= this.coarseNewest - this.coarseSlots) return false;
    this.mergeInto(FINE_SECONDS + mod(block, this.coarseSlots), counters, -1, 0, EMPTY, 0, 0);
    return true;
  }

  /** Adds a latency part to the 60 s block `minute` (nothing when it is empty or older than the ring keeps). */
  private addMinute(minute: number, blob: Uint8Array, blobFrom: number, blobTo: number): void {
    if (blobTo <= blobFrom) return;
    if (minute > this.minuteNewest) {
      this.clear(this.minuteAt, this.minuteSlots, this.minuteNewest, minute);
      this.minuteNewest = minute;
    }
    if (minute <= this.minuteNewest - this.minuteSlots) return;
    this.mergeInto(this.minuteAt + mod(minute, this.minuteSlots), ZERO_COUNTERS, -1, 0, blob, blobFrom, blobTo);
  }

  /** Empties the slots of the ring at `first` (`slots` of them) that blocks newest+1..to take over. */
  private clear(first: number, slots: number, newest: number, to: number): void {
    for (let b = Math.max(newest + 1, to - slots + 1); b <= to; b++) {
      const slot = first + mod(b, slots);
      const len = this.length(slot);
      if (len) this.replace(slot, this.offset(slot), len, 0);
    }
  }

  /** Adds counters, a caller's requests and a sketch part to the record in `slot`. */
  private mergeInto(slot: number, counters: ArrayLike<number>, caller: number, callerCount: number, blob: Uint8Array, blobFrom: number, blobTo: number): void {
    const len = this.length(slot);
    const off = this.offset(slot);
    decode(this.data, off, off + len, scratch);
    for (let i = 0; i < COUNTERS; i++) scratch.counters[i]! += counters[i]!;
    if (caller >= 0) {
      let at = scratch.callers - 1;
      while (at >= 0 && scratch.callerIds[at] !== caller) at--;
      if (at >= 0) scratch.callerCounts[at]! += callerCount;
      else pushCaller(scratch, caller, callerCount);
    }
    putHead(scratch);
    const headerLen = outLen;
    let partsLen = 0;
    for (let i = 0; i < scratch.parts; i++) partsLen += scratch.partTo[i]! - scratch.partFrom[i]! + 5;
    const newPart = blobTo > blobFrom;
    if (newPart && (scratch.parts + 1 >= MAX_PARTS || headerLen + partsLen + blobTo - blobFrom + 5 > MAX_RECORD)) {
      // Merge the parts and the new one into a single blob.
      dense.reset();
      for (let i = 0; i < scratch.parts; i++) dense.addBlob(this.data, scratch.partFrom[i], scratch.partTo[i]);
      dense.addBlob(blob, blobFrom, blobTo);
      const merged = dense.toBlob();
      dense.reset();
      putVarint(merged.length);
      putBytes(merged, 0, merged.length);
    } else {
      for (let i = 0; i < scratch.parts; i++) {
        putVarint(scratch.partTo[i]! - scratch.partFrom[i]!);
        putBytes(this.data, scratch.partFrom[i]!, scratch.partTo[i]!);
      }
      if (newPart) {
        putVarint(blobTo - blobFrom);
        putBytes(blob, blobFrom, blobTo);
      }
    }
    if (outLen > MAX_RECORD) throw new RangeError(`live window record of ${outLen} bytes`);
    this.replace(slot, off, len, outLen, out);
  }

  /** Merges the sketch parts of the record in `slot` into one blob: a block no more windows come to (but late ones). */
  private compact(slot: number): void {
    const len = this.length(slot);
    if (!len) return;
    const off = this.offset(slot);
    decode(this.data, off, off + len, scratch);
    if (scratch.parts < 2) return;
    dense.reset();
    for (let i = 0; i < scratch.parts; i++) dense.addBlob(this.data, scratch.partFrom[i], scratch.partTo[i]);
    const merged = dense.toBlob();
    dense.reset();
    putHead(scratch);
    putVarint(merged.length);
    putBytes(merged, 0, merged.length);
    this.replace(slot, off, len, outLen, out);
  }

  private offset(slot: number): number {
    let off = this.header;
    for (let i = 0; i < slot; i++) off += this.length(i);
    return off;
  }

  /** Replaces the `len` bytes of `slot` at `off` with the first `newLen` bytes of `bytes`. */
  private replace(slot: number, off: number, len: number, newLen: number, bytes?: Uint8Array): void {
    const delta = newLen - len;
    const need = this.used + delta;
    // Sized by the records' bytes, the header aside.
    const records = need - this.header;
    const room = this.data.length - this.header;
    if (records > room || (room > 64 && records < room / 4)) {
      // Room for a few more records while the rings fill (a new array per report otherwise, the
      // largest cost of ingest while they do); full rings keep at most 256 bytes spare.
      const next = new Uint8Array(this.header + (records === 0 ? 0 : records < GROW_DOUBLING_BELOW ? Math.max(256, 2 * records) : records + Math.min(256, records >> 3)));
      next.set(this.data.subarray(0, off));
      next.set(this.data.subarray(off + len, this.used), off + newLen);
      this.data = next;
    } else if (delta !== 0) this.data.copyWithin(off + newLen, off + len, this.used);
    if (bytes && newLen) copyBytes(bytes, 0, newLen, this.data, off);
    this.used = need;
    this.data[2 * slot] = newLen & 0xff;
    this.data[2 * slot + 1] = newLen >> 8;
  }
}

const ZERO_COUNTERS = new Float64Array(COUNTERS);
const EMPTY = new Uint8Array(0);

/** The newest 10 s block all of whose seconds are SKETCH_SECONDS old when the fine ring's newest second is `newest`. */
export function tensHead(newest: number): number {
  return Math.floor((newest - SKETCH_SECONDS - (COARSE_SECONDS - 1)) / COARSE_SECONDS);
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}
