import { describe, expect, it } from 'vitest';
import { decodeMeshEvent } from './codec.js';
import { EnvelopeBase, InstanceHeartbeat, TelemetryBatch } from './messages.js';
import { checkEnvelope, checkHeartbeat, checkTelemetryBatch } from './telemetry-check.js';
import { mulberry32 } from '../balancer/random.js';
import { expandDeep, Fuzzer, type Json } from '../../test/support/protocol-fuzz.js';
import { validBatch } from '../../test/support/telemetry-batches.js';

const TYPE = 'io.meshdeck.telemetry.batch.v1';

/** Values at and just past the schema's limits, for the mutations below. */
const EDGE_VALUES: Json[] = [
  -1, -0, 0.5, 99, 100, 10_000, 10_001, 60_000, 60_001, 2000, 2001, -2000, -2001, 4096, 2048, Number.MAX_SAFE_INTEGER, 2 ** 53, Number.POSITIVE_INFINITY,
  '', 'all', 'external', '🙂'.repeat(64), '🙂'.repeat(65), '🙂'.repeat(128), '🙂'.repeat(129), '\ud800', 'a\ud83d',  'x'.repeat(64), 'x'.repeat(129), 'x'.repeat(256), 'x'.repeat(513), 'UPPER', '-a', 'a-', 'half-open', 'outbound',
  [], [1], [1, 2], [1, 2, 3], [0, 0], {}, null, true, false,
];

/** Replaces a random value in the tree with a limit value, or grows an array past its limit. */
function mutateAtLimits(f: Fuzzer, root: Json): void {
  const paths = f.paths(root);
  if (paths.length === 0) return;
  const { parent, key } = f.parentOf(root, f.pick(paths));
  const target = parent[key];
  if (Array.isArray(target) && f.random() < 0.2) {
    const n = f.pick([2049, 4097, 513, 65]);
    while (target.length < n) target.push(structuredClone(target[0] ?? 0));
    return;
  }
  parent[key] = structuredClone(f.pick(EDGE_VALUES));
}

/** A valid heartbeat with a random selection of optional fields present, absent or at their limits. */
function validHeartbeat(f: Fuzzer): Record<string, Json> {
  const hb: Record<string, Json> = {
    service: f.pick(['checkout', 'a', 'z'.repeat(63), '0-0']),
    instanceId: f.pick(['checkout-1', 'x'.repeat(128), 'i:1_2-3', 'alls']),
    seq: f.pick([0, 1, 99, Number.MAX_SAFE_INTEGER]),
  };
  if (f.random() < 0.5) hb.state = f.pick(['serving', 'draining']);
  if (f.random() < 0.5) hb.weight = f.pick([0, 1, 100, 10_000]);
  if (f.random() < 0.5) hb.inflight = f.pick([0, 3, Number.MAX_SAFE_INTEGER]);
  if (f.random() < 0.5) hb.activeCommands = Array.from({ length: f.pick([0, 1, 3, 64]) }, (_, i) => f.pick([`cmd-${i}`, '', 'c'.repeat(128), '🙂'.repeat(128)]));
  return hb;
}

/** Verdicts of zod and of the hand-written check on copies of `data`; outputs compared when both accept. */
function compare(data: Json, schema: { safeParse(v: unknown): { success: boolean; data?: unknown } } = TelemetryBatch, check: (v: unknown) => boolean = checkTelemetryBatch): { zod: boolean; fast: boolean; same: boolean } {
  const text = JSON.stringify(data);
  const z = schema.safeParse(JSON.parse(text));
  const mine = JSON.parse(text) as unknown;
  const fast = check(mine);
  let same = fast === z.success;
  if (same && fast) {
    try {
      expect(mine).toStrictEqual(z.data);
    } catch {
      same = false;
    }
  }
  return { zod: z.success, fast, same };
}

/**
 * 5 000 messages made by `make`, each mutated 1–`maxPasses` times (the fuzzer's mutations and
 * values at the limits), judged by zod and by the check: the disagreements (none expected) and
 * how many zod accepted or refused.
 */
