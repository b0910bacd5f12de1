import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeMeshEvent } from './codec.js';
import {
  Address,
  ControlAck,
  ControlAction,
  ControlCommand,
  DiscoveryEndpoints,
  DiscoveryRequest,
  DomainEvent,
  EdgeStats,
  EnvelopeBase,
  EventTypeName,
  FaultSpec,
  InstanceDeregister,
  InstanceHeartbeat,
  InstanceId,
  InstanceRegister,
  isMeshType,
  MAX_MESSAGE_BYTES,
  MESSAGE_TYPES,
  PROTOCOL_VERSION,
  ServiceName,
  SketchWireSchema,
  TelemetryBatch,
  Zone,
} from './messages.js';

const register = {
  service: 'checkout',
  instanceId: 'checkout-1',
  zone: 'eu-west-1a',
  address: '10.0.3.17:8080',
  startedAt: '2025-03-01T09:00:00Z',
};

function issues(result: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }): string[] {
  return (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('constants and catalogue', () => {
  it('protocol v1, 256 KiB limit', () => {
    expect(PROTOCOL_VERSION).toBe(1);
    expect(MAX_MESSAGE_BYTES).toBe(262_144);
  });

  it('every mesh type is io.meshdeck.<area>.<name>.v1', () => {
    for (const type of Object.keys(MESSAGE_TYPES)) expect(type).toMatch(/^io\.meshdeck\.[a-z]+\.[a-z]+\.v1$/);
    expect(Object.keys(MESSAGE_TYPES)).toHaveLength(9);
  });

  it('isMeshType knows the catalogue and nothing inherited', () => {
    expect(isMeshType('io.meshdeck.instance.register.v1')).toBe(true);
    for (const t of ['io.meshdeck.instance.register.v2', 'io.meshdeck.instance.register', '__proto__', 'constructor', 'toString', ''])
      expect(isMeshType(t)).toBe(false);
  });
});

describe('defaults', () => {
  it('InstanceRegister: weight 100, heartbeat 1 s, agent sdk, empty version and metadata, capacity 0', () => {
    expect(InstanceRegister.parse(register)).toEqual({
      ...register,
      weight: 100,
      version: '',
      metadata: {},
      capacity: 0,
      heartbeatIntervalMs: 1000,
      agent: 'sdk',
    });
  });

  it('InstanceHeartbeat: state serving, inflight 0, no active commands, no weight', () => {
    const hb = InstanceHeartbeat.parse({ service: 'checkout', instanceId: 'checkout-1', seq: 7 });
    expect(hb).toEqual({ service: 'checkout', instanceId: 'checkout-1', seq: 7, state: 'serving', inflight: 0, activeCommands: [] });
    expect(hb).not.toHaveProperty('weight');
  });

  it('InstanceDeregister: reason shutdown', () => {
    expect(InstanceDeregister.parse({ service: 'checkout', instanceId: 'checkout-1' }).reason).toBe('shutdown');
  });

  it('EdgeStats: error counts and retries default to 0', () => {
    const edge = EdgeStats.parse({ direction: 'inbound', peerService: 'external', requests: 1, errors: {}, latency: { zero: 1, buckets: [] } });
    expect(edge.errors).toEqual({ http5xx: 0, http4xx: 0, connect: 0, timeout: 0 });
    expect(edge.retries).toBe(0);
  });

  it('TelemetryBatch: events default to empty lists, and each batch gets its own', () => {
    const batch = { service: 'checkout', instanceId: 'checkout-1', zone: 'z1', windowStart: 0, windowMs: 1000, edges: [] };
    const a = TelemetryBatch.parse(batch);
    const b = TelemetryBatch.parse(batch);
    expect(a.events).toEqual({ published: [], consumed: [] });
    expect(a.events).not.toBe(b.events);
    expect(a.events.published).not.toBe(b.events.published);
    a.events.published.push({ type: 'x', exchange: 'meshdeck.events', count: 1 });
    expect(TelemetryBatch.parse(batch).events.published).toEqual([]);
    expect(TelemetryBatch.parse({ ...batch, events: {} }).events).toEqual({ published: [], consumed: [] });
  });

  it('ControlCommand reason, ControlAck detail and FaultSpec delay/abort default to empty / 0', () => {
    const cmd = ControlCommand.parse({
      commandId: 'cmd-00000001',
      target: { service: 'checkout' },
      issuedAt: '2025-03-01T09:00:00Z',
      expiresAt: '2025-03-01T09:01:00Z',
      issuer: 'console',
      command: { action: 'fault', fault: { share: 0.1, delayMs: 50, durationMs: 1000 } },
    });
    expect(cmd.reason).toBe('');
    expect(cmd.command).toEqual({ action: 'fault', fault: { share: 0.1, delayMs: 50, abortStatus: 0, durationMs: 1000 } });
    expect(ControlAck.parse({ commandId: 'cmd-00000001', service: 'checkout', instanceId: 'c-1', status: 'duplicate' }).detail).toBe('');
  });

  it('defaults are fresh objects, never shared between parses', () => {
    const a = InstanceRegister.parse(register);
    const b = InstanceRegister.parse(register);
    expect(a.metadata).not.toBe(b.metadata);
    const h1 = InstanceHeartbeat.parse({ service: 'a', instanceId: 'b', seq: 0 });
    const h2 = InstanceHeartbeat.parse({ service: 'a', instanceId: 'b', seq: 0 });
    expect(h1.activeCommands).not.toBe(h2.activeCommands);
  });
});

describe('names', () => {
  it.each(['checkout', 'a', 'payments-v2', '0', 'a'.repeat(63), 'x-1-y'])('ServiceName accepts %s', (name) => {
    expect(ServiceName.safeParse(name).success).toBe(true);
  });
  it.each(['', 'A', 'check.out', '-a', 'a-', 'a'.repeat(64), 'a_b', 'ä', 'a b', '*', '#', 'a\n'])('ServiceName refuses %j', (name) => {
    expect(ServiceName.safeParse(name).success).toBe(false);
  });

  it.each(['checkout-1', 'i-0abc', 'pod:checkout-7f9c', 'A_b-C:9', 'x'.repeat(128)])('InstanceId accepts %s', (id) => {
    expect(InstanceId.safeParse(id).success).toBe(true);
  });
  it.each(['', 'a.b', 'x'.repeat(129), 'a b', 'a*', 'a#', 'a/b', 'é', 'all'])('InstanceId refuses %j', (id) => {
    expect(InstanceId.safeParse(id).success).toBe(false);
  });

  it.each(['eu-west-1a', 'z1', 'local'])('Zone accepts %s', (z) => expect(Zone.safeParse(z).success).toBe(true));
  it.each(['', 'EU', 'eu.west', 'eu_west', '-eu'])('Zone refuses %j', (z) => expect(Zone.safeParse(z).success).toBe(false));

  it.each(['10.0.0.7:8080', '[::1]:8080', '[fd00::17]:80', 'checkout-1.svc.cluster.local:8443', 'localhost:1'])('Address accepts %s', (a) => {
    expect(Address.safeParse(a).success).toBe(true);
  });
  it.each(['10.0.0.7', ':8080', 'host:', 'host:123456', 'http://host:80', 'ho st:80', '::1:8080', `${'a'.repeat(270)}:80`])('Address refuses %j', (a) => {
    expect(Address.safeParse(a).success).toBe(false);
  });

  it.each(['com.example.order.placed', 'OrderPlaced', 'order_placed-v2', 'a'])('EventTypeName accepts %s', (t) => {
    expect(EventTypeName.safeParse(t).success).toBe(true);
  });
  it.each(['', '.order', 'order placed', 'order*', 'order#', 'a'.repeat(201), 'ordér'])('EventTypeName refuses %j', (t) => {
    expect(EventTypeName.safeParse(t).success).toBe(false);
  });
});

describe('InstanceRegister and InstanceHeartbeat bounds', () => {
  it.each([
    ['weight -1', { weight: -1 }],
    ['weight 10 001', { weight: 10_001 }],
    ['weight 1.5', { weight: 1.5 }],
    ['heartbeatIntervalMs 99', { heartbeatIntervalMs: 99 }],
    ['heartbeatIntervalMs 60 001', { heartbeatIntervalMs: 60_001 }],
    ['agent unknown', { agent: 'daemon' }],
    ['version over 64', { version: 'v'.repeat(65) }],
    ['33 metadata keys', { metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }],
    ['metadata key over 64', { metadata: { ['k'.repeat(65)]: 'v' } }],
    ['metadata value over 256', { metadata: { k: 'v'.repeat(257) } }],
    ['metadata number value', { metadata: { k: 1 } }],
    ['startedAt without offset', { startedAt: '2025-03-01T09:00:00' }],
    ['startedAt not a calendar date', { startedAt: '2025-02-30T09:00:00Z' }],
    ['unknown field', { region: 'eu' }],
  ])('register refuses %s', (_label, patch) => {
    expect(InstanceRegister.safeParse({ ...register, ...patch }).success).toBe(false);
  });

  it('register accepts 32 metadata keys and the edge values', () => {
    const metadata = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v'.repeat(256)]));
    expect(InstanceRegister.safeParse({ ...register, metadata, weight: 0, heartbeatIntervalMs: 100 }).success).toBe(true);
    expect(InstanceRegister.safeParse({ ...register, weight: 10_000, heartbeatIntervalMs: 60_000 }).success).toBe(true);
  });

  it.each([
    ['state down', { state: 'down' }],
    ['65 active commands', { activeCommands: Array.from({ length: 65 }, (_, i) => `c${i}`) }],
    ['negative inflight', { inflight: -1 }],
    ['missing seq', { seq: undefined }],
  ])('heartbeat refuses %s', (_label, patch) => {
    expect(InstanceHeartbeat.safeParse({ service: 'checkout', instanceId: 'checkout-1', seq: 1, ...patch }).success).toBe(false);
  });
});

describe('FaultSpec', () => {
  it('accepts a delay, an abort, or both', () => {
    expect(FaultSpec.safeParse({ share: 0.5, delayMs: 200, durationMs: 1000 }).success).toBe(true);
    expect(FaultSpec.safeParse({ share: 0.5, abortStatus: 503, durationMs: 1000 }).success).toBe(true);
    expect(FaultSpec.safeParse({ share: 1, delayMs: 1, abortStatus: 400, durationMs: 3_600_000 }).success).toBe(true);
    expect(FaultSpec.safeParse({ share: 0, abortStatus: 599, durationMs: 1 }).success).toBe(true);
  });

  it('refuses a fault that does nothing', () => {
    const result = FaultSpec.safeParse({ share: 0.5, durationMs: 1000 });
    expect(result.success).toBe(false);
    expect(issues(result).join()).toMatch(/needs delayMs > 0 or abortStatus >= 400/);
    expect(FaultSpec.safeParse({ share: 0.5, delayMs: 0, abortStatus: 0, durationMs: 1000 }).success).toBe(false);
  });

  it('refuses an abort status below 400 (not an error answer), with or without a delay', () => {
    expect(FaultSpec.safeParse({ share: 0.5, abortStatus: 399, durationMs: 1000 }).success).toBe(false);
    expect(FaultSpec.safeParse({ share: 0.5, abortStatus: 200, durationMs: 1000 }).success).toBe(false);
    const withDelay = FaultSpec.safeParse({ share: 0.5, delayMs: 100, abortStatus: 42, durationMs: 1000 });
    expect(withDelay.success).toBe(false);
    expect(issues(withDelay).join()).toMatch(/^abortStatus: /);
  });

  it.each([
    ['share above 1', { share: 1.01 }],
    ['negative share', { share: -0.1 }],
    ['abortStatus 600', { abortStatus: 600 }],
    ['delay over 60 s', { delayMs: 60_001 }],
    ['duration 0', { durationMs: 0 }],
    ['duration over 1 h', { durationMs: 3_600_001 }],
    ['unknown field', { jitter: 5 }],
  ])('refuses %s', (_label, patch) => {
    expect(FaultSpec.safeParse({ share: 0.5, delayMs: 100, durationMs: 1000, ...patch }).success).toBe(false);
  });
});

describe('ControlAction', () => {
  it.each([
    { action: 'set-weight', weight: 0 },
    { action: 'set-weight', weight: 10_000 },
    { action: 'drain' },
    { action: 'eject' },
    { action: 'eject', durationMs: 30_000 },
    { action: 'restore' },
    { action: 'fault', fault: { share: 0.1, abortStatus: 503, durationMs: 5000 } },
    { action: 'clear-fault' },
  ])('accepts %j', (action) => {
    expect(ControlAction.safeParse(action).success).toBe(true);
  });

  it.each([
    ['an unknown action', { action: 'reboot' }],
    ['no action', { weight: 5 }],
    ['a non-string action', { action: 1 }],
    ['set-weight without a weight', { action: 'set-weight' }],
    ['set-weight above 10 000', { action: 'set-weight', weight: 10_001 }],
    ['drain with an extra field', { action: 'drain', force: true }],
    ['eject for 0 ms', { action: 'eject', durationMs: 0 }],
    ['eject for over a day', { action: 'eject', durationMs: 86_400_001 }],
    ['fault without a spec', { action: 'fault' }],
    ['fault with an empty spec', { action: 'fault', fault: {} }],
    ['clear-fault with a spec', { action: 'clear-fault', fault: { share: 1, delayMs: 1, durationMs: 1 } }],
  ])('refuses %s', (_label, action) => {
    expect(ControlAction.safeParse(action).success).toBe(false);
  });

  it('names the discriminator for an unknown action', () => {
    expect(issues(ControlAction.safeParse({ action: 'reboot' })).join()).toMatch(/^action: /);
  });
});

describe('ControlCommand, ControlAck, discovery', () => {
  const command = {
    commandId: 'cmd-00000001',
    target: { service: 'checkout', instanceId: 'checkout-1' },
    issuedAt: '2025-03-01T09:00:00Z',
    expiresAt: '2025-03-01T09:01:00Z',
    issuer: 'console',
    command: { action: 'drain' },
  };

  it('accepts a service-wide target (no instanceId)', () => {
    expect(ControlCommand.safeParse({ ...command, target: { service: 'checkout' } }).success).toBe(true);
  });

  it.each([
    ['a 7-character commandId', { commandId: 'cmd-123' }],
    ['a target without service', { target: { instanceId: 'checkout-1' } }],
    ['a target with an extra field', { target: { service: 'checkout', zone: 'z' } }],
    ['an issuedAt that is not a time', { issuedAt: 'now' }],
    ['a missing expiresAt', { expiresAt: undefined }],
    ['an issuer over 128', { issuer: 'i'.repeat(129) }],
  ])('command refuses %s', (_label, patch) => {
    expect(ControlCommand.safeParse({ ...command, ...patch }).success).toBe(false);
  });

  it('ack statuses', () => {
    const ack = { commandId: 'cmd-00000001', service: 'checkout', instanceId: 'checkout-1' };
    for (const status of ['applied', 'duplicate', 'rejected']) expect(ControlAck.safeParse({ ...ack, status }).success).toBe(true);
    expect(ControlAck.safeParse({ ...ack, status: 'failed' }).success).toBe(false);
    expect(ControlAck.safeParse({ ...ack, status: 'rejected', detail: 'd'.repeat(1025) }).success).toBe(false);
  });

  it('endpoints: states and bounds', () => {
    const endpoint = { instanceId: 'checkout-1', zone: 'z1', address: '10.0.0.1:80', weight: 100, state: 'healthy' };
    for (const state of ['healthy', 'draining', 'ejected', 'down'])
      expect(DiscoveryEndpoints.safeParse({ service: 'checkout', revision: 1, endpoints: [{ ...endpoint, state }] }).success).toBe(true);
    expect(DiscoveryEndpoints.safeParse({ service: 'checkout', revision: 1, endpoints: [{ ...endpoint, state: 'unknown' }] }).success).toBe(false);
    expect(DiscoveryEndpoints.safeParse({ service: 'checkout', revision: -1, endpoints: [] }).success).toBe(false);
    expect(DiscoveryEndpoints.safeParse({ service: 'checkout', revision: 1, endpoints: [{ ...endpoint, weight: undefined }] }).success).toBe(false);
  });

  it('discovery request: services required, at most 1000', () => {
    expect(DiscoveryRequest.safeParse({ services: [] }).success).toBe(true);
    expect(DiscoveryRequest.safeParse({}).success).toBe(false);
    expect(DiscoveryRequest.safeParse({ services: Array.from({ length: 1001 }, (_, i) => `s${i}`) }).success).toBe(false);
    expect(DiscoveryRequest.safeParse({ services: ['Checkout'] }).success).toBe(false);
  });

  it('sketch wire: index within ±2000, counts positive, pairs exactly', () => {
    expect(SketchWireSchema.safeParse({ zero: 0, buckets: [[-2000, 1], [2000, 1]] }).success).toBe(true);
    expect(SketchWireSchema.safeParse({ zero: 0, buckets: [[2001, 1]] }).success).toBe(false);
    expect(SketchWireSchema.safeParse({ zero: 0, buckets: [[1, 0]] }).success).toBe(false);
    expect(SketchWireSchema.safeParse({ zero: 0, buckets: [[1, 1, 1]] }).success).toBe(false);
    expect(SketchWireSchema.safeParse({ zero: 0, buckets: [[1.5, 1]] }).success).toBe(false);
    expect(SketchWireSchema.safeParse({ zero: -1, buckets: [] }).success).toBe(false);
  });
});

describe('DomainEvent', () => {
  const event = {
    specversion: '1.0',
    id: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
    source: 'meshdeck://checkout/checkout-1',
    type: 'com.example.order.placed',
    time: '2025-03-01T09:00:00Z',
    datacontenttype: 'application/json',
    data: { orderId: 'o-1', total: 12.5 },
  };

  it('accepts any non-mesh CloudEvent and keeps extension attributes', () => {
    const parsed = DomainEvent.parse({ ...event, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(parsed.data).toEqual(event.data);
    expect(parsed).toHaveProperty('traceparent');
    const { data: _data, ...withoutData } = event;
    expect(DomainEvent.safeParse(withoutData).success).toBe(true);
  });

  it.each(['io.meshdeck.instance.register.v1', 'io.meshdeck.custom', 'io.meshdeck.control.command.v2'])('refuses the reserved type %s', (type) => {
    const result = DomainEvent.safeParse({ ...event, type });
    expect(result.success).toBe(false);
    expect(issues(result).join()).toMatch(/reserved for the mesh/);
  });

  it.each([
    ['a type with a space', { type: 'order placed' }],
    ['a type with a wildcard', { type: 'order.*' }],
    ['specversion 0.3', { specversion: '0.3' }],
    ['no source', { source: undefined }],
    ['a time without offset', { time: '2025-03-01 09:00:00' }],
  ])('refuses %s', (_label, patch) => {
    expect(DomainEvent.safeParse({ ...event, ...patch }).success).toBe(false);
  });
});

// --- docs/protocol.md stays true --------------------------------------------------------------

type Schema = Record<string, unknown>;
const protocolDoc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const jsonBlocks = [...protocolDoc.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => m[1] as string);
const schemasById = new Map<string, Schema>();
const exampleEvents: Array<Record<string, unknown>> = [];
for (const block of jsonBlocks) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(block);
  } catch {
    continue; // reported by the "every json block parses" test
  }
  const object = parsed as Schema;
  if (typeof object.$id === 'string') schemasById.set(object.$id, object);
  if (object.specversion !== undefined) exampleEvents.push(object);
}

/** Replaces every $ref (to another documented schema or to the same one) by its target, merged with its siblings. */
function inline(node: unknown, root: Schema, depth = 0): unknown {
  if (depth > 50) throw new Error('$ref cycle');
  if (Array.isArray(node)) return node.map((n) => inline(n, root, depth + 1));
  if (!node || typeof node !== 'object') return node;
  const { $ref, ...rest } = node as Schema;
  const out: Schema = {};
  if (typeof $ref === 'string') {
    const [base, pointer = ''] = $ref.split('#');
    const targetRoot = base ? schemasById.get(base) : root;
    if (!targetRoot) throw new Error(`unresolved $ref ${$ref}`);
    let target: unknown = targetRoot;
    for (const segment of pointer.split('/').filter(Boolean)) target = (target as Schema)[segment];
    if (target === undefined) throw new Error(`unresolved $ref ${$ref}`);
    Object.assign(out, inline(target, targetRoot, depth + 1));
  }
  for (const [k, v] of Object.entries(rest)) out[k] = inline(v, root, depth + 1);
  return out;
}

const KEYWORDS = ['type', 'pattern', 'format', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'enum', 'const', 'default'];

/** Every constraint zod's own JSON Schema export states must be in the documented schema too. */
function differences(zod: unknown, doc: unknown, path: string, out: string[]): string[] {
  if (typeof zod !== 'object' || zod === null) {
    if (JSON.stringify(zod) !== JSON.stringify(doc)) out.push(`${path}: code ${JSON.stringify(zod)}, doc ${JSON.stringify(doc)}`);
    return out;
  }
  const z = zod as Schema;
  const d = (doc && typeof doc === 'object' ? doc : {}) as Schema;
  for (const key of KEYWORDS) {
    if (!(key in z)) continue;
    // zod's date-time pattern also checks the calendar; the doc uses format + a simpler pattern.
    if (key === 'pattern' && z.format === 'date-time') continue;
    if (JSON.stringify(z[key]) !== JSON.stringify(d[key])) out.push(`${path}.${key}: code ${JSON.stringify(z[key])}, doc ${JSON.stringify(d[key])}`);
  }
  if ('required' in z) {
    const a = [...(z.required as string[])].sort();
    const b = [...((d.required as string[] | undefined) ?? [])].sort();
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}.required: code ${JSON.stringify(a)}, doc ${JSON.stringify(b)}`);
  }
  if ('properties' in z) {
    const zp = z.properties as Schema;
    const dp = (d.properties ?? {}) as Schema;
    const a = Object.keys(zp).sort();
    const b = Object.keys(dp).sort();
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}.properties: code ${a.join()}, doc ${b.join()}`);
    for (const k of a) if (k in dp) differences(zp[k], dp[k], `${path}.${k}`, out);
  }
  for (const key of ['additionalProperties', 'items', 'propertyNames']) {
    if (key in z) differences(z[key], d[key], `${path}.${key}`, out);
  }
  for (const key of ['prefixItems', 'anyOf', 'oneOf']) {
    if (!(key in z)) continue;
    const za = z[key] as unknown[];
    const da = (d[key] as unknown[] | undefined) ?? [];
    if (za.length !== da.length) out.push(`${path}.${key}: code has ${za.length}, doc ${da.length}`);
    za.forEach((item, i) => differences(item, da[i], `${path}.${key}[${i}]`, out));
  }
  return out;
}

