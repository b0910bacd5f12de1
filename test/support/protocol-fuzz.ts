/**
 * Generated bad input for the protocol decoder: corrupted bytes, wrong-typed and missing fields,
 * unknown types and versions, deep nesting and hostile strings, derived from valid messages with a
 * seeded PRNG so every run sends the same inputs. Used by the decoder's unit tests and by the
 * chaos suite, which publishes them to the real broker.
 */
import { MESSAGE_TYPES } from '../../core/protocol/messages.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** Stands for a 10 000-level nested array (see `replaceDeep` and `expandDeep`). */
export const DEEP = '\u0000deep\u0000';

/** Mutations of valid protocol messages: bytes, values, structure, types and versions. */
export class Fuzzer {
  constructor(readonly random: () => number) {}

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** Paths to every value in the tree (not the root). */
  paths(value: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
    if (Array.isArray(value)) value.forEach((v, i) => (out.push([...prefix, i]), this.paths(v, [...prefix, i], out)));
    else if (value && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) {
        out.push([...prefix, k]);
        this.paths(v, [...prefix, k], out);
      }
    return out;
  }

  parentOf(root: Json, path: Array<string | number>): { parent: Record<string | number, unknown>; key: string | number } {
    let node: unknown = root;
    for (const segment of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[segment];
    return { parent: node as Record<string | number, unknown>, key: path.at(-1) as string | number };
  }

  wrongValue(objectDelivery: boolean): unknown {
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e308,
      -1e308,
      2 ** 53,
      '',
      'x'.repeat(1 + this.int(5000)),
      '\u0000',
      '\ud800',
      '🙂'.repeat(70),
      '..',
      'io.meshdeck.x',
      '2024-02-30T00:00:00Z',
      [],
      {},
      [1, 'two', null],
      { nested: { deeper: [1] } },
      DEEP,
    ];
    if (objectDelivery) values.push(Number.NaN, Number.POSITIVE_INFINITY, -0, undefined, BigInt(7), new Date(0), Symbol('s'));
    return this.pick(values);
  }

  mutateObject(root: Json, objectDelivery: boolean): void {
    const paths = this.paths(root);
    const path = this.pick(paths);
    const { parent, key } = this.parentOf(root, path);
    switch (this.int(6)) {
      case 0:
      case 1:
        parent[key] = this.wrongValue(objectDelivery);
        break;
      case 2:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
        break;
      case 3: {
        const target = parent[key];
        if (target && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, unknown>)[this.pick(['extra', '__proto__', 'constructor', 'seq'])] = this.wrongValue(objectDelivery);
        else if (Array.isArray(target)) for (let i = 0, n = 1 + this.int(3); i < n; i++) target.push(this.wrongValue(objectDelivery));
        else parent[key] = DEEP;
        break;
      }
      case 4:
        parent[key] = DEEP;
        break;
      default: {
        // Another known type or another version over the same data.
        const types = [...Object.keys(MESSAGE_TYPES), 'io.meshdeck.instance.heartbeat.v2', 'io.meshdeck.telemetry.batch.v10', 'io.meshdeck.control.command', 'com.example.x.v1'];
        (root as Record<string, Json>).type = this.pick(types);
      }
    }
  }

  deepArray(levels: number): unknown {
    let nested: unknown = [];
    for (let i = 1; i < levels; i++) nested = [nested];
    return nested;
  }

  replaceDeep(value: unknown): unknown {
    if (value === DEEP) return this.deepArray(10_000);
    if (Array.isArray(value)) return value.map((v) => this.replaceDeep(v));
    if (value && typeof value === 'object' && !(value instanceof Date)) {
      for (const k of Object.keys(value)) (value as Record<string, unknown>)[k] = this.replaceDeep((value as Record<string, unknown>)[k]);
    }
    return value;
  }

  mutateBytes(bytes: Buffer): Buffer {
    let b = Buffer.from(bytes);
    switch (this.int(5)) {
      case 0: // flip bits
        for (let i = 0, n = 1 + this.int(6); i < n && b.length; i++) {
          const at = this.int(b.length);
          b[at] = (b[at] as number) ^ (1 << this.int(8));
        }
        break;
      case 1: {
        // delete a range
        const at = this.int(b.length);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + this.int(20))]);
        break;
      }
      case 2: {
        // insert random bytes or JSON tokens
        const at = this.int(b.length + 1);
        const insert =
          this.random() < 0.5
            ? Buffer.from(Array.from({ length: 1 + this.int(8) }, () => this.int(256)))
            : Buffer.from(this.pick(['{', '}', '[', ']', '"', ',', ':', 'null', '"data":', '\\u0000', '\\', '1e999', '-', '.5']));
        b = Buffer.concat([b.subarray(0, at), insert, b.subarray(at)]);
        break;
      }
      case 3: // truncate
        b = b.subarray(0, this.int(b.length));
        break;
      default: {
        // duplicate a slice somewhere else
        const from = this.int(b.length);
        const slice = b.subarray(from, from + 1 + this.int(40));
        const at = this.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), slice, b.subarray(at)]);
      }
    }
    return b;
  }
}

