/**
 * The gateway's routes: the routes file format (JSON, validated with zod), request matching,
 * path rewriting and the weighted split. Everything here is pure (no I/O except
 * loadRoutesFile, randomness injected), so it is unit-tested on its own. docs/gateway.md is the
 * user-facing reference.
 *
 *   const table = loadRoutesFile('routes.json');     // throws RoutesError naming field paths
 *   const route = table.match({ method, path, headers });
 *   const service = pickWeighted(route.split, Math.random);
 *   const forwardPath = rewritePath(route, path, search);
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { extname } from 'node:path';
import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../../core/lib/errors.js';
import { ServiceName } from '../../core/protocol/messages.js';

// --- limits ------------------------------------------------------------------------------------

export const MAX_ROUTES = 1000;
export const MAX_SPLIT = 20;
export const MAX_ROUTES_FILE_BYTES = 1024 * 1024;
/** Longest header-match regular expression (characters, before anchoring). */
export const MAX_REGEX_LENGTH = 128;
/** Repetitions (`*`, `+`, `{n,}`, `{n,m}` with m > 1) allowed in one regex. */
export const MAX_REGEX_REPETITIONS = 2;
/** Optional parts and alternatives (`?`, `{0,1}`, `|`) allowed in one regex. */
export const MAX_REGEX_BRANCHES = 3;
/** Header values longer than this never match a regex (they still match exact strings). */
export const MAX_REGEX_INPUT = 512;

// --- safe regular expressions ------------------------------------------------------------------

/**
 * Why a header-match pattern is refused, or null when it is acceptable. JavaScript regexes
 * backtrack, so an arbitrary pattern can take exponential time on a crafted header. Accepted
 * patterns have star height 1 (a repeated group contains no repetition and no alternative), no
 * backreferences or lookaround, and few repetitions and branches; with header values capped at
 * MAX_REGEX_INPUT characters the worst case stays within a few milliseconds.
 */
export function unsafeRegexReason(pattern: string): string | null {
  if (pattern.length > MAX_REGEX_LENGTH) return `at most ${MAX_REGEX_LENGTH} characters`;
  interface Frame {
    repeats: boolean;
    branches: boolean;
  }
  const stack: Frame[] = [{ repeats: false, branches: false }];
  let repetitions = 0;
  let branches = 0;
  /** What a quantifier at the current position applies to. */
  let last: 'none' | 'atom' | Frame = 'none';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    const top = stack.at(-1)!;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'backreferences are not allowed';
      i += next === 'u' && pattern[i + 2] === '{' ? pattern.indexOf('}', i) + 1 || pattern.length : 2;
      last = 'atom';
      continue;
    }
    if (c === '[') {
      // JavaScript classes end at the first unescaped "]" ("[]" is an empty class, "[^]" any).
      let j = i + 1;
      if (pattern[j] === '^') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      i = j + 1;
      last = 'atom';
      continue;
    }
    if (c === '(') {
      if (/^\(\?<?[=!]/.test(pattern.slice(i, i + 4))) return 'lookahead and lookbehind are not allowed';
      stack.push({ repeats: false, branches: false });
      if (pattern.startsWith('(?:', i)) i += 3;
      else if (pattern.startsWith('(?<', i)) i = pattern.indexOf('>', i) + 1 || pattern.length;
      else i += 1;
      last = 'none';
      continue;
    }
    if (c === ')') {
      const frame = stack.length > 1 ? stack.pop()! : { repeats: false, branches: false };
      const parent = stack.at(-1)!;
      parent.repeats ||= frame.repeats;
      parent.branches ||= frame.branches;
      last = frame;
      i += 1;
      continue;
    }
    if (c === '|') {
      top.branches = true;
      branches += 1;
      last = 'none';
      i += 1;
      continue;
    }
    const braces = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i)) : null;
    if (c === '*' || c === '+' || c === '?' || braces) {
      const min = c === '+' ? 1 : c === '*' || c === '?' ? 0 : Number(braces![1]);
      const max = c === '*' || c === '+' ? Infinity : c === '?' ? 1 : braces![2] === undefined ? min : braces![3] === '' ? Infinity : Number(braces![3]);
      if (max > 1) {
        if (typeof last === 'object' && (last.repeats || last.branches)) return 'a repeated group may not contain a repetition or an alternative, as in "(a+)+" or "(a|b)*"';
        // A fixed count ({3}) is no choice point; a range or an open repetition is.
        if (max > min) {
          repetitions += 1;
          top.repeats = true;
        }
      } else if (max === 1 && min === 0) {
        branches += 1;
        top.branches = true;
      }
      i += braces ? braces[0].length : 1;
      if (pattern[i] === '?') i += 1; // lazy
      last = 'none';
      continue;
    }
    last = 'atom';
    i += 1;
  }
  if (repetitions > MAX_REGEX_REPETITIONS) return `at most ${MAX_REGEX_REPETITIONS} repetitions (*, +, {n,m})`;
  if (branches > MAX_REGEX_BRANCHES) return `at most ${MAX_REGEX_BRANCHES} optional parts and alternatives (?, |)`;
  return null;
}

