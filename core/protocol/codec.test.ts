import { describe, expect, it, vi } from 'vitest';
import { decodeMeshEvent, encodeMeshEvent, EncodeError, type DecodeResult } from './codec.js';
import {
  EnvelopeBase,
  InstanceId,
  MAX_MESSAGE_BYTES,
  MESSAGE_TYPES,
  ServiceName,
  type MeshDataInput,
  type MeshMessageType,
} from './messages.js';
import { mulberry32 } from '../balancer/random.js';
import { expandDeep, Fuzzer, type Json } from '../../test/support/protocol-fuzz.js';

const SOURCE = 'meshdeck://checkout/checkout-1';
const TIME = new Date('2025-03-01T09:00:00.000Z');
const TYPES = Object.keys(MESSAGE_TYPES) as MeshMessageType[];

type Examples = { [T in MeshMessageType]: MeshDataInput<T> };

/** The least each type needs: every default is left to the schema. */
const minimal: Examples = {
  'io.meshdeck.instance.register.v1': {
    service: 'checkout',
    instanceId: 'checkout-1',
    zone: 'eu-west-1a',
    address: '10.0.3.17:8080',
    startedAt: '2025-03-01T08:59:58.120Z',
  },
  'io.meshdeck.instance.heartbeat.v1': { service: 'checkout', instanceId: 'checkout-1', seq: 0 },
  'io.meshdeck.instance.deregister.v1': { service: 'checkout', instanceId: 'checkout-1' },
  'io.meshdeck.telemetry.batch.v1': {
    service: 'checkout',
    instanceId: 'checkout-1',
    zone: 'eu-west-1a',
    windowStart: 1_740_819_600_000,
    windowMs: 1000,
    edges: [],
  },
  'io.meshdeck.control.command.v1': {
    commandId: 'cmd-00000001',
    target: { service: 'checkout' },
    issuedAt: '2025-03-01T09:00:00Z',
    expiresAt: '2025-03-01T09:01:00Z',
    issuer: 'console',
    command: { action: 'drain' },
  },
  'io.meshdeck.control.ack.v1': { commandId: 'cmd-00000001', service: 'checkout', instanceId: 'checkout-1', status: 'applied' },
  'io.meshdeck.discovery.endpoints.v1': { service: 'checkout', revision: 0, endpoints: [] },
  'io.meshdeck.discovery.request.v1': { services: [] },
  'io.meshdeck.health.signal.v1': {
    reporter: { service: 'checkout', instanceId: 'checkout-1' },
    target: { service: 'payments', instanceId: 'payments-2' },
    kind: 'connect-refused',
  },
};

