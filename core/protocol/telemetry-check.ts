/**
 * Hand-written validators for the hottest messages, `io.meshdeck.telemetry.batch.v1` and
 * `io.meshdeck.instance.heartbeat.v1` (10 000 of each a second at 10 000 instances), and the
 * CloudEvents envelope around them, for the ingest path: the zod schemas in messages.ts stay the
 * source of truth (docs/protocol.md is checked against them), this only answers faster.
 *
 * Contract, held by core/protocol/telemetry-check.test.ts over valid and mutated messages:
 * `checkTelemetryBatch(x)` is true exactly when `TelemetryBatch.safeParse(x)` succeeds (and
 * `checkHeartbeat(x)` exactly when `InstanceHeartbeat.safeParse(x)` does), and then
 * `x` itself, with zod's defaults filled in place, deep-equals zod's output (key order aside:
 * defaults are appended, zod lists keys in schema order). It says nothing about why a batch is
 * invalid: the decoder asks zod again for anything refused here, so reasons and error paths are
 * zod's, unchanged. Both checks run on values JSON.parse made (no undefined, no Dates, no
 * symbols), or that binary telemetry's reader made, whose sketches are BlobSketch (accepted as
 * sketches: their blobs were checked as they were read); a value the caller does not own must not
 * be given to it (defaults are written in).
 */
import { BlobSketch } from '../telemetry/sketch-codec.js';
import { EnvelopeBase, EVENT_TYPE_NAME_PATTERN, INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN, ZONE_PATTERN } from './messages.js';

/** zod's own RFC 3339 pattern of `time` (z.string().datetime({ offset: true })), so the two cannot differ. */
const DATETIME_PATTERN: RegExp = (() => {
  const checks = (EnvelopeBase.shape.time as unknown as { _zod: { def: { checks?: Array<{ _zod: { def: { format?: unknown; pattern?: unknown } } }> } } })._zod.def.checks ?? [];
  const formats = checks.filter((c) => c._zod.def.format === 'datetime');
  const pattern = formats.length === 1 && checks.length === 1 ? formats[0]!._zod.def.pattern : undefined;
  if (!(pattern instanceof RegExp) || pattern.global || pattern.sticky) {
    throw new TypeError('telemetry-check: EnvelopeBase.time is no longer one zod datetime check with a plain pattern (_zod.def.checks[0]._zod.def.pattern); update the fast validator');
  }
  return pattern;
})();

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** z.number().int(): a finite integer within the safe range. */
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
/** Count: z.number().int().nonnegative().max(MAX_SAFE_INTEGER); Millis is the same. */
const isCount = (v: unknown): v is number => isInt(v) && v >= 0;