/** The pattern as a full-value match: ^(?:pattern)$, unicode mode. */
export function compileHeaderRegex(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`, 'u');
}

// --- schema ------------------------------------------------------------------------------------

const Int = (min: number, max: number) => z.number().int('a whole number').min(min).max(max);

const PathPrefix = z
  .string()
  .max(1024)
  .regex(/^\/[^?#\s]*$/, 'a path starting with "/", without "?", "#" or spaces');

const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'an HTTP header name')
  .transform((name) => name.toLowerCase());

const HeaderRegex = z
  .string()
  .min(1)
  .superRefine((pattern, ctx) => {
    const reason = unsafeRegexReason(pattern);
    if (reason) {
      ctx.addIssue({ code: 'custom', message: `unsafe regular expression: ${reason}` });
      return;
    }
    try {
      compileHeaderRegex(pattern);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

/** A header condition: a string (exact, case-sensitive) or { "regex": "..." } (full match). */
const HeaderMatch = z.preprocess(
  (value) => (typeof value === 'string' ? { exact: value } : value),
  z
    .object(
      {
        exact: z.string().max(4096).optional(),
        regex: HeaderRegex.optional(),
      },
      { error: 'a string (exact match) or { "regex": "..." }' },
    )
    .strict()
    .refine((m) => (m.exact === undefined) !== (m.regex === undefined), 'give exactly one of a string, "exact" or "regex"'),
);

const Method = z
  .string()
  .regex(/^[A-Za-z]{1,20}$/, 'an HTTP method, e.g. GET')
  .transform((m) => m.toUpperCase());

const Match = z
  .object({
    pathPrefix: PathPrefix,
    headers: z
      .record(HeaderName, HeaderMatch)
      .refine((h) => Object.keys(h).length <= 16, 'at most 16 header conditions')
      .optional(),
    methods: z.array(Method).min(1).max(16).optional(),
  })
  .strict();

const SplitEntry = z
  .object({
    service: ServiceName,
    weight: Int(0, 10_000),
  })
  .strict();

const Route = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, ".", "_" or "-", 1-63 characters'),
    match: Match,
    /** Shorthand for a split with one service. */
    service: ServiceName.optional(),
    split: z.array(SplitEntry).min(1).max(MAX_SPLIT).optional(),
    stripPrefix: z.boolean().default(false),
    rewritePrefix: PathPrefix.optional(),
    /** Per-try timeout (ms); the gateway's --timeout when absent. */
    timeoutMs: Int(1, 600_000).optional(),
    /** Tries per request, the first included; the gateway's --attempts when absent. */
    attempts: Int(1, 10).optional(),
  })
  .strict()
  .superRefine((route, ctx) => {
    if ((route.service === undefined) === (route.split === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['split'], message: 'give either "service" or "split" (not both)' });
      return;
    }
    if (route.split) {
      if (route.split.every((s) => s.weight === 0)) ctx.addIssue({ code: 'custom', path: ['split'], message: 'at least one weight must be above 0' });
      const seen = new Set<string>();
      route.split.forEach((s, i) => {
        if (seen.has(s.service)) ctx.addIssue({ code: 'custom', path: ['split', i, 'service'], message: `"${s.service}" is listed twice` });
        seen.add(s.service);
      });
    }
  });

export const RoutesFileSchema = z
  .object({
    routes: z.array(Route).max(MAX_ROUTES),
  })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.routes.forEach((route, i) => {
      if (seen.has(route.name)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `duplicate route name "${route.name}"` });
      seen.add(route.name);
    });
  });

/** The routes file as written (what the Gateway constructor accepts as an object). */
export type RoutesConfig = z.input<typeof RoutesFileSchema>;

// --- compiled routes ---------------------------------------------------------------------------

export interface SplitTarget {
  service: string;
  weight: number;
}

export interface HeaderCondition {
  name: string;
  exact?: string;
  regex?: RegExp;
}

export interface CompiledRoute {
  name: string;
  pathPrefix: string;
  headers: HeaderCondition[];
  /** Upper-case; null matches every method. */
  methods: ReadonlySet<string> | null;
  split: SplitTarget[];
  stripPrefix: boolean;
  rewritePrefix: string | null;
  timeoutMs: number | undefined;
  attempts: number | undefined;
}

export interface RouteRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
}

export class RoutesError extends ValidationError {
  constructor(message: string, issues: FieldIssue[], source: string) {
    super(message, issues, { source });
    this.name = 'RoutesError';
  }
}

/**
 * `routes[2].split[0].weight` from zod's ['routes', 2, 'split', 0, 'weight']; keys that are not
 * identifiers are quoted: `routes[0].match.headers["x-canary"]`.
 */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (!/^[A-Za-z_$][\w$]*$/.test(String(key))) out += `[${JSON.stringify(String(key))}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') return { path, message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` };
    if (issue.code === 'invalid_key') return { path, message: `bad key: ${issue.issues.map((i) => i.message).join('; ')}` };
    return { path, message: issue.message };
  });
}