/** Every optional field set, nested objects included. */
const full: Examples = {
  'io.meshdeck.instance.register.v1': {
    service: 'checkout',
    instanceId: 'checkout-7f9c:2',
    zone: 'eu-west-1b',
    address: '[fd00::17]:8080',
    weight: 250,
    version: '2.4.1',
    metadata: { team: 'payments', 'k8s.pod': 'checkout-7f9c' },
    capacity: 64,
    heartbeatIntervalMs: 500,
    agent: 'sidecar',
    startedAt: '2025-03-01T10:59:58.120+02:00',
  },
  'io.meshdeck.instance.heartbeat.v1': {
    service: 'checkout',
    instanceId: 'checkout-7f9c:2',
    seq: 42,
    state: 'draining',
    weight: 0,
    inflight: 3,
    activeCommands: ['cmd-00000001', 'cmd-00000002'],
  },
  'io.meshdeck.instance.deregister.v1': { service: 'checkout', instanceId: 'checkout-7f9c:2', reason: 'scale-in' },
  'io.meshdeck.telemetry.batch.v1': {
    service: 'checkout',
    instanceId: 'checkout-7f9c:2',
    zone: 'eu-west-1b',
    windowStart: 1_740_819_600_000,
    windowMs: 1000,
    edges: [
      {
        direction: 'outbound',
        peerService: 'payments',
        peerInstance: 'payments-1',
        requests: 120,
        errors: { http5xx: 2, http4xx: 1, connect: 0, timeout: 1 },
        retries: 3,
        latency: { zero: 0, buckets: [[124, 100], [140, 19], [230, 1]] },
      },
      { direction: 'inbound', peerService: 'external', requests: 7, errors: {}, latency: { zero: 1, buckets: [[-10, 6]] } },
    ],
    events: {
      published: [{ type: 'com.example.order.placed', exchange: 'meshdeck.events', count: 12 }],
      consumed: [{ type: 'com.example.payment.settled', queue: 'checkout.payments', count: 11, failed: 1, latency: { zero: 0, buckets: [[50, 11]] } }],
    },
  },
  'io.meshdeck.control.command.v1': {
    commandId: '6f1c2e0a-4b8d-4f2e-9d3c-1a2b3c4d5e6f',
    target: { service: 'checkout', instanceId: 'checkout-7f9c:2' },
    issuedAt: '2025-03-01T09:00:00.000Z',
    expiresAt: '2025-03-01T09:00:30.000Z',
    issuer: 'console:alice',
    reason: 'latency drill',
    command: { action: 'fault', fault: { share: 0.25, delayMs: 200, abortStatus: 503, durationMs: 60_000 } },
  },
  'io.meshdeck.control.ack.v1': {
    commandId: '6f1c2e0a-4b8d-4f2e-9d3c-1a2b3c4d5e6f',
    service: 'checkout',
    instanceId: 'checkout-7f9c:2',
    status: 'rejected',
    detail: 'expired',
  },
  'io.meshdeck.discovery.endpoints.v1': {
    service: 'checkout',
    revision: 17,
    endpoints: [
      { instanceId: 'checkout-1', zone: 'eu-west-1a', address: '10.0.3.17:8080', weight: 100, state: 'healthy' },
      { instanceId: 'checkout-7f9c:2', zone: 'eu-west-1b', address: 'checkout-2.internal:8080', weight: 0, state: 'draining' },
    ],
  },
  'io.meshdeck.discovery.request.v1': { services: ['checkout', 'payments'] },
  'io.meshdeck.health.signal.v1': {
    reporter: { service: 'checkout', instanceId: 'checkout-7f9c:2' },
    target: { service: 'payments', instanceId: 'payments-3c1d8' },
    kind: 'connect-failed',
    detail: '3 connection failures in a row (ECONNRESET)',
    localEjectionUntil: 1_740_820_802_512,
  },
};

function encode<T extends MeshMessageType>(type: T, data: MeshDataInput<T>): Buffer {
  return encodeMeshEvent(type, data, { source: SOURCE, id: 'evt-1', time: TIME });
}

function envelope(type: string, data: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { specversion: '1.0', id: 'evt-1', source: SOURCE, type, time: '2025-03-01T09:00:00Z', datacontenttype: 'application/json', data, ...extra };
}

function failure(result: DecodeResult): { reason: string; type: string | null } {
  if (result.ok) throw new Error(`expected a decode failure, got ${result.event.type}`);
  return { reason: result.reason, type: result.type };
}

