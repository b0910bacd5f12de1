/**
 * The binary form of `io.meshdeck.telemetry.batch.v1` (docs/protocol.md §6.4.1): the same event,
 * envelope and data, as varints and length-prefixed strings, with each latency sketch as a sketch
 * blob (core/telemetry/sketch-codec.ts) instead of `{ zero, buckets }` JSON. A 3-edge batch is
 * about a third of its JSON size, and the core reads it without JSON.parse and without building a
 * bucket array per sketch: the blobs go to the live view, the history, the incident signals and
 * the failover engine as they are (BlobSketch).
 *
 * Layout (all integers unsigned LEB128 varints of at most 2^53 − 1, strings a varint byte
 * length then UTF-8):
 *
 *   magic        4 bytes  0x4D 0x44 0x54 0x01 ("MDT", layout 1)
 *   id, source   strings
 *   time         varint   ms since the epoch (read back as its RFC 3339 UTC form, .sssZ)
 *   flags        byte     bit 0: a subject follows
 *   [subject]    string
 *   service, instanceId, zone                   strings
 *   windowStart, windowMs                       varints
 *   edge count   varint, then per edge:
 *     flags      byte     bit 0 inbound (else outbound), bit 1 peerInstance, bit 2 refused, bit 3 circuit
 *     peerService, [peerInstance]               strings
 *     requests, http5xx, http4xx, connect, timeout, retries, [refused]   varints
 *     [circuit]  state byte (0 closed, 1 open, 2 half-open), since varint, flags byte (bit 0
 *                until, bit 1 manual), [until varint], rule string, reason string
 *     latency    varint byte length, then the sketch blob
 *   published count varint, then per entry: type, exchange strings, count varint
 *   consumed count  varint, then per entry: flags byte (bit 0 latency), type, queue strings,
 *                   count, failed varints, [latency: varint byte length, sketch blob]
 *
 * and nothing after. What it reads is held to the JSON form's rules by codec.ts: the same
 * hand-written check (telemetry-check.ts) and, for anything refused, zod's reason.
 */
import type { TelemetryBatch } from './messages.js';
import { BlobSketch, checkSketchBlob, sketchBlobOf } from '../telemetry/sketch-codec.js';

export const TELEMETRY_TYPE = 'io.meshdeck.telemetry.batch.v1';
/** The AMQP content type binary telemetry is published with (the decoder goes by the magic bytes). */
export const BINARY_TELEMETRY_CONTENT_TYPE = 'application/vnd.meshdeck.telemetry.v1+binary';
const MAGIC = [0x4d, 0x44, 0x54, 0x01] as const;
const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;

/** Whether `body` starts with the binary telemetry magic (JSON bodies start with `{` or blanks). */
export function isBinaryTelemetry(body: Uint8Array): boolean {
  return body.length >= 4 && body[0] === MAGIC[0] && body[1] === MAGIC[1] && body[2] === MAGIC[2] && body[3] === MAGIC[3];
}

// --- writing ---------------------------------------------------------------------------------

class Out {
  buf = Buffer.allocUnsafe(512);
  at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  byte(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }

  varint(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.at++] = v;
  }

  string(s: string): void {
    const n = Buffer.byteLength(s);
    this.varint(n);
    this.room(n);
    this.at += this.buf.write(s, this.at, 'utf8');
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.at));
  }
}

export interface BinaryEnvelope {
  id: string;
  source: string;
  /** ms since the epoch. */
  time: number;
  subject?: string;
}

/**
 * The binary body of a telemetry batch that is already valid (zod's output, or built from one
 * checked template): no validation here. encodeMeshEvent(…, { encoding: 'binary' }) validates
 * first; the synthetic mesh uses this directly, after one such check.
 */
