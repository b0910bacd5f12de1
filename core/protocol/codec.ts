/**
 * Encoding and decoding of protocol messages. decode never throws: anything that is not a
 * valid v1 message comes back as { ok: false, reason } for the consumer to dead-letter.
 */
import { jsonDepth, MAX_JSON_DEPTH, serializeJson } from './json-limits.js';
import { randomUUID } from 'node:crypto';
import { checkEnvelope, checkHeartbeat, checkTelemetryBatch, type CheckedEnvelope } from './telemetry-check.js';
import { isBinaryTelemetry, readBinaryTelemetry, TELEMETRY_TYPE, writeBinaryTelemetry } from './binary-telemetry.js';
import type { z } from 'zod';
import {
  EnvelopeBase,
  MAX_MESSAGE_BYTES,
  MESSAGE_TYPES,
  isMeshType,
  type MeshDataInput,
  type MeshEvent,
  type MeshMessageType,
} from './messages.js';

export type DecodeResult = { ok: true; event: MeshEvent } | { ok: false; reason: string; type: string | null };

export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

export interface DecodeOptions {
  /** Validate with the zod schemas only, without the hand-written fast path (tests compare the two). */
  zodOnly?: boolean;
}

/** Accepts the raw body as delivered (Buffer, string, or an object already parsed by the client). */
export function decodeMeshEvent(body: unknown, expected?: readonly MeshMessageType[], options?: DecodeOptions): DecodeResult {
  let parsed: unknown;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    if (bytes.length > MAX_MESSAGE_BYTES) return { ok: false, reason: `message is ${bytes.length} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`, type: null };
    if (bytes.length === 0) return { ok: false, reason: 'empty body', type: null };
    if (isBinaryTelemetry(bytes)) {
      // Binary telemetry (docs/protocol.md §6.4.1): read by its layout, then held to the same
      // rules as JSON — the hand-written checks, and for anything they refuse, zod on its JSON form.
      const read = readBinaryTelemetry(bytes);
      if (!read.ok) return { ok: false, reason: read.reason, type: TELEMETRY_TYPE };
      if (expected && !expected.includes(TELEMETRY_TYPE)) return { ok: false, reason: `${TELEMETRY_TYPE} is not expected on this queue`, type: TELEMETRY_TYPE };
      const envelope = options?.zodOnly ? null : checkEnvelope(read.envelope);
      if (envelope && checkTelemetryBatch(read.data)) return { ok: true, event: { ...envelope, data: read.data } as MeshEvent };
      // BlobSketch writes itself as { zero, buckets }: zod sees what the JSON form would carry.
      parsed = JSON.parse(JSON.stringify({ ...read.envelope, data: read.data }));
      return decodeParsed(parsed, expected);
    }
    if (jsonDepth(bytes) > MAX_JSON_DEPTH) return { ok: false, reason: `body nests deeper than ${MAX_JSON_DEPTH} levels`, type: null };
    const text = bytes.toString();
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return { ok: false, reason: `body is not valid JSON (${(err as Error).message.slice(0, 120)})`, type: null };
    }
    // Telemetry batches and heartbeats, the bulk of all traffic, are accepted by hand-written
    // checks that agree with zod (telemetry-check.ts); anything they do not accept goes the zod
    // way below, from a fresh parse (a check may have filled in defaults), so reasons are zod's.
    if (!options?.zodOnly) {
      const fast = decodeFast(parsed, expected);
      if (fast) return fast;
      if (fast === null) parsed = JSON.parse(text);
    }
  } else {
    // Already parsed by the client (content type application/json): hold it to the same limits,
    // measured on its JSON text.
    const text = serializeJson(body, { maxBytes: MAX_MESSAGE_BYTES, maxDepth: MAX_JSON_DEPTH });
    if (!text.ok) return { ok: false, reason: `body refused: ${text.reason === `over ${MAX_MESSAGE_BYTES} bytes` ? `over the ${MAX_MESSAGE_BYTES}-byte limit` : text.reason}`, type: null };
    parsed = body;
  }
  return decodeParsed(parsed, expected);
}