describe('encode / decode round trip', () => {
  for (const [label, examples] of [
    ['minimal', minimal],
    ['full', full],
  ] as const) {
    it.each(TYPES)(`${label} %s comes back equal, defaults applied`, (type) => {
      const input = examples[type];
      const body = encodeMeshEvent(type, input, { source: SOURCE, id: 'evt-42', time: TIME, subject: 'checkout-1' });
      const result = decodeMeshEvent(body, [type]);
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.event).toEqual({
        specversion: '1.0',
        id: 'evt-42',
        source: SOURCE,
        type,
        time: '2025-03-01T09:00:00.000Z',
        datacontenttype: 'application/json',
        subject: 'checkout-1',
        data: MESSAGE_TYPES[type].parse(input),
      });
      // The same through a string body and an already-parsed object body.
      expect(decodeMeshEvent(body.toString('utf8'))).toEqual(result);
      expect(decodeMeshEvent(JSON.parse(body.toString('utf8')))).toEqual(result);
    });
  }

  it('covers every message type', () => {
    expect(Object.keys(minimal).sort()).toEqual([...TYPES].sort());
    expect(Object.keys(full).sort()).toEqual([...TYPES].sort());
  });

  it('writes the defaults onto the wire', () => {
    const wire = JSON.parse(encode('io.meshdeck.instance.register.v1', minimal['io.meshdeck.instance.register.v1']).toString());
    expect(wire.data).toMatchObject({ weight: 100, version: '', metadata: {}, capacity: 0, heartbeatIntervalMs: 1000, agent: 'sdk' });
    const hb = JSON.parse(encode('io.meshdeck.instance.heartbeat.v1', minimal['io.meshdeck.instance.heartbeat.v1']).toString());
    expect(hb.data).toEqual({ service: 'checkout', instanceId: 'checkout-1', seq: 0, state: 'serving', inflight: 0, activeCommands: [] });
    const batch = JSON.parse(encode('io.meshdeck.telemetry.batch.v1', minimal['io.meshdeck.telemetry.batch.v1']).toString());
    expect(batch.data.events).toEqual({ published: [], consumed: [] });
  });

  it('produces a CloudEvents 1.0 structured envelope with a fresh id and an RFC 3339 UTC time', () => {
    const a = JSON.parse(encodeMeshEvent('io.meshdeck.discovery.request.v1', { services: [] }, { source: SOURCE }).toString());
    const b = JSON.parse(encodeMeshEvent('io.meshdeck.discovery.request.v1', { services: [] }, { source: SOURCE }).toString());
    expect(a.specversion).toBe('1.0');
    expect(a.datacontenttype).toBe('application/json');
    expect(a.id).not.toBe(b.id);
    expect(a.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(a).not.toHaveProperty('subject');
  });
});