export function writeBinaryTelemetry(envelope: BinaryEnvelope, batch: TelemetryBatch): Buffer {
  const out = new Out();
  for (const b of MAGIC) out.byte(b);
  out.string(envelope.id);
  out.string(envelope.source);
  out.varint(envelope.time);
  out.byte(envelope.subject !== undefined ? 1 : 0);
  if (envelope.subject !== undefined) out.string(envelope.subject);
  out.string(batch.service);
  out.string(batch.instanceId);
  out.string(batch.zone);
  out.varint(batch.windowStart);
  out.varint(batch.windowMs);
  out.varint(batch.edges.length);
  for (const e of batch.edges) {
    out.byte((e.direction === 'inbound' ? 1 : 0) | (e.peerInstance !== undefined ? 2 : 0) | (e.refused !== undefined ? 4 : 0) | (e.circuit !== undefined ? 8 : 0));
    out.string(e.peerService);
    if (e.peerInstance !== undefined) out.string(e.peerInstance);
    out.varint(e.requests);
    out.varint(e.errors.http5xx);
    out.varint(e.errors.http4xx);
    out.varint(e.errors.connect);
    out.varint(e.errors.timeout);
    out.varint(e.retries);
    if (e.refused !== undefined) out.varint(e.refused);
    if (e.circuit !== undefined) {
      const c = e.circuit;
      out.byte(CIRCUIT_STATES.indexOf(c.state));
      out.varint(c.since);
      out.byte((c.until !== undefined ? 1 : 0) | (c.manual ? 2 : 0));
      if (c.until !== undefined) out.varint(c.until);
      out.string(c.rule);
      out.string(c.reason);
    }
    out.bytes(sketchBlobOf(e.latency));
  }
  out.varint(batch.events.published.length);
  for (const p of batch.events.published) {
    out.string(p.type);
    out.string(p.exchange);
    out.varint(p.count);
  }
  out.varint(batch.events.consumed.length);
  for (const c of batch.events.consumed) {
    out.byte(c.latency !== undefined ? 1 : 0);
    out.string(c.type);
    out.string(c.queue);
    out.varint(c.count);
    out.varint(c.failed);
    if (c.latency !== undefined) out.bytes(sketchBlobOf(c.latency));
  }
  return out.finish();
}

// --- reading ---------------------------------------------------------------------------------

/** A body that does not follow the layout (truncated, a varint too long, bytes left over, a bad blob). */
class Malformed extends Error {}

class In {
  at = 4;
  constructor(readonly buf: Buffer) {}

  byte(): number {
    if (this.at >= this.buf.length) throw new Malformed('truncated');
    return this.buf[this.at++]!;
  }

  varint(): number {
    const buf = this.buf;
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.at >= buf.length) throw new Malformed('truncated');
      const byte = buf[this.at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw new Malformed('a number over 2^53 − 1');
        return value;
      }
      scale *= 0x80;
      if (scale > 2 ** 56) throw new Malformed('a varint over 8 bytes');
    }
  }

  /** A count of items that each take at least `minBytes`: more than the bytes left is malformed (and would allocate). */
  count(minBytes: number): number {
    const n = this.varint();
    if (n * minBytes > this.buf.length - this.at) throw new Malformed('a count larger than the bytes left');
    return n;
  }

  string(): string {
    const n = this.varint();
    const end = this.at + n;
    if (end > this.buf.length) throw new Malformed('truncated');
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end;
    return s;
  }

  skipString(): void {
    const n = this.varint();
    const end = this.at + n;
    if (end > this.buf.length) throw new Malformed('truncated');
    this.at = end;
  }

  /** A sketch blob left where it is, checked: returns where it starts (it ends at `at`). */
  blobStart(): number {
    const n = this.varint();
    const from = this.at;
    const end = from + n;
    if (end > this.buf.length) throw new Malformed('truncated');
    if (!checkSketchBlob(this.buf, from, end)) throw new Malformed('a latency sketch blob that is not valid (docs/protocol.md §7)');
    this.at = end;
    return from;
  }

  sketch(): BlobSketch {
    const from = this.blobStart();
    const blob = Buffer.allocUnsafe(this.at - from);
    this.buf.copy(blob, 0, from, this.at);
    return new BlobSketch(blob);
  }
}

