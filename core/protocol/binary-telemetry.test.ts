import { describe, expect, it } from 'vitest';
import { decodeMeshEvent, encodeMeshEvent } from './codec.js';
import { TelemetryBatch, type MeshEvent } from './messages.js';
import { BinaryEdgeScanner, isBinaryTelemetry, readBinaryTelemetry, writeBinaryTelemetry } from './binary-telemetry.js';
import { mulberry32 } from '../balancer/random.js';
import { BlobSketch, encodeSketch, sketchBlobOf } from '../telemetry/sketch-codec.js';
import { SyntheticMesh } from '../telemetry/synthetic-mesh.js';
import { Fuzzer, type Json } from '../../test/support/protocol-fuzz.js';
import { validBatch } from '../../test/support/telemetry-batches.js';

const TYPE = 'io.meshdeck.telemetry.batch.v1';
const SOURCE = 'meshdeck://test/binary';
const TIME = new Date('2025-03-01T09:00:00.123Z');

type Batch = MeshEvent<typeof TYPE>['data'];

/**
 * A valid batch whose sketches list each index once, ascending (the blob's own order: the JSON
 * form accepts any order and repeats, which a blob stores merged, so those compare by their blob).
 */
function canonicalBatch(f: Fuzzer): Batch {
  const raw = validBatch(f);
  const canon = (sketch: Json) => {
    const s = sketch as { buckets: Array<[number, number]> };
    const seen = new Set<number>();
    s.buckets = s.buckets.filter(([i]) => !seen.has(i) && seen.add(i)).sort((a, b) => a[0] - b[0]);
  };
  for (const e of raw.edges as Array<Record<string, Json>>) canon(e.latency!);
  const events = raw.events as { consumed?: Array<Record<string, Json>> } | undefined;
  for (const c of events?.consumed ?? []) if (c.latency) canon(c.latency);
  return TelemetryBatch.parse(raw);
}

/** The event as JSON carries it (BlobSketch writes itself as { zero, buckets }). */
const jsonForm = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

/** What BinaryEdgeScanner reads of a body, as plain values (the blobs as hex). */
function scanned(scanner: BinaryEdgeScanner, body: Buffer) {
  const reason = scanner.scan(body);
  if (reason !== null) return { reason };
  const edges = scanner.edges.slice(0, scanner.count).map((e) => ({ ...e, blob: body.toString('hex', e.blobFrom, e.blobTo), blobFrom: 0, blobTo: 0 }));
  return { service: scanner.service, instanceId: scanner.instanceId, windowStart: scanner.windowStart, edges };
}

/** The same, from the batch the decoder built. */
function kept(batch: Batch) {
  return {
    service: batch.service,
    instanceId: batch.instanceId,
    windowStart: batch.windowStart,
    edges: batch.edges.map((e) => ({
      inbound: e.direction === 'inbound',
      peerService: e.peerService,
      peerInstance: e.peerInstance ?? null,
      requests: e.requests,
      http5xx: e.errors.http5xx,
      http4xx: e.errors.http4xx,
      connect: e.errors.connect,
      timeout: e.errors.timeout,
      retries: e.retries,
      blob: sketchBlobOf(e.latency).toString('hex'),
      blobFrom: 0,
      blobTo: 0,
    })),
  };
}