/** Code points in `s` (a surrogate pair counts once, a lone surrogate as itself): what zod's min/max of a string measure. */
function codePoints(s: string): number {
  let count = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/** z.string().min(min).max(max), lengths in code points (a code point is one or two UTF-16 units). */
function isString(v: unknown, max: number, min = 0): v is string {
  if (typeof v !== 'string') return false;
  const units = v.length;
  const length = units > max || units < min * 2 ? codePoints(v) : units;
  return length >= min && length <= max;
}
const isServiceName = (v: unknown): boolean => typeof v === 'string' && SERVICE_NAME_PATTERN.test(v);
const isInstanceId = (v: unknown): boolean => typeof v === 'string' && INSTANCE_ID_PATTERN.test(v) && v !== 'all';

/** Every own key of `o` is one of `keys` (zod's .strict(); `for…in` as zod enumerates them). */
function onlyKeys(o: Obj, keys: ReadonlySet<string>): boolean {
  for (const key in o) if (!keys.has(key)) return false;
  return true;
}

/** What EnvelopeBase outputs: its fields only (it strips unknown keys), optional ones only when present. */
export interface CheckedEnvelope {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype?: 'application/json';
  subject?: string;
}

/** The envelope as EnvelopeBase outputs it, or null exactly when EnvelopeBase.safeParse(o) fails. */
export function checkEnvelope(o: Obj): CheckedEnvelope | null {
  const { specversion, id, source, type, time, datacontenttype, subject } = o;
  if (specversion !== '1.0') return null;
  if (!isString(id, 128, 1) || !isString(source, 512, 1) || !isString(type, 256, 1)) return null;
  if (typeof time !== 'string' || !DATETIME_PATTERN.test(time)) return null;
  if (datacontenttype !== undefined && datacontenttype !== 'application/json') return null;
  if (subject !== undefined && !isString(subject, 512)) return null;
  // Same keys as zod's output: optional ones only when present.
  const out: CheckedEnvelope = { specversion, id, source, type, time };
  if (datacontenttype !== undefined) out.datacontenttype = datacontenttype;
  if (subject !== undefined) out.subject = subject;
  return out;
}

const BATCH_KEYS = new Set(['service', 'instanceId', 'zone', 'windowStart', 'windowMs', 'edges', 'events']);
const EDGE_KEYS = new Set(['direction', 'peerService', 'peerInstance', 'requests', 'errors', 'retries', 'latency', 'refused', 'circuit']);
const ERROR_KEYS = new Set(['http5xx', 'http4xx', 'connect', 'timeout']);
const SKETCH_KEYS = new Set(['zero', 'buckets']);
const CIRCUIT_KEYS = new Set(['state', 'since', 'until', 'manual', 'rule', 'reason']);
const EVENTS_KEYS = new Set(['published', 'consumed']);
const PUBLISHED_KEYS = new Set(['type', 'exchange', 'count']);
const CONSUMED_KEYS = new Set(['type', 'queue', 'count', 'failed', 'latency']);

/** A Count field with `.default(0)`: absent becomes 0. */
function defaultCount(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined) {
    o[key] = 0;
    return true;
  }
  return isCount(v);
}

/** SketchWireSchema; a BlobSketch (binary telemetry) is one whose blob was checked when it was read. */
function checkSketch(v: unknown): boolean {
  if (v instanceof BlobSketch) return true;
  if (!isObject(v) || !onlyKeys(v, SKETCH_KEYS) || !isCount(v.zero)) return false;
  const buckets = v.buckets;
  if (!Array.isArray(buckets) || buckets.length > 4096) return false;
  for (let i = 0; i < buckets.length; i++) {
    const b: unknown = buckets[i];
    if (!Array.isArray(b) || b.length !== 2) return false;
    const index: unknown = b[0];
    const count: unknown = b[1];
    if (!isInt(index) || index < -2000 || index > 2000 || !isCount(count) || count < 1) return false;
  }
  return true;
}

/** CircuitReport (defaults filled in). */
function checkCircuit(v: unknown): boolean {
  if (!isObject(v) || !onlyKeys(v, CIRCUIT_KEYS)) return false;
  if (v.state !== 'closed' && v.state !== 'open' && v.state !== 'half-open') return false;
  if (!isCount(v.since)) return false;
  if (v.until !== undefined && !isCount(v.until)) return false;
  if (v.manual === undefined) v.manual = false;
  else if (typeof v.manual !== 'boolean') return false;
  if (v.rule === undefined) v.rule = '';
  else if (!isString(v.rule, 64)) return false;
  if (v.reason === undefined) v.reason = '';
  else if (!isString(v.reason, 512)) return false;
  return true;
}

/** EdgeStats (defaults filled in). */
function checkEdge(v: unknown): boolean {
  if (!isObject(v) || !onlyKeys(v, EDGE_KEYS)) return false;
  if (v.direction !== 'outbound' && v.direction !== 'inbound') return false;
  // union(ServiceName, literal('external')): "external" is itself a valid service name.
  if (!isServiceName(v.peerService) && v.peerService !== 'external') return false;
  if (v.peerInstance !== undefined && !isInstanceId(v.peerInstance)) return false;
  if (!isCount(v.requests)) return false;
  const errors = v.errors;
  if (!isObject(errors) || !onlyKeys(errors, ERROR_KEYS)) return false;
  if (!defaultCount(errors, 'http5xx') || !defaultCount(errors, 'http4xx') || !defaultCount(errors, 'connect') || !defaultCount(errors, 'timeout')) return false;
  if (!defaultCount(v, 'retries')) return false;
  if (!checkSketch(v.latency)) return false;
  if (v.refused !== undefined && !isCount(v.refused)) return false;
  if (v.circuit !== undefined && !checkCircuit(v.circuit)) return false;
  return true;
}