export type BinaryReadResult = { ok: true; envelope: Record<string, unknown>; data: TelemetryBatch } | { ok: false; reason: string };

/**
 * Reads a binary telemetry body (isBinaryTelemetry(body) must hold) into the envelope and the
 * data as the JSON form would have them, latency sketches as BlobSketch. Never throws: a body
 * that breaks the layout comes back as { ok: false, reason }. Nothing is validated beyond the
 * layout and the sketch blobs: codec.ts holds the result to the batch's rules, as for JSON.
 */
export function readBinaryTelemetry(body: Buffer): BinaryReadResult {
  try {
    const r = new In(body);
    const id = r.string();
    const source = r.string();
    const ms = r.varint();
    const flags = r.byte();
    if (flags > 1) throw new Malformed(`envelope flags ${flags}`);
    const subject = flags & 1 ? r.string() : undefined;
    // Dates past year 9999 have no RFC 3339 form: a time the envelope's rule refuses, with its reason.
    const time = ms <= 253_402_300_799_999 ? new Date(ms).toISOString() : `+${ms}`;
    const envelope: Record<string, unknown> = { specversion: '1.0', id, source, type: TELEMETRY_TYPE, time };
    if (subject !== undefined) envelope.subject = subject;
    const service = r.string();
    const instanceId = r.string();
    const zone = r.string();
    const windowStart = r.varint();
    const windowMs = r.varint();
    const edgeCount = r.count(10);
    const edges: TelemetryBatch['edges'] = new Array(edgeCount);
    for (let i = 0; i < edgeCount; i++) {
      const f = r.byte();
      if (f > 15) throw new Malformed(`edge flags ${f}`);
      const peerService = r.string();
      const peerInstance = f & 2 ? r.string() : undefined;
      const requests = r.varint();
      const errors = { http5xx: r.varint(), http4xx: r.varint(), connect: r.varint(), timeout: r.varint() };
      const retries = r.varint();
      const refused = f & 4 ? r.varint() : undefined;
      let circuit: TelemetryBatch['edges'][number]['circuit'];
      if (f & 8) {
        const state = CIRCUIT_STATES[r.byte()];
        if (!state) throw new Malformed('a circuit state other than 0, 1 or 2');
        const since = r.varint();
        const cf = r.byte();
        if (cf > 3) throw new Malformed(`circuit flags ${cf}`);
        const until = cf & 1 ? r.varint() : undefined;
        const rule = r.string();
        const reason = r.string();
        circuit = until !== undefined ? { state, since, until, manual: (cf & 2) !== 0, rule, reason } : { state, since, manual: (cf & 2) !== 0, rule, reason };
      }
      const edge: TelemetryBatch['edges'][number] = { direction: f & 1 ? 'inbound' : 'outbound', peerService, requests, errors, retries, latency: r.sketch() };
      if (peerInstance !== undefined) edge.peerInstance = peerInstance;
      if (refused !== undefined) edge.refused = refused;
      if (circuit !== undefined) edge.circuit = circuit;
      edges[i] = edge;
    }
    const published: TelemetryBatch['events']['published'] = new Array(r.count(3));
    for (let i = 0; i < published.length; i++) published[i] = { type: r.string(), exchange: r.string(), count: r.varint() };
    const consumed: TelemetryBatch['events']['consumed'] = new Array(r.count(5));
    for (let i = 0; i < consumed.length; i++) {
      const cf = r.byte();
      if (cf > 1) throw new Malformed(`consumer flags ${cf}`);
      const entry: TelemetryBatch['events']['consumed'][number] = { type: r.string(), queue: r.string(), count: r.varint(), failed: r.varint() };
      if (cf & 1) entry.latency = r.sketch();
      consumed[i] = entry;
    }
    if (r.at !== body.length) throw new Malformed(`${body.length - r.at} bytes after the batch`);
    return { ok: true, envelope, data: { service, instanceId, zone, windowStart, windowMs, edges, events: { published, consumed } } };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: `binary telemetry body is malformed: ${err.message}` };
    throw err;
  }
}