describe('docs/protocol.md', () => {
  it('every json block parses', () => {
    for (const block of jsonBlocks) expect(() => JSON.parse(block), block.slice(0, 120)).not.toThrow();
    expect(jsonBlocks.length).toBeGreaterThan(15);
  });

  it.each(Object.keys(MESSAGE_TYPES) as Array<keyof typeof MESSAGE_TYPES>)('documents the JSON Schema of %s faithfully', (type) => {
    const doc = schemasById.get(`urn:meshdeck:schema:v1:${type}`);
    expect(doc, `no schema with $id urn:meshdeck:schema:v1:${type}`).toBeDefined();
    expect(doc?.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const code = z.toJSONSchema(MESSAGE_TYPES[type], { io: 'input', unrepresentable: 'any' });
    expect(differences(code, inline(doc, doc as Schema), type, [])).toEqual([]);
  });

  it('documents the envelope faithfully', () => {
    const doc = schemasById.get('urn:meshdeck:schema:v1:envelope') as Schema;
    const code = z.toJSONSchema(EnvelopeBase.extend({ data: z.unknown().optional() }), { io: 'input', unrepresentable: 'any' });
    expect(differences(code, inline(doc, doc), 'envelope', [])).toEqual([]);
  });

  it('the documented patterns accept and refuse what the code does', () => {
    const common = (schemasById.get('urn:meshdeck:schema:v1:common') as Schema).$defs as Record<string, Schema>;
    const cases: Array<[string, { safeParse(v: unknown): { success: boolean } }, string[]]> = [
      ['ServiceName', ServiceName, ['checkout', 'Checkout', 'a.b', 'a-', 'a'.repeat(63), 'a'.repeat(64)]],
      ['InstanceId', InstanceId, ['checkout-1', 'a.b', 'pod:x_1', '', 'x'.repeat(129), 'all', 'All', 'all-1']],
      ['Zone', Zone, ['eu-west-1a', 'EU']],
      ['Address', Address, ['10.0.0.1:80', '[::1]:80', 'host', 'host:123456']],
      ['EventTypeName', EventTypeName, ['com.example.x', '.x', 'a b']],
    ];
    for (const [name, schema, values] of cases) {
      const def = common[name] as Schema;
      const pattern = new RegExp(def.pattern as string);
      for (const v of values) {
        const not = def.not as Schema | undefined;
        const docOk = pattern.test(v) && (def.maxLength === undefined || v.length <= (def.maxLength as number)) && !(not && not.const === v);
        expect(docOk, `${name} ${JSON.stringify(v)}`).toBe(schema.safeParse(v).success);
      }
    }
    const dateTime = new RegExp((common.DateTime as Schema).pattern as string);
    for (const t of ['2025-03-01T09:00:00Z', '2025-03-01T09:00:00.120Z', '2025-03-01T10:00:00+01:00', '2025-03-01T09:00Z', '2025-03-01 09:00:00Z', '2025-03-01T09:00:00'])
      expect(dateTime.test(t), t).toBe(z.string().datetime({ offset: true }).safeParse(t).success);
  });

  it('every example message is valid, and every message type has one', () => {
    const covered = new Set<string>();
    for (const event of exampleEvents) {
      const type = String(event.type);
      if (type.startsWith('io.meshdeck.')) {
        const result = decodeMeshEvent(JSON.stringify(event));
        expect(result.ok ? null : result.reason, `example ${type} ${String(event.id)}`).toBeNull();
        covered.add(type);
      } else {
        expect(DomainEvent.safeParse(event).success, `domain event example ${type}`).toBe(true);
      }
    }
    expect([...covered].sort()).toEqual(Object.keys(MESSAGE_TYPES).sort());
  });

  it('names every routing key next to its message', () => {
    for (const key of [
      'registry.<service>.<instanceId>.register',
      'registry.<service>.<instanceId>.heartbeat',
      'registry.<service>.<instanceId>.deregister',
      'telemetry.<service>.<instanceId>',
      'command.<service>.<instanceId>',
      'command.<service>.all',
      'ack.<service>.<instanceId>',
      'endpoints.<service>',
    ])
      expect(protocolDoc).toContain(`\`${key}\``);
  });

  it('states the limits from the code', () => {
    expect(MAX_MESSAGE_BYTES).toBe(262_144);
    expect(protocolDoc).toContain('**Maximum message size: 256 KiB** (262 144 bytes)');
  });
});