function mutatedVerdicts(seed: number, make: (f: Fuzzer) => Record<string, Json>, schema: Parameters<typeof compare>[1], check: Parameters<typeof compare>[2], maxPasses: number) {
  const f = new Fuzzer(mulberry32(seed));
  const outcomes = { accepted: 0, rejected: 0 };
  const disagreements: string[] = [];
  for (let n = 0; n < 5000; n++) {
    const message: Json = make(f);
    for (let i = 0, passes = 1 + f.int(maxPasses); i < passes; i++) {
      if (f.random() < 0.5) mutateAtLimits(f, message);
      else f.mutateObject(message, false);
    }
    const r = compare(message, schema, check);
    if (!r.same) disagreements.push(`zod ${r.zod ? 'accepts' : 'refuses'}, check ${r.fast ? 'accepts' : 'refuses'}: ${JSON.stringify(message).slice(0, 400)}`);
    if (r.zod) outcomes.accepted++;
    else outcomes.rejected++;
  }
  return { disagreements, outcomes };
}

describe('checkTelemetryBatch agrees with the zod schema', () => {
  it('valid batches (optional fields present, absent, at their limits): accepted, with the same output as zod', () => {
    const f = new Fuzzer(mulberry32(0x7e1e));
    for (let n = 0; n < 2000; n++) {
      const batch = validBatch(f);
      const r = compare(batch);
      expect(r.zod, JSON.stringify(batch).slice(0, 300)).toBe(true);
      expect(r.same, JSON.stringify(batch).slice(0, 300)).toBe(true);
    }
  });

  it('5 000 mutated batches (wrong types, missing and extra keys, limits): the same verdict as zod', () => {
    const { disagreements, outcomes } = mutatedVerdicts(0xbad5eed, validBatch, TelemetryBatch, checkTelemetryBatch, 3);
    expect(disagreements.slice(0, 5)).toEqual([]);
    // Both verdicts are well represented.
    expect(outcomes.accepted).toBeGreaterThan(150);
    expect(outcomes.rejected).toBeGreaterThan(2500);
  }, 60_000);

  it('refuses what is not a batch at all', () => {
    for (const v of [null, undefined, 1, 'batch', [], [{}], { __proto__: null }]) {
      expect(checkTelemetryBatch(v)).toBe(TelemetryBatch.safeParse(v).success);
    }
  });
});

describe('checkHeartbeat agrees with the zod schema', () => {
  it('valid heartbeats: accepted, with the same output as zod (defaults filled in)', () => {
    const f = new Fuzzer(mulberry32(0x4ea7));
    for (let n = 0; n < 2000; n++) {
      const hb = validHeartbeat(f);
      const r = compare(hb, InstanceHeartbeat, checkHeartbeat);
      expect(r.zod, JSON.stringify(hb).slice(0, 300)).toBe(true);
      expect(r.same, JSON.stringify(hb).slice(0, 300)).toBe(true);
    }
  });

  it('5 000 mutated heartbeats (wrong types, missing and extra keys, limits): the same verdict as zod', () => {
    const make = (f: Fuzzer) => {
      const hb = validHeartbeat(f);
      // The list's limit itself (64 commands): growing an array at random rarely lands there.
      if (f.random() < 0.1) hb.activeCommands = Array.from({ length: f.pick([64, 65]) }, () => 'c');
      return hb;
    };
    const { disagreements, outcomes } = mutatedVerdicts(0x4ea7bad, make, InstanceHeartbeat, checkHeartbeat, 2);
    expect(disagreements.slice(0, 5)).toEqual([]);
    expect(outcomes.accepted).toBeGreaterThan(300);
    expect(outcomes.rejected).toBeGreaterThan(2500);
  });

  it('refuses what is not a heartbeat at all', () => {
    for (const v of [null, undefined, 1, 'hb', [], [{}], { __proto__: null }, { service: 'a', instanceId: 'all', seq: 1 }]) {
      expect(checkHeartbeat(v)).toBe(InstanceHeartbeat.safeParse(v).success);
    }
  });
});