function compile(route: z.output<typeof Route>): CompiledRoute {
  return {
    name: route.name,
    pathPrefix: route.match.pathPrefix,
    headers: Object.entries(route.match.headers ?? {}).map(([name, m]) =>
      m.regex !== undefined ? { name, regex: compileHeaderRegex(m.regex) } : { name, exact: m.exact! },
    ),
    methods: route.match.methods ? new Set(route.match.methods) : null,
    split: route.split ?? [{ service: route.service!, weight: 100 }],
    stripPrefix: route.stripPrefix,
    rewritePrefix: route.rewritePrefix ?? null,
    timeoutMs: route.timeoutMs,
    attempts: route.attempts,
  };
}

/** An ordered, validated route list. */
export class RouteTable {
  constructor(readonly routes: readonly CompiledRoute[]) {}

  get size(): number {
    return this.routes.length;
  }

  /** The first route that matches, in file order. */
  match(request: RouteRequest): CompiledRoute | null {
    return matchRoute(this.routes, request);
  }
}

/** Validates a routes object; throws RoutesError listing every problem with its field path. */
export function parseRoutes(input: unknown, source = 'routes'): RouteTable {
  const result = RoutesFileSchema.safeParse(input);
  if (!result.success) {
    const issues = issuesOf(result.error);
    const lines = issues.map((i) => `  ${i.path || '(top level)'}: ${i.message}`);
    throw new RoutesError(`${source} is not a valid routes file:\n${lines.join('\n')}`, issues, source);
  }
  return new RouteTable(result.data.routes.map(compile));
}

/** Parses JSON text (errors give line and column) and validates it. */
export function parseRoutesJson(text: string, source = 'routes'): RouteTable {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /position (\d+)/.exec(message);
    let where = '';
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      where = ` (line ${line}, column ${before.length - before.lastIndexOf('\n')})`;
    }
    throw new RoutesError(`${source} is not valid JSON${where}: ${message}`, [{ path: '', message }], source);
  }
  return parseRoutes(input, source);
}

