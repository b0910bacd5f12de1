import { describe, expect, it } from 'vitest';
import { jsonDepth, MAX_JSON_DEPTH, serializeJson } from './json-limits.js';

const bytes = (s: string) => Buffer.from(s);
const nest = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('jsonDepth', () => {
  it.each([
    ['1', 0],
    ['{}', 1],
    ['{"a":[1,{"b":[]}]}', 4],
    ['"[[[[{{{{"', 0],
    ['{"a":"\\\\"}', 1],
    ['{"a":"\\"[[["}', 1],
    ['[{}, {}, [[]]]', 3],
  ])('%s has depth %i', (text, depth) => {
    expect(jsonDepth(bytes(text))).toBe(depth);
  });

  it('stops one level past the limit', () => {
    expect(jsonDepth(bytes(nest(MAX_JSON_DEPTH)))).toBe(MAX_JSON_DEPTH);
    expect(jsonDepth(bytes(nest(MAX_JSON_DEPTH + 1)))).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonDepth(bytes(nest(100_000)))).toBe(MAX_JSON_DEPTH + 1);
  });
});

describe('serializeJson', () => {
  it.each([
    null,
    0,
    -1.5,
    'héllo "quoted" \\ \u0000 🙂',
    true,
    [],
    {},
    [1, 'two', null, [3, [4]], { a: { b: [] } }],
    { a: 1, b: [true, false], 'c d': { e: 'f' }, __proto__x: 1 },
  ])('matches JSON.stringify for %j', (value) => {
    expect(serializeJson(value)).toEqual({ ok: true, text: JSON.stringify(value) });
  });

  it('follows JSON.stringify for values JSON has no word for', () => {
    const value = { u: undefined, f: () => 1, s: Symbol('x'), n: Number.NaN, i: -Infinity, d: new Date(0), a: [undefined, () => 1, Symbol('y')] };
    expect(serializeJson(value)).toEqual({ ok: true, text: JSON.stringify(value) });
  });

  it('serialises 100 000 levels without recursion', () => {
    let nested: unknown = [];
    for (let i = 0; i < 100_000; i++) nested = [nested];
    expect(() => JSON.stringify(nested)).toThrow(RangeError);
    const result = serializeJson(nested);
    expect(result.ok && result.text).toBe(nest(100_001));
  });

  it('refuses past the depth and size limits, and BigInt and cycles, with a reason', () => {
    expect(serializeJson(JSON.parse(nest(5)), { maxDepth: 5 }).ok).toBe(true);
    expect(serializeJson(JSON.parse(nest(6)), { maxDepth: 5 })).toEqual({ ok: false, reason: 'nested deeper than 5 levels' });
    // {"a":"…"} is 8 bytes around the string.
    expect(serializeJson({ a: 'x'.repeat(8) }, { maxBytes: 16 })).toEqual({ ok: true, text: `{"a":"${'x'.repeat(8)}"}` });
    expect(serializeJson({ a: 'x'.repeat(9) }, { maxBytes: 16 })).toEqual({ ok: false, reason: 'over 16 bytes' });
    // Bytes, not characters: 5 two-byte characters are 10 bytes.
    expect(serializeJson({ a: 'é'.repeat(5) }, { maxBytes: 16 })).toEqual({ ok: false, reason: 'over 16 bytes' });
    expect(serializeJson({ a: [1n] })).toEqual({ ok: false, reason: 'a BigInt value cannot be serialised as JSON' });
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = { back: cycle };
    expect(serializeJson(cycle)).toEqual({ ok: false, reason: 'the value contains a cycle' });
    // The same object twice is not a cycle.
    const shared = { x: 1 };
    expect(serializeJson({ a: shared, b: shared })).toEqual({ ok: true, text: '{"a":{"x":1},"b":{"x":1}}' });
  });
});