describe('checkEnvelope agrees with EnvelopeBase', () => {
  it('valid and mutated envelopes: the same verdict, and the same (stripped) output', () => {
    const f = new Fuzzer(mulberry32(0xe7e1));
    const times = ['2025-03-01T09:00:00Z', '2025-03-01T09:00:00.123+02:00', '2024-02-29T23:59:59.9-23:59', '2025-02-29T09:00:00Z', '2025-03-01T09:00Z', '2025-03-01 09:00:00Z', '2025-03-01T24:00:00Z', '2025-03-01T09:00:00+24:00'];
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      const envelope: Record<string, Json> = { specversion: '1.0', id: 'e-1', source: 'meshdeck://a/b', type: TYPE, time: f.pick(times) };
      if (f.random() < 0.5) envelope.datacontenttype = 'application/json';
      if (f.random() < 0.3) envelope.subject = f.pick(['', 's', 'x'.repeat(512), 'x'.repeat(513)]);
      if (f.random() < 0.2) envelope.extra = 1;
      for (let i = 0, passes = f.int(3); i < passes; i++) {
        if (f.random() < 0.5) mutateAtLimits(f, envelope);
        else f.mutateObject(envelope, false);
      }
      const text = JSON.stringify(envelope);
      const z = EnvelopeBase.safeParse(JSON.parse(text));
      const mine = checkEnvelope(JSON.parse(text) as Record<string, unknown>);
      expect(mine !== null, text).toBe(z.success);
      if (mine) {
        accepted++;
        expect(mine).toStrictEqual(z.data);
      }
    }
    expect(accepted).toBeGreaterThan(300);
  });
});

describe('decodeMeshEvent with and without the fast path', () => {
  it('telemetry batches, valid and mutated, as bytes: identical results, reasons included', () => {
    const f = new Fuzzer(mulberry32(0xdec0de));
    let ok = 0;
    for (let n = 0; n < 2000; n++) {
      const event: Json = { specversion: '1.0', id: `b-${n}`, source: 'meshdeck://a/b', type: TYPE, time: '2025-03-01T09:00:00.000Z', datacontenttype: 'application/json', data: validBatch(f) };
      for (let i = 0, passes = f.int(3); i < passes; i++) {
        if (f.random() < 0.5) mutateAtLimits(f, event);
        else f.mutateObject(event, false);
      }
      let text = expandDeep(JSON.stringify(event));
      // Numbers JSON.stringify cannot write: 1e999 parses to Infinity.
      if (f.random() < 0.1) text = text.replace(/("(?:requests|windowStart|zero|count)":)\d+/, '$11e999');
      const body = Buffer.from(text);
      const expected = f.random() < 0.8 ? ([TYPE] as const) : f.random() < 0.5 ? undefined : (['io.meshdeck.instance.heartbeat.v1'] as const);
      const fast = decodeMeshEvent(body, expected);
      const slow = decodeMeshEvent(body, expected, { zodOnly: true });
      expect(fast, body.toString().slice(0, 300)).toStrictEqual(slow);
      if (fast.ok) ok++;
    }
    expect(ok).toBeGreaterThan(300);
  });

  it('heartbeats, valid and mutated, as bytes: identical results, reasons included', () => {
    const f = new Fuzzer(mulberry32(0x4eade));
    let ok = 0;
    for (let n = 0; n < 2000; n++) {
      const event: Json = { specversion: '1.0', id: `h-${n}`, source: 'meshdeck://a/b', type: 'io.meshdeck.instance.heartbeat.v1', time: '2025-03-01T09:00:00.000Z', data: validHeartbeat(f) };
      for (let i = 0, passes = f.int(3); i < passes; i++) {
        if (f.random() < 0.5) mutateAtLimits(f, event);
        else f.mutateObject(event, false);
      }
      const body = Buffer.from(expandDeep(JSON.stringify(event)));
      const expected = f.random() < 0.8 ? (['io.meshdeck.instance.heartbeat.v1'] as const) : f.random() < 0.5 ? undefined : ([TYPE] as const);
      const fast = decodeMeshEvent(body, expected);
      const slow = decodeMeshEvent(body, expected, { zodOnly: true });
      expect(fast, body.toString().slice(0, 300)).toStrictEqual(slow);
      if (fast.ok) ok++;
    }
    expect(ok).toBeGreaterThan(300);
  });
});