describe('decode never throws', () => {
  const heartbeat = envelope('io.meshdeck.instance.heartbeat.v1', { service: 'checkout', instanceId: 'checkout-1', seq: 1 });

  it.each([
    ['non-JSON', 'hello, rabbit', /not valid JSON/],
    ['truncated JSON', '{"specversion":"1.0",', /not valid JSON/],
    ['empty buffer', Buffer.alloc(0), /empty body/],
    ['empty string', '', /empty body/],
    ['whitespace', '   \n', /not valid JSON/],
    ['JSON array', '[1,2,3]', /not a JSON object/],
    ['JSON number', '42', /not a JSON object/],
    ['JSON string', '"io.meshdeck.instance.heartbeat.v1"', /not a JSON object/],
    ['JSON null', 'null', /not a JSON object/],
    ['JSON true', 'true', /not a JSON object/],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x7b]), /not valid JSON/],
    ['object null', null, /not a JSON object/],
    ['object undefined', undefined, /not a JSON object/],
    ['object number', 7, /not a JSON object/],
    ['object array', [heartbeat], /not a JSON object/],
  ] as const)('%s', (_label, body, reason) => {
    const result = failure(decodeMeshEvent(body));
    expect(result.reason).toMatch(reason);
    expect(result.type).toBeNull();
  });

  it.each(['specversion', 'id', 'source', 'type', 'time'])('missing envelope field %s', (field) => {
    const body = { ...heartbeat };
    delete body[field];
    const result = failure(decodeMeshEvent(JSON.stringify(body)));
    expect(result.reason).toMatch(/invalid CloudEvents envelope/);
    expect(result.reason).toContain(field);
  });

  it.each([
    ['specversion 0.3', { specversion: '0.3' }, 'specversion'],
    ['numeric specversion', { specversion: 1.0 }, 'specversion'],
    ['empty id', { id: '' }, 'id'],
    ['time without offset', { time: '2025-03-01T09:00:00' }, 'time'],
    ['time not a date', { time: 'yesterday' }, 'time'],
    ['datacontenttype text/plain', { datacontenttype: 'text/plain' }, 'datacontenttype'],
    ['type a number', { type: 3 }, 'type'],
  ])('bad envelope: %s', (_label, patch, field) => {
    const result = failure(decodeMeshEvent(JSON.stringify({ ...heartbeat, ...patch })));
    expect(result.reason).toMatch(/invalid CloudEvents envelope/);
    expect(result.reason).toContain(field);
  });

  it('reports the type of a bad envelope when it has one, for the dead-letter record', () => {
    expect(failure(decodeMeshEvent(JSON.stringify({ ...heartbeat, specversion: '0.3' }))).type).toBe('io.meshdeck.instance.heartbeat.v1');
  });

  it('unknown type', () => {
    const result = failure(decodeMeshEvent(JSON.stringify(envelope('com.example.order.placed', {}))));
    expect(result.reason).toBe('unknown message type com.example.order.placed');
    expect(result.type).toBe('com.example.order.placed');
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('type named like an Object.prototype member: %s', (type) => {
    expect(failure(decodeMeshEvent(JSON.stringify(envelope(type, {})))).reason).toMatch(/unknown message type/);
  });

  it('a known type with another version names the unsupported protocol version', () => {
    const result = failure(decodeMeshEvent(JSON.stringify({ ...heartbeat, type: 'io.meshdeck.instance.heartbeat.v2' })));
    expect(result.reason).toMatch(/unsupported protocol version v2/);
    expect(result.reason).toContain('io.meshdeck.instance.heartbeat');
    expect(result.type).toBe('io.meshdeck.instance.heartbeat.v2');
    expect(failure(decodeMeshEvent(JSON.stringify({ ...heartbeat, type: 'io.meshdeck.control.command.v0' }))).reason).toMatch(
      /unsupported protocol version v0/,
    );
  });

  it.each([
    ['a negative weight', { weight: -1 }, /^invalid io\.meshdeck\.instance\.heartbeat\.v1 data: weight: /],
    ['a wrong state', { state: 'sleeping' }, /state: /],
    ['a fractional seq', { seq: 1.5 }, /seq: /],
    ['an unknown field', { colour: 'red' }, /colour/],
    ['an upper-case service', { service: 'Checkout' }, /service: /],
    ['an instance id with a dot', { instanceId: 'checkout.1' }, /instanceId: /],
    ['a string in activeCommands too long', { activeCommands: ['x'.repeat(129)] }, /activeCommands\.0: /],
  ])('invalid data names the field path: %s', (_label, patch, reason) => {
    const body = JSON.stringify({ ...heartbeat, data: { ...(heartbeat.data as object), ...patch } });
    const result = failure(decodeMeshEvent(body));
    expect(result.reason).toMatch(reason);
    expect(result.type).toBe('io.meshdeck.instance.heartbeat.v1');
  });

  it('names nested paths in invalid data', () => {
    const batch = JSON.parse(encode('io.meshdeck.telemetry.batch.v1', full['io.meshdeck.telemetry.batch.v1']).toString());
    batch.data.edges[1].latency.buckets[0][1] = 0;
    expect(failure(decodeMeshEvent(batch)).reason).toMatch(/edges\.1\.latency\.buckets\.0\.1: /);
  });

  it('missing data', () => {
    const body = { ...heartbeat };
    delete body.data;
    expect(failure(decodeMeshEvent(JSON.stringify(body))).reason).toMatch(/invalid io\.meshdeck\.instance\.heartbeat\.v1 data: \(root\)/);
  });

  it('lists at most five issues', () => {
    const result = failure(decodeMeshEvent(JSON.stringify(envelope('io.meshdeck.instance.register.v1', { a: 1, b: 2, weight: 'x', agent: 1, capacity: -1, heartbeatIntervalMs: 1, version: 1 }))));
    expect(result.reason.split('; ').length).toBeLessThanOrEqual(5);
  });

  it('refuses an oversized body before parsing it', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const big = `{"specversion":"1.0","pad":"${'x'.repeat(MAX_MESSAGE_BYTES)}"}`;
      for (const body of [big, Buffer.from(big), '!'.repeat(MAX_MESSAGE_BYTES + 1)]) {
        const result = failure(decodeMeshEvent(body));
        expect(result.reason).toMatch(new RegExp(`over the ${MAX_MESSAGE_BYTES}-byte limit`));
        expect(result.type).toBeNull();
      }
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  it('counts bytes, not characters, of a string body', () => {
    const body = 'é'.repeat(MAX_MESSAGE_BYTES / 2 + 1); // fewer characters than the limit, more bytes
    expect(body.length).toBeLessThan(MAX_MESSAGE_BYTES);
    expect(failure(decodeMeshEvent(body)).reason).toMatch(/limit/);
  });

  it('accepts a body of exactly MAX_MESSAGE_BYTES and refuses one byte more', () => {
    const encoded = encode('io.meshdeck.instance.heartbeat.v1', minimal['io.meshdeck.instance.heartbeat.v1']).toString();
    const exact = encoded + ' '.repeat(MAX_MESSAGE_BYTES - encoded.length);
    expect(Buffer.byteLength(exact)).toBe(MAX_MESSAGE_BYTES);
    expect(decodeMeshEvent(exact).ok).toBe(true);
    expect(failure(decodeMeshEvent(`${exact} `)).reason).toMatch(/limit/);
  });

  it('the expected filter refuses a valid message of another type', () => {
    const body = encode('io.meshdeck.instance.heartbeat.v1', minimal['io.meshdeck.instance.heartbeat.v1']);
    const result = failure(decodeMeshEvent(body, ['io.meshdeck.control.ack.v1']));
    expect(result.reason).toBe('io.meshdeck.instance.heartbeat.v1 is not expected on this queue');
    expect(result.type).toBe('io.meshdeck.instance.heartbeat.v1');
    expect(decodeMeshEvent(body, ['io.meshdeck.control.ack.v1', 'io.meshdeck.instance.heartbeat.v1']).ok).toBe(true);
    expect(decodeMeshEvent(body, []).ok).toBe(false);
  });

  it('drops envelope attributes it does not know (CloudEvents extensions) and keeps the rest', () => {
    const result = decodeMeshEvent(JSON.stringify({ ...heartbeat, traceparent: '00-abc-def-01', subject: 'x' }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.event).not.toHaveProperty('traceparent');
    expect(result.event.subject).toBe('x');
  });

  it('refuses data nested 10 000 levels deep before parsing it, as text and as an object', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const text = JSON.stringify(envelope('io.meshdeck.instance.register.v1', { ...minimal['io.meshdeck.instance.register.v1'], metadata: '@' })).replace('"@"', deep);
    expect(failure(decodeMeshEvent(text)).reason).toBe('body nests deeper than 32 levels');
    let nested: unknown = [];
    for (let i = 0; i < 100_000; i++) nested = [nested];
    expect(failure(decodeMeshEvent(envelope('io.meshdeck.instance.register.v1', { ...minimal['io.meshdeck.instance.register.v1'], metadata: { a: nested } }))).reason).toBe(
      'body refused: nested deeper than 32 levels',
    );
    // As deep as the size limit allows.
    const deepest = `${'['.repeat(120_000)}${']'.repeat(120_000)}`;
    expect(decodeMeshEvent(JSON.stringify(envelope('io.meshdeck.instance.heartbeat.v1', '@')).replace('"@"', deepest)).ok).toBe(false);
  });
});

describe('encode refuses what decode would refuse', () => {
  it('throws EncodeError for invalid data, naming the field', () => {
    expect(() => encodeMeshEvent('io.meshdeck.instance.heartbeat.v1', { service: 'Checkout', instanceId: 'c-1', seq: 0 }, { source: SOURCE })).toThrow(EncodeError);
    expect(() =>
      encodeMeshEvent('io.meshdeck.instance.heartbeat.v1', { service: 'checkout', instanceId: 'c-1', seq: -1 }, { source: SOURCE }),
    ).toThrow(/refusing to send invalid io\.meshdeck\.instance\.heartbeat\.v1: seq: /);
    expect(() =>
      encodeMeshEvent('io.meshdeck.control.command.v1', { ...minimal['io.meshdeck.control.command.v1'], command: { action: 'fault', fault: { share: 1, durationMs: 10 } } }, { source: SOURCE }),
    ).toThrow(/command\.fault/);
  });

  it('throws EncodeError when the encoded message is over the limit', () => {
    const buckets: Array<[number, number]> = Array.from({ length: 4000 }, (_, i) => [i - 2000, 1_000_000 + i]);
    const edge = { direction: 'outbound' as const, peerService: 'payments', requests: 1, errors: {}, latency: { zero: 0, buckets } };
    const batch = { ...minimal['io.meshdeck.telemetry.batch.v1'], edges: Array.from({ length: 8 }, () => edge) };
    expect(() => encode('io.meshdeck.telemetry.batch.v1', batch)).toThrow(EncodeError);
    expect(() => encode('io.meshdeck.telemetry.batch.v1', batch)).toThrow(new RegExp(`over the ${MAX_MESSAGE_BYTES}-byte limit`));
    // One edge fits.
    expect(decodeMeshEvent(encode('io.meshdeck.telemetry.batch.v1', { ...batch, edges: [edge] })).ok).toBe(true);
  });

  it.each([
    ['an empty source', { source: '' }],
    ['a source over 512 characters', { source: `meshdeck://${'a'.repeat(600)}` }],
    ['an empty id', { source: SOURCE, id: '' }],
    ['an id over 128 characters', { source: SOURCE, id: 'x'.repeat(129) }],
    ['a subject over 512 characters', { source: SOURCE, subject: 's'.repeat(513) }],
    ['an invalid Date', { source: SOURCE, time: new Date(Number.NaN) }],
  ])('throws EncodeError for an envelope with %s', (_label, options) => {
    expect(() => encodeMeshEvent('io.meshdeck.control.ack.v1', minimal['io.meshdeck.control.ack.v1'], options)).toThrow(EncodeError);
  });
});

describe('hostile names are refused by the schemas', () => {
  const label = (name: string) => (name.length > 40 ? `${JSON.stringify(name.slice(0, 12))}… (${name.length} characters)` : JSON.stringify(name));
  it.each(
    [
      'Checkout',
      'check.out',
      '..',
      'a..b',
      '.',
      'chéckout',
      '📦',
      'ü'.repeat(40),
      'a'.repeat(64),
      'x'.repeat(10_000),
      '-checkout',
      'checkout-',
      '',
      'check out',
      'check*',
      'check#',
      'checkout\n',
      'check/out',
    ].map((name) => [label(name), name]),
  )('service %s', (_label, name) => {
    expect(ServiceName.safeParse(name).success).toBe(false);
    const result = failure(decodeMeshEvent(envelope('io.meshdeck.instance.heartbeat.v1', { service: name, instanceId: 'checkout-1', seq: 1 })));
    expect(result.reason).toMatch(/service: /);
  });

  it.each(['checkout.1', 'a.b.c', '', 'x'.repeat(129), 'inst*', 'inst#', 'inst 1', 'ínst', 'inst/1', 'inst\n', 'all'].map((id) => [label(id), id]))('instance id %s', (_label, id) => {
    expect(InstanceId.safeParse(id).success).toBe(false);
    const result = failure(decodeMeshEvent(envelope('io.meshdeck.instance.deregister.v1', { service: 'checkout', instanceId: id })));
    expect(result.reason).toMatch(/instanceId: /);
  });

  it('accepts the longest legal names', () => {
    expect(ServiceName.safeParse('a'.repeat(63)).success).toBe(true);
    expect(InstanceId.safeParse('x'.repeat(128)).success).toBe(true);
  });
});

// --- generated inputs ---------------------------------------------------------------------------

/** The project's seeded PRNG (mulberry32), so runs are repeatable. */
const prng = mulberry32;

function checkResult(result: DecodeResult): string | null {
  if (!result.ok) {
    if (typeof result.reason !== 'string' || result.reason.length === 0) return 'ok:false without a reason';
    if (result.type !== null && typeof result.type !== 'string') return 'type is neither string nor null';
    return null;
  }
  const { event } = result;
  if (!EnvelopeBase.safeParse(event).success) return 'ok:true with an invalid envelope';
  if (!Object.hasOwn(MESSAGE_TYPES, event.type)) return `ok:true with unknown type ${event.type}`;
  if (!MESSAGE_TYPES[event.type].safeParse(event.data).success) return 'ok:true with schema-invalid data';
  try {
    // What was accepted can be forwarded as is.
    const again = decodeMeshEvent(JSON.stringify(event));
    if (!again.ok) return `accepted data does not survive re-encoding: ${again.reason}`;
  } catch (err) {
    return `accepted data cannot be serialised: ${(err as Error).message}`;
  }
  return null;
}

describe('generated corrupted inputs', () => {
  it('2 000 corrupted variants of valid messages: decode never throws and never accepts invalid data', () => {
    const fuzz = new Fuzzer(prng(0x5eed_2025));
    const bases = TYPES.flatMap((type) => [encode(type, minimal[type]), encode(type, full[type])]);
    const failures: string[] = [];
    const outcomes = { ok: 0, rejected: 0, asBytes: 0, asObject: 0 };

    for (let n = 0; n < 2000; n++) {
      const base = fuzz.pick(bases);
      let body: unknown;
      const mode = fuzz.int(3);
      if (mode === 0) {
        // Byte-level corruption, one or more passes.
        let bytes = base;
        for (let i = 0, passes = 1 + fuzz.int(3); i < passes; i++) bytes = fuzz.mutateBytes(bytes);
        body = fuzz.random() < 0.5 ? bytes : bytes.toString('utf8');
        outcomes.asBytes++;
      } else {
        const objectDelivery = mode === 2;
        const root = JSON.parse(base.toString()) as Json;
        for (let i = 0, passes = 1 + fuzz.int(3); i < passes; i++) fuzz.mutateObject(root, objectDelivery);
        if (objectDelivery) {
          body = fuzz.replaceDeep(root);
          outcomes.asObject++;
        } else {
          body = Buffer.from(expandDeep(JSON.stringify(root)));
          outcomes.asBytes++;
        }
      }
      let result: DecodeResult;
      try {
        result = decodeMeshEvent(body);
      } catch (err) {
        failures.push(`#${n}: threw ${(err as Error).stack ?? String(err)}`);
        continue;
      }
      const problem = checkResult(result);
      if (problem) failures.push(`#${n}: ${problem}`);
      if (result.ok) outcomes.ok++;
      else outcomes.rejected++;
    }

    expect(failures).toEqual([]);
    expect(outcomes.ok + outcomes.rejected).toBe(2000);
    // Both outcomes occur: the corruption is neither always fatal nor always harmless.
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(outcomes.ok).toBeGreaterThan(10);
    expect(outcomes.asObject).toBeGreaterThan(300);
  });
});