/** Text with the `DEEP` marker (as produced by `mutateObject`) expanded into a 10 000-level array. */
export function expandDeep(json: string): string {
  const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
  return json.split(JSON.stringify(DEEP)).join(deep);
}

// --- a labelled corpus of bad messages -----------------------------------------------------------

export type HostileCategory = 'corrupted-bytes' | 'wrong-type' | 'truncated' | 'oversized' | 'unknown-version' | 'deeply-nested' | 'hostile-string';

export interface HostileMessage {
  category: HostileCategory;
  body: Buffer;
  /** The AMQP content type it is sent with (a client parses application/json bodies itself). */
  contentType: string;
}

/** Strings a name field must refuse: traversal, control and bidi characters, markup, SQL, huge. */
export const HOSTILE_STRINGS: readonly string[] = [
  '../../etc/passwd',
  '..',
  'a\u0000b',
  'x\r\nSet-Cookie: a=b',
  '\u202egnp.exe',
  '<script>alert(1)</script>',
  "'; DROP TABLE instances; --",
  '__proto__',
  'constructor',
  '${jndi:ldap://127.0.0.1/a}',
  '%s%s%s%n',
  '\ud800',
  '🙂'.repeat(40),
  'A'.repeat(100_000),
  ' leading-space',
  'UPPER',
];

const CATEGORY_WEIGHTS: ReadonlyArray<[HostileCategory, number]> = [
  ['corrupted-bytes', 34],
  ['wrong-type', 30],
  ['truncated', 10],
  ['unknown-version', 10],
  ['hostile-string', 11],
  ['deeply-nested', 4.5],
  ['oversized', 0.5],
];

const NAME_FIELDS = ['service', 'instanceId', 'zone', 'address', 'peerService'] as const;

/**
 * One bad message derived from one of `bases` (encoded valid messages). `oversizeBytes` is the
 * protocol's limit: oversized bodies are valid JSON just over it.
 */
export function hostileMessage(fuzz: Fuzzer, bases: readonly Buffer[], oversizeBytes: number): HostileMessage {
  let roll = fuzz.random() * 100;
  let category: HostileCategory = 'corrupted-bytes';
  for (const [c, w] of CATEGORY_WEIGHTS) {
    if (roll < w) {
      category = c;
      break;
    }
    roll -= w;
  }
  const base = fuzz.pick(bases);
  const root = () => JSON.parse(base.toString()) as Record<string, Json>;
  // A tenth go out as application/json, which rabbitmq-client hands over already parsed.
  const contentType = fuzz.random() < 0.1 ? 'application/json' : fuzz.random() < 0.05 ? 'text/plain' : 'application/cloudevents+json';
  let body: Buffer;
  switch (category) {
    case 'corrupted-bytes': {
      let b = base;
      for (let i = 0, n = 1 + fuzz.int(3); i < n; i++) b = fuzz.mutateBytes(b);
      body = b;
      break;
    }
    case 'wrong-type': {
      const r = root();
      for (let i = 0, n = 1 + fuzz.int(3); i < n; i++) fuzz.mutateObject(r, false);
      body = Buffer.from(expandDeep(JSON.stringify(r)));
      break;
    }
    case 'truncated':
      body = base.subarray(0, fuzz.int(base.length));
      break;
    case 'unknown-version': {
      const r = root();
      const type = String(r.type);
      r.type = fuzz.pick([type.replace(/\.v1$/, `.v${2 + fuzz.int(20)}`), type.replace(/\.v1$/, ''), `io.meshdeck.unknown.v1`, `${type}.v1`]);
      body = Buffer.from(JSON.stringify(r));
      break;
    }
    case 'hostile-string': {
      const r = root();
      const data = r.data as Record<string, Json>;
      const fields = NAME_FIELDS.filter((f) => typeof data[f] === 'string');
      const field = fields.length ? fuzz.pick(fields) : 'service';
      data[field] = fuzz.pick(HOSTILE_STRINGS);
      body = Buffer.from(JSON.stringify(r));
      break;
    }
    case 'deeply-nested': {
      const r = root();
      if (fuzz.random() < 0.5) r.data = DEEP;
      else (r.data as Record<string, Json>)[fuzz.pick(['service', 'extra', 'edges'])] = DEEP;
      body = Buffer.from(expandDeep(JSON.stringify(r)));
      break;
    }
    case 'oversized': {
      const r = root();
      (r.data as Record<string, Json>).padding = 'p'.repeat(oversizeBytes);
      body = Buffer.from(JSON.stringify(r));
      break;
    }
  }
  return { category, body, contentType };
}

/** The body as a rabbitmq-client consumer receives it for that content type. */
export function asDelivered(message: Pick<HostileMessage, 'body' | 'contentType'>): unknown {
  if (message.contentType === 'text/plain') return message.body.toString();
  if (message.contentType === 'application/json') {
    try {
      return JSON.parse(message.body.toString()) as unknown;
    } catch {
      return message.body;
    }
  }
  return message.body;
}
