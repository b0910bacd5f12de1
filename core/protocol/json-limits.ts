/**
 * Bounds on untrusted JSON that JSON.parse and JSON.stringify do not give: nesting depth checked
 * on the raw bytes before parsing (a 10 000-level array costs V8 milliseconds to parse and overflows
 * the stack when serialised again), and a serialiser without recursion for bodies that arrive
 * already parsed (rabbitmq-client parses `application/json` itself).
 */

/** Protocol messages nest at most 6 levels; anything past this is refused before parsing. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The nesting depth of JSON text, counting `{` and `[` outside strings, stopping as soon as it
 * passes `limit` (so hostile input costs at most `limit` levels of scanning). Not a validator:
 * malformed text is left to JSON.parse.
 */
export function jsonDepth(bytes: Uint8Array, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--;
  }
  return max;
}

export type SerializeResult = { ok: true; text: string } | { ok: false; reason: string };

interface Frame {
  container: object;
  /** Closing character. */
  close: ']' | '}';
  entries: Array<[string | null, unknown]>;
  index: number;
  wrote: boolean;
}

/**
 * JSON.stringify without recursion, for values that came from JSON.parse (or close to it), with
 * optional limits on output size and depth. Follows JSON.stringify's rules for what it meets:
 * toJSON, non-finite numbers → null, undefined/functions/symbols skipped in objects and null in
 * arrays; a BigInt or a cycle is refused with a reason instead of throwing.
 */
export function serializeJson(value: unknown, limits: { maxBytes?: number; maxDepth?: number } = {}): SerializeResult {
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  const maxDepth = limits.maxDepth ?? Number.POSITIVE_INFINITY;
  const out: string[] = [];
  let length = 0;
  const stack: Frame[] = [];
  const open = new Set<object>();
  const write = (s: string) => {
    out.push(s);
    length += s.length;
  };

  /** Writes a scalar or opens a container (pushing its frame); 'skip' for a value an object leaves out. */
  const emit = (raw: unknown, inArray: boolean): SerializeResult | 'skip' | null => {
    let v = raw;
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
    switch (typeof v) {
      case 'string':
        write(JSON.stringify(v));
        return null;
      case 'number':
        write(Number.isFinite(v) ? String(v) : 'null');
        return null;
      case 'boolean':
        write(v ? 'true' : 'false');
        return null;
      case 'bigint':
        return { ok: false, reason: 'a BigInt value cannot be serialised as JSON' };
      case 'undefined':
      case 'function':
      case 'symbol':
        if (inArray) {
          write('null');
          return null;
        }
        return 'skip';
      default:
        if (v === null) {
          write('null');
          return null;
        }
    }
    const obj = v as object;
    if (open.has(obj)) return { ok: false, reason: 'the value contains a cycle' };
    if (stack.length + 1 > maxDepth) return { ok: false, reason: `nested deeper than ${maxDepth} levels` };
    open.add(obj);
    if (Array.isArray(obj)) {
      write('[');
      stack.push({ container: obj, close: ']', entries: obj.map((item) => [null, item]), index: 0, wrote: false });
    } else {
      write('{');
      stack.push({ container: obj, close: '}', entries: Object.entries(obj), index: 0, wrote: false });
    }
    return null;
  };

  const first = emit(value, true);
  if (first && first !== 'skip') return first;
  while (stack.length > 0) {
    if (length > maxBytes) return { ok: false, reason: `over ${maxBytes} bytes` };
    const frame = stack[stack.length - 1]!;
    if (frame.index >= frame.entries.length) {
      write(frame.close);
      stack.pop();
      open.delete(frame.container);
      continue;
    }
    const [key, item] = frame.entries[frame.index++]!;
    const mark = out.length;
    const markLength = length;
    if (frame.wrote) write(',');
    if (key !== null) write(`${JSON.stringify(key)}:`);
    const result = emit(item, key === null);
    if (result === 'skip') {
      out.length = mark;
      length = markLength;
      continue;
    }
    if (result) return result;
    frame.wrote = true;
  }
  const text = out.join('');
  if (Buffer.byteLength(text) > maxBytes) return { ok: false, reason: `over ${maxBytes} bytes` };
  return { ok: true, text };
}