/** The zod path: `parsed` (JSON's values) held to the envelope's and the type's schemas, with zod's reasons. */
function decodeParsed(parsed: unknown, expected: readonly MeshMessageType[] | undefined): DecodeResult {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, reason: 'body is not a JSON object (expected a CloudEvents 1.0 envelope)', type: null };
  }
  const envelope = EnvelopeBase.safeParse(parsed);
  const rawType = typeof (parsed as { type?: unknown }).type === 'string' ? ((parsed as { type: string }).type.slice(0, 256)) : null;
  if (!envelope.success) return { ok: false, reason: `invalid CloudEvents envelope: ${describe(envelope.error)}`, type: rawType };
  const type = envelope.data.type;
  if (!isMeshType(type)) {
    const version = /\.v(\d+)$/.exec(type)?.[1];
    const known = Object.keys(MESSAGE_TYPES).some((t) => t.replace(/\.v\d+$/, '') === type.replace(/\.v\d+$/, ''));
    const reason = known && version ? `unsupported protocol version v${version} of ${type.replace(/\.v\d+$/, '')} (this core speaks v1)` : `unknown message type ${type}`;
    return { ok: false, reason, type };
  }
  if (expected && !expected.includes(type)) return { ok: false, reason: `${type} is not expected on this queue`, type };
  const data = MESSAGE_TYPES[type].safeParse((parsed as { data?: unknown }).data);
  if (!data.success) return { ok: false, reason: `invalid ${type} data: ${describe(data.error)}`, type };
  return { ok: true, event: { ...envelope.data, type, data: data.data } as MeshEvent };
}

/** The message types with a hand-written check of their data (telemetry-check.ts). */
const FAST_CHECKS: Partial<Record<MeshMessageType, (data: unknown) => boolean>> = {
  'io.meshdeck.telemetry.batch.v1': checkTelemetryBatch,
  'io.meshdeck.instance.heartbeat.v1': checkHeartbeat,
};

/**
 * The fast path: the decoded message, or null when it is not sure (`parsed` may then hold
 * defaults written in), or undefined when the message is not of a type with a fast check that
 * this queue expects (`parsed` untouched).
 */
function decodeFast(parsed: unknown, expected: readonly MeshMessageType[] | undefined): DecodeResult | null | undefined {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const raw = parsed as Record<string, unknown>;
  const type = raw.type as MeshMessageType;
  const check = typeof raw.type === 'string' && Object.hasOwn(FAST_CHECKS, type) ? FAST_CHECKS[type] : undefined;
  if (!check || (expected && !expected.includes(type))) return undefined;
  const envelope = checkEnvelope(raw);
  if (!envelope) return undefined;
  if (!check(raw.data)) return null;
  // The envelope is a new object of its own (EnvelopeBase's fields only): the event is it, plus data.
  const event = envelope as CheckedEnvelope & { data?: unknown };
  event.data = raw.data;
  return { ok: true, event: event as MeshEvent };
}

export interface EncodeOptions {
  /** CloudEvents source, e.g. meshdeck://checkout/checkout-1 or meshdeck://console/<id>. */
  source: string;
  id?: string;
  time?: Date;
  subject?: string;
  /**
   * 'binary': the binary layout of docs/protocol.md §6.4.1 (telemetry batches only; cores read
   * it since it was added to v1). Default 'json'.
   */
  encoding?: 'json' | 'binary';
}

/** Validates the data against its schema (applying defaults) and returns the encoded body. */
export function encodeMeshEvent<T extends MeshMessageType>(type: T, data: MeshDataInput<T>, options: EncodeOptions): Buffer {
  const checked = MESSAGE_TYPES[type].safeParse(data);
  if (!checked.success) throw new EncodeError(`refusing to send invalid ${type}: ${describe(checked.error)}`);
  const time = options.time ?? new Date();
  if (Number.isNaN(time.getTime())) throw new EncodeError(`refusing to send ${type}: time is an invalid Date`);
  const envelope = {
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source,
    type,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    ...(options.subject ? { subject: options.subject } : {}),
  };
  // What decode would refuse must not be sent (empty or over-long source, id or subject).
  const envelopeCheck = EnvelopeBase.safeParse(envelope);
  if (!envelopeCheck.success) throw new EncodeError(`refusing to send ${type} with an invalid envelope: ${describe(envelopeCheck.error)}`);
  let body: Buffer;
  if (options.encoding === 'binary') {
    if (type !== TELEMETRY_TYPE) throw new EncodeError(`${type} has no binary form (only ${TELEMETRY_TYPE})`);
    body = writeBinaryTelemetry({ id: envelope.id, source: envelope.source, time: time.getTime(), ...(options.subject ? { subject: options.subject } : {}) }, checked.data as MeshEvent<typeof TELEMETRY_TYPE>['data']);
  } else body = Buffer.from(JSON.stringify({ ...envelope, data: checked.data }));
  if (body.length > MAX_MESSAGE_BYTES) throw new EncodeError(`${type} is ${body.length} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`);
  return body;
}