describe('binary telemetry', () => {
  const scanner = new BinaryEdgeScanner();

  it('2 000 valid batches: binary and JSON bodies decode to the same event, sketches as blobs', () => {
    const f = new Fuzzer(mulberry32(0xb1a7));
    let bytesJson = 0;
    let bytesBinary = 0;
    for (let n = 0; n < 2000; n++) {
      const batch = canonicalBatch(f);
      const options = { source: SOURCE, id: `b-${n}`, time: TIME, ...(n % 3 === 0 ? { subject: `s-${n}` } : {}) };
      const json = encodeMeshEvent(TYPE, batch, options);
      const binary = encodeMeshEvent(TYPE, batch, { ...options, encoding: 'binary' });
      expect(isBinaryTelemetry(binary)).toBe(true);
      expect(isBinaryTelemetry(json)).toBe(false);
      bytesJson += json.length;
      bytesBinary += binary.length;
      const fromJson = decodeMeshEvent(json, [TYPE]);
      const fromBinary = decodeMeshEvent(binary, [TYPE]);
      if (!fromJson.ok || !fromBinary.ok) return expect.fail(`not decoded: ${JSON.stringify([fromJson, fromBinary]).slice(0, 400)}`);
      const { datacontenttype, ...envelope } = fromJson.event as MeshEvent & { datacontenttype?: string };
      expect(datacontenttype).toBe('application/json');
      expect(jsonForm(fromBinary.event)).toStrictEqual(jsonForm(envelope));
      const data = fromBinary.event.data as Batch;
      for (const [i, edge] of data.edges.entries()) {
        expect(edge.latency).toBeInstanceOf(BlobSketch);
        expect(sketchBlobOf(edge.latency)).toEqual(encodeSketch(batch.edges[i]!.latency));
      }
      // The zod-only path reads the same binary body to the same values.
      const slow = decodeMeshEvent(binary, [TYPE], { zodOnly: true });
      expect(slow.ok && jsonForm(slow.event)).toStrictEqual(jsonForm(fromBinary.event));
      // The history's scanner reads what it keeps of the body in place, as the decoder does.
      expect(scanned(scanner, Buffer.from(binary))).toStrictEqual(kept(data));
    }
    // These batches are mostly limits (long names, 2^53 counts); even so the binary form is smaller.
    expect(bytesBinary).toBeLessThan(bytesJson * 0.8);
  });

  it('a synthetic mesh batch (3 edges) is under a third of its JSON size and decodes to the same batch', () => {
    const mesh = new SyntheticMesh({ services: 100, instancesPerService: 10, edgesPerInstance: 3, prefix: 'bin' });
    for (const n of [0, 17, 999]) {
      const json = mesh.body(n, 1_800_000_000_000, `j-${n}`);
      const binary = mesh.binaryBody(n, 1_800_000_000_000, `j-${n}`);
      expect(binary.length).toBeLessThan(json.length / 3);
      const a = decodeMeshEvent(json, [TYPE]);
      const b = decodeMeshEvent(binary, [TYPE]);
      expect(a.ok && b.ok).toBe(true);
      if (a.ok && b.ok) expect(jsonForm(b.event.data)).toStrictEqual(jsonForm(a.event.data));
    }
  });

  it('bytes flipped, cut, inserted and repeated: refused with a reason or held to the schema, never a throw, fast path = zod', () => {
    const f = new Fuzzer(mulberry32(0xb17f11b));
    const outcomes = { ok: 0, malformed: 0, invalid: 0 };
    for (let n = 0; n < 3000; n++) {
      const body = Buffer.from(encodeMeshEvent(TYPE, canonicalBatch(f), { source: SOURCE, id: `m-${n}`, time: TIME, encoding: 'binary' }));
      let bytes: Buffer = body;
      for (let i = 0, passes = 1 + f.int(3); i < passes; i++) {
        const at = 4 + f.int(Math.max(1, bytes.length - 4));
        const op = f.int(5);
        if (op === 0) bytes[at] = f.int(256);
        else if (op === 1) bytes = bytes.subarray(0, at);
        else if (op === 2) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([f.pick([0x00, 0x7f, 0x80, 0xff, 0x41])]), bytes.subarray(at)]);
        else if (op === 3) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(9, 0xff), bytes.subarray(at)]);
        else bytes[at] = bytes[at]! ^ (1 << f.int(8));
      }
      const fast = decodeMeshEvent(bytes, [TYPE]);
      const slow = decodeMeshEvent(bytes, [TYPE], { zodOnly: true });
      expect(jsonForm(fast), bytes.toString('hex').slice(0, 200)).toStrictEqual(jsonForm(slow));
      // The scanner never throws either, and reads what it keeps of any body the decoder takes as the decoder does.
      const scan = scanned(scanner, bytes);
      if (fast.ok) expect(scan).toStrictEqual(kept(fast.event.data as Batch));
      if (fast.ok) {
        outcomes.ok++;
        // What is accepted is a valid batch in its JSON form too.
        expect(TelemetryBatch.safeParse(jsonForm(fast.event.data)).success).toBe(true);
      } else if (fast.reason.startsWith('binary telemetry body is malformed')) outcomes.malformed++;
      else outcomes.invalid++;
    }
    expect(outcomes.malformed).toBeGreaterThan(500);
    expect(outcomes.invalid).toBeGreaterThan(50);
    expect(outcomes.ok).toBeGreaterThan(50);
  });

  const base: Batch = TelemetryBatch.parse({
    service: 'checkout',
    instanceId: 'checkout-1',
    zone: 'z1',
    windowStart: 1_800_000_000_000,
    windowMs: 1000,
    edges: [{ direction: 'outbound', peerService: 'payments', requests: 3, errors: {}, latency: { zero: 0, buckets: [[120, 3]] } }],
  });
  const write = (batch: Batch, envelope: Partial<Parameters<typeof writeBinaryTelemetry>[0]> = {}) => writeBinaryTelemetry({ id: 'e-1', source: SOURCE, time: TIME.getTime(), ...envelope }, batch);

  it.each([
    ['an upper-case service name', { ...base, service: 'Checkout' }, {}, /^invalid io\.meshdeck\.telemetry\.batch\.v1 data: service: /],
    ['a window of 99 ms', { ...base, windowMs: 99 }, {}, /data: windowMs: /],
    ['peer instance "all"', { ...base, edges: [{ ...base.edges[0]!, peerInstance: 'all' }] }, {}, /data: edges\.0\.peerInstance: /],
    ['2 049 edges', { ...base, edges: Array.from({ length: 2049 }, () => base.edges[0]!) }, {}, /data: edges: /],
    ['a circuit rule of 65 characters', { ...base, edges: [{ ...base.edges[0]!, circuit: { state: 'open' as const, since: 1, manual: false, rule: 'r'.repeat(65), reason: '' } }] }, {}, /data: edges\.0\.circuit\.rule: /],
    ['an empty id', base, { id: '' }, /^invalid CloudEvents envelope: id: /],
    ['a time after year 9999', base, { time: 253_402_300_800_000 }, /^invalid CloudEvents envelope: time: /],
  ])('refuses %s with zod’s reason', (_what, batch, envelope, reason) => {
    const result = decodeMeshEvent(write(batch as Batch, envelope), [TYPE]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('refuses a sketch blob with an index past ±2000, a count over 2^53 − 1, or bytes left over', () => {
    const withBlob = (blob: number[]) => {
      const body = write(base);
      const good = sketchBlobOf(base.edges[0]!.latency);
      // The blob is the last thing of the edge: length byte, blob, then the two empty event lists.
      const at = body.length - 2 - good.length - 1;
      expect(body[at]).toBe(good.length);
      return Buffer.concat([body.subarray(0, at), Buffer.from([blob.length, ...blob]), body.subarray(body.length - 2)]);
    };
    expect(decodeMeshEvent(withBlob([...sketchBlobOf(base.edges[0]!.latency)]), [TYPE]).ok).toBe(true);
    // zero 0, then first bucket zigzag(2001) = 4002, count 1: v = 4002 · 16 + 1 = 64033.
    const past = decodeMeshEvent(withBlob([0x00, 0xa1, 0xf4, 0x03]), [TYPE]);
    expect(!past.ok && past.reason).toMatch(/malformed: a latency sketch blob that is not valid/);
    // zero count 2^53 as a varint.
    const big = decodeMeshEvent(withBlob([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), [TYPE]);
    expect(!big.ok && big.reason).toMatch(/malformed/);
    const empty = decodeMeshEvent(withBlob([]), [TYPE]);
    expect(!empty.ok && empty.reason).toMatch(/malformed/);
    expect(readBinaryTelemetry(Buffer.concat([write(base), Buffer.from([0])]))).toEqual({ ok: false, reason: 'binary telemetry body is malformed: 1 bytes after the batch' });
  });

  it('writes the sketch blob of docs/protocol.md §7.1’s example as the document says', () => {
    expect(encodeSketch({ zero: 1, buckets: [[126, 2], [311, 1]] }).toString('hex')).toBe('01c21f8117');
  });

  it('is refused on a queue that does not expect telemetry, and only telemetry has a binary form', () => {
    const result = decodeMeshEvent(write(base), ['io.meshdeck.instance.heartbeat.v1']);
    expect(result).toEqual({ ok: false, reason: `${TYPE} is not expected on this queue`, type: TYPE });
    expect(() => encodeMeshEvent('io.meshdeck.instance.heartbeat.v1', { service: 'a', instanceId: 'a-1', seq: 1 }, { source: SOURCE, encoding: 'binary' })).toThrow(/has no binary form/);
  });
});