/** EventFlowStats.published / .consumed entries. */
function checkPublished(v: unknown): boolean {
  return isObject(v) && onlyKeys(v, PUBLISHED_KEYS) && typeof v.type === 'string' && EVENT_TYPE_NAME_PATTERN.test(v.type) && isString(v.exchange, 255) && isCount(v.count);
}

function checkConsumed(v: unknown): boolean {
  if (!isObject(v) || !onlyKeys(v, CONSUMED_KEYS)) return false;
  if (typeof v.type !== 'string' || !EVENT_TYPE_NAME_PATTERN.test(v.type) || !isString(v.queue, 255) || !isCount(v.count)) return false;
  if (!defaultCount(v, 'failed')) return false;
  return v.latency === undefined || checkSketch(v.latency);
}

/** A list field with `.max(512).default([])`: absent becomes a new empty array. */
function checkList(o: Obj, key: 'published' | 'consumed', item: (v: unknown) => boolean): boolean {
  const list = o[key];
  if (list === undefined) {
    o[key] = [];
    return true;
  }
  if (!Array.isArray(list) || list.length > 512) return false;
  for (let i = 0; i < list.length; i++) if (!item(list[i])) return false;
  return true;
}

/**
 * True exactly when `TelemetryBatch.safeParse(data)` succeeds; then `data` has zod's defaults
 * filled in and can be used as the parsed batch. False answers say nothing more: ask zod why.
 * Once it answers false, `data` may hold some defaults already (what zod would have read as
 * absent): the decoder gives zod a fresh parse of the original text.
 */
export function checkTelemetryBatch(data: unknown): boolean {
  if (!isObject(data) || !onlyKeys(data, BATCH_KEYS)) return false;
  if (!isServiceName(data.service) || !isInstanceId(data.instanceId)) return false;
  if (typeof data.zone !== 'string' || !ZONE_PATTERN.test(data.zone)) return false;
  if (!isCount(data.windowStart)) return false;
  const windowMs = data.windowMs;
  if (!isInt(windowMs) || windowMs < 100 || windowMs > 60_000) return false;
  const edges = data.edges;
  if (!Array.isArray(edges) || edges.length > 2048) return false;
  for (let i = 0; i < edges.length; i++) if (!checkEdge(edges[i])) return false;
  const events = data.events;
  if (events === undefined) {
    data.events = { published: [], consumed: [] };
    return true;
  }
  if (!isObject(events) || !onlyKeys(events, EVENTS_KEYS)) return false;
  return checkList(events, 'published', checkPublished) && checkList(events, 'consumed', checkConsumed);
}

const HEARTBEAT_KEYS = new Set(['service', 'instanceId', 'seq', 'state', 'weight', 'inflight', 'activeCommands']);

/**
 * True exactly when `InstanceHeartbeat.safeParse(data)` succeeds; then `data` has zod's defaults
 * filled in and can be used as the parsed heartbeat. As checkTelemetryBatch: a false answer may
 * leave defaults written in, and says nothing about why.
 */
export function checkHeartbeat(data: unknown): boolean {
  if (!isObject(data) || !onlyKeys(data, HEARTBEAT_KEYS)) return false;
  if (!isServiceName(data.service) || !isInstanceId(data.instanceId) || !isCount(data.seq)) return false;
  if (data.state === undefined) data.state = 'serving';
  else if (data.state !== 'serving' && data.state !== 'draining') return false;
  const weight = data.weight;
  if (weight !== undefined && (!isInt(weight) || weight < 0 || weight > 10_000)) return false;
  if (!defaultCount(data, 'inflight')) return false;
  const commands = data.activeCommands;
  if (commands === undefined) {
    data.activeCommands = [];
    return true;
  }
  if (!Array.isArray(commands) || commands.length > 64) return false;
  for (let i = 0; i < commands.length; i++) if (!isString(commands[i], 128)) return false;
  return true;
}