// --- scanning in place -------------------------------------------------------------------------

/** One edge of a binary batch as BinaryEdgeScanner reads it: overwritten by the next scan. */
export interface ScannedEdge {
  inbound: boolean;
  peerService: string;
  /** null when the edge names none. */
  peerInstance: string | null;
  requests: number;
  http5xx: number;
  http4xx: number;
  connect: number;
  timeout: number;
  retries: number;
  /** Its latency sketch blob: the scanned body's bytes [blobFrom, blobTo). */
  blobFrom: number;
  blobTo: number;
}

/** A ScannedEdge with nothing in it yet. */
export const scannedEdge = (): ScannedEdge => ({
  inbound: false,
  peerService: '',
  peerInstance: null,
  requests: 0,
  http5xx: 0,
  http4xx: 0,
  connect: 0,
  timeout: 0,
  retries: 0,
  blobFrom: 0,
  blobTo: 0,
});

/**
 * Reads what the telemetry history keeps of a binary body, in place: the reporter, the window's
 * start and each edge's counters, peers and the bounds of its latency blob. No object per batch
 * or edge (the edges' records are reused from one scan to the next), no copy of a blob, and the
 * envelope's strings and the events after the edges are not read: the history's worker thread
 * takes 10 000 bodies a second that the main thread already held to the batch's rules
 * (readBinaryTelemetry and codec.ts), and the objects it built for them were most of its garbage.
 * The layout is still checked as far as it is read, and the sketch blobs are checked as
 * readBinaryTelemetry checks them; an edge flag or circuit it skips is checked as there too.
 */
export class BinaryEdgeScanner {
  service = '';
  instanceId = '';
  windowStart = 0;
  /** The first `count` are the last body's edges. */
  readonly edges: ScannedEdge[] = [];
  count = 0;

  /** Scans `body` (isBinaryTelemetry(body) must hold): null, or why it does not follow the layout (then `count` is 0). */
  scan(body: Buffer): string | null {
    this.count = 0;
    try {
      const r = new In(body);
      r.skipString(); // id
      r.skipString(); // source
      r.varint(); // time
      const flags = r.byte();
      if (flags > 1) throw new Malformed(`envelope flags ${flags}`);
      if (flags & 1) r.skipString(); // subject
      this.service = r.string();
      this.instanceId = r.string();
      r.skipString(); // zone
      this.windowStart = r.varint();
      r.varint(); // windowMs
      const edgeCount = r.count(10);
      while (this.edges.length < edgeCount) this.edges.push(scannedEdge());
      for (let i = 0; i < edgeCount; i++) {
        const e = this.edges[i]!;
        const f = r.byte();
        if (f > 15) throw new Malformed(`edge flags ${f}`);
        e.inbound = (f & 1) !== 0;
        e.peerService = r.string();
        e.peerInstance = f & 2 ? r.string() : null;
        e.requests = r.varint();
        e.http5xx = r.varint();
        e.http4xx = r.varint();
        e.connect = r.varint();
        e.timeout = r.varint();
        e.retries = r.varint();
        if (f & 4) r.varint(); // refused
        if (f & 8) {
          if (r.byte() > 2) throw new Malformed('a circuit state other than 0, 1 or 2');
          r.varint(); // since
          const cf = r.byte();
          if (cf > 3) throw new Malformed(`circuit flags ${cf}`);
          if (cf & 1) r.varint(); // until
          r.skipString(); // rule
          r.skipString(); // reason
        }
        e.blobFrom = r.blobStart();
        e.blobTo = r.at;
      }
      this.count = edgeCount;
      return null;
    } catch (err) {
      if (err instanceof Malformed) return `binary telemetry body is malformed: ${err.message}`;
      throw err;
    }
  }
}