/** Reads and validates a `.json` routes file. */
export function loadRoutesFile(file: string): RouteTable {
  if (extname(file).toLowerCase() !== '.json') {
    throw new RoutesError(`routes file ${file}: must be a .json file (YAML is not supported)`, [{ path: '', message: 'not a .json file' }], file);
  }
  let text: string;
  try {
    const buffer = readFileSync(file);
    if (buffer.length > MAX_ROUTES_FILE_BYTES) throw new Error(`larger than ${MAX_ROUTES_FILE_BYTES} bytes`);
    text = buffer.toString('utf8');
  } catch (err) {
    throw new RoutesError(`routes file ${file} cannot be read: ${(err as Error).message}`, [{ path: '', message: (err as Error).message }], file);
  }
  return parseRoutesJson(text, `routes file ${file}`);
}

// --- matching ----------------------------------------------------------------------------------

/**
 * Segment-aware prefix match: "/api" matches "/api", "/api/x" and "/api?q" paths but not
 * "/apis"; a prefix ending in "/" matches anything below it; "/" matches every path.
 */
export function pathMatchesPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length || prefix.endsWith('/')) return true;
  return path[prefix.length] === '/';
}

function headerValues(headers: IncomingHttpHeaders, name: string): string[] {
  const value = headers[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function headerMatches(condition: HeaderCondition, headers: IncomingHttpHeaders): boolean {
  const values = headerValues(headers, condition.name);
  if (condition.regex) {
    const regex = condition.regex;
    return values.some((v) => v.length <= MAX_REGEX_INPUT && regex.test(v));
  }
  return values.some((v) => v === condition.exact);
}

export function routeMatches(route: CompiledRoute, request: RouteRequest): boolean {
  if (!pathMatchesPrefix(request.path, route.pathPrefix)) return false;
  if (route.methods && !route.methods.has(request.method.toUpperCase())) return false;
  return route.headers.every((h) => headerMatches(h, request.headers));
}

/** First match wins: routes are tried in order and the first whose conditions all hold is used. */
export function matchRoute(routes: readonly CompiledRoute[], request: RouteRequest): CompiledRoute | null {
  for (const route of routes) if (routeMatches(route, request)) return route;
  return null;
}

/**
 * The path sent upstream: with stripPrefix the matched prefix is removed; with rewritePrefix
 * that prefix is put in front of what remains (one "/" between them). `search` is the query
 * string including its "?" (or "").
 */
export function rewritePath(route: Pick<CompiledRoute, 'pathPrefix' | 'stripPrefix' | 'rewritePrefix'>, path: string, search = ''): string {
  let rest = route.stripPrefix ? path.slice(route.pathPrefix.length) : path;
  if (route.rewritePrefix !== null) rest = joinPath(route.rewritePrefix, rest);
  if (!rest.startsWith('/')) rest = `/${rest}`;
  return `${rest}${search}`;
}

function joinPath(prefix: string, rest: string): string {
  if (rest === '') return prefix;
  if (prefix.endsWith('/') && rest.startsWith('/')) return prefix + rest.slice(1);
  if (!prefix.endsWith('/') && !rest.startsWith('/')) return `${prefix}/${rest}`;
  return prefix + rest;
}

/**
 * The request target split into a normalised path (dot segments resolved, so "/api/../admin"
 * cannot pass for "/api") and the query string; null when it is not a usable target.
 */
export function normaliseTarget(url: string): { path: string; search: string } | null {
  try {
    const parsed = url.startsWith('/') ? new URL(`http://gateway${url}`) : new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
    return { path: parsed.pathname, search: parsed.search };
  } catch {
    return null;
  }
}

// --- weighted split ----------------------------------------------------------------------------

/**
 * Picks a target with probability weight / total weight. `random` returns a float in [0, 1)
 * (Math.random, or a seeded PRNG in tests). Targets with weight 0 are never picked.
 */
export function pickWeighted<T extends { weight: number }>(targets: readonly T[], random: () => number): T {
  let total = 0;
  for (const t of targets) total += Math.max(0, t.weight);
  if (targets.length === 0 || total <= 0) throw new Error('pickWeighted needs at least one target with weight > 0');
  let r = random() * total;
  for (const t of targets) {
    const w = Math.max(0, t.weight);
    if (r < w) return t;
    r -= w;
  }
  // Floating-point leftovers (random() close to 1): the last target with weight.
  return [...targets].reverse().find((t) => t.weight > 0)!;
}
