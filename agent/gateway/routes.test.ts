/** The routes file: validation errors with field paths, matching, rewriting, the weighted split. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/balancer/index.js';
import {
  MAX_REGEX_INPUT,
  RoutesError,
  compileHeaderRegex,
  formatPath,
  loadRoutesFile,
  matchRoute,
  normaliseTarget,
  parseRoutes,
  parseRoutesJson,
  pathMatchesPrefix,
  pickWeighted,
  rewritePath,
  unsafeRegexReason,
  type RouteRequest,
  type RoutesConfig,
} from './routes.js';

const EXAMPLE: RoutesConfig = {
  routes: [
    {
      name: 'checkout-canary',
      match: { pathPrefix: '/api/checkout', headers: { 'x-canary': 'true' }, methods: ['POST'] },
      split: [
        { service: 'checkout', weight: 90 },
        { service: 'checkout-v2', weight: 10 },
      ],
      stripPrefix: true,
      rewritePrefix: '/',
      timeoutMs: 2000,
      attempts: 3,
    },
  ],
};

/** The RoutesError a bad input throws, with its issues as "path: message" lines. */
function errorsOf(input: unknown): { error: RoutesError; lines: string[] } {
  try {
    parseRoutes(input);
  } catch (err) {
    expect(err).toBeInstanceOf(RoutesError);
    const error = err as RoutesError;
    return { error, lines: error.issues.map((i) => `${i.path}: ${i.message}`) };
  }
  throw new Error('expected a RoutesError');
}

const route = (overrides: Record<string, unknown> = {}) => ({ name: 'r', match: { pathPrefix: '/' }, service: 'svc', ...overrides });
const request = (path: string, method = 'GET', headers: RouteRequest['headers'] = {}): RouteRequest => ({ method, path, headers });

describe('routes file validation', () => {
  it('accepts the documented example and compiles it', () => {
    const table = parseRoutes(EXAMPLE);
    expect(table.size).toBe(1);
    const [r] = table.routes;
    expect(r).toMatchObject({
      name: 'checkout-canary',
      pathPrefix: '/api/checkout',
      headers: [{ name: 'x-canary', exact: 'true' }],
      split: [
        { service: 'checkout', weight: 90 },
        { service: 'checkout-v2', weight: 10 },
      ],
      stripPrefix: true,
      rewritePrefix: '/',
      timeoutMs: 2000,
      attempts: 3,
    });
    expect([...r!.methods!]).toEqual(['POST']);
  });

  it('accepts the example in docs/gateway.md', () => {
    const doc = readFileSync(new URL('../../docs/gateway.md', import.meta.url), 'utf8');
    const example = /```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const table = parseRoutesJson(example!, 'docs/gateway.md');
    expect(table.routes.map((r) => r.name)).toEqual(['checkout-canary', 'beta-users', 'checkout', 'web']);
    const name = (path: string, method: string, headers: RouteRequest['headers'] = {}) => table.match(request(path, method, headers))?.name;
    expect(name('/api/checkout/pay', 'POST', { 'x-canary': 'true' })).toBe('checkout-canary');
    expect(name('/api/checkout/pay', 'GET', { 'x-canary': 'true' })).toBe('checkout');
    expect(name('/api/checkout/pay', 'GET', { 'x-user': 'beta-7' })).toBe('beta-users');
    expect(name('/about', 'GET')).toBe('web');
  });

  it('normalises methods to upper case and header names to lower case; "service" is a one-entry split', () => {
    const [r] = parseRoutes({ routes: [route({ match: { pathPrefix: '/', methods: ['get', 'Post'], headers: { 'X-Canary': 'yes' } } })] }).routes;
    expect([...r!.methods!]).toEqual(['GET', 'POST']);
    expect(r!.headers).toEqual([{ name: 'x-canary', exact: 'yes' }]);
    expect(r!.split).toEqual([{ service: 'svc', weight: 100 }]);
    expect(r!.stripPrefix).toBe(false);
    expect(r!.rewritePrefix).toBeNull();
  });

  it('names the field path of every problem, e.g. routes[2].split[0].weight', () => {
    const { error, lines } = errorsOf({
      routes: [
        route({ name: 'a' }),
        route({ name: 'b' }),
        {
          name: 'c',
          match: { pathPrefix: '/c' },
          split: [
            { service: 'c', weight: -5 },
            { service: 'd', weight: 1.5 },
          ],
        },
      ],
    });
    expect(lines).toEqual([expect.stringMatching(/^routes\[2\]\.split\[0\]\.weight: Too small/), 'routes[2].split[1].weight: a whole number']);
    expect(error.message).toContain('routes[2].split[0].weight');
    expect(error.code).toBe('INVALID_INPUT');
  });

  it('reports unknown fields (typos) instead of ignoring them', () => {
    const { lines } = errorsOf({ routes: [{ name: 'r', match: { pathprefix: '/x', pathPrefix: '/' }, service: 'svc', timeout: 5 }], version: 2 });
    expect(lines).toEqual(['routes[0].match: unknown field "pathprefix"', 'routes[0]: unknown field "timeout"', ': unknown field "version"']);
  });

  it.each([
    [{ routes: [route({ name: 'bad name!' })] }, 'routes[0].name: letters, digits'],
    [{ routes: [{ name: 'r', service: 'svc' }] }, 'routes[0].match: Invalid input: expected object'],
    [{ routes: [route({ match: { pathPrefix: 'api' } })] }, 'routes[0].match.pathPrefix: a path starting with "/"'],
    [{ routes: [route({ match: { pathPrefix: '/a?b=1' } })] }, 'routes[0].match.pathPrefix: a path starting with "/"'],
    [{ routes: [route({ rewritePrefix: 'v2' })] }, 'routes[0].rewritePrefix: a path starting with "/"'],
    [{ routes: [route({ match: { pathPrefix: '/', methods: [] } })] }, 'routes[0].match.methods: Too small'],
    [{ routes: [route({ match: { pathPrefix: '/', methods: ['G E T'] } })] }, 'routes[0].match.methods[0]: an HTTP method'],
    [{ routes: [route({ match: { pathPrefix: '/', headers: { 'x-a': 5 } } })] }, 'routes[0].match.headers["x-a"]: a string (exact match) or { "regex": "..." }'],
    [{ routes: [route({ match: { pathPrefix: '/', headers: { 'bad header': 'x' } } })] }, 'routes[0].match.headers["bad header"]: bad key: an HTTP header name'],
    [{ routes: [route({ match: { pathPrefix: '/', headers: { 'x-a': { regex: 'a', exact: 'a' } } } })] }, 'routes[0].match.headers["x-a"]: give exactly one of'],
    [{ routes: [route({ match: { pathPrefix: '/', headers: { 'x-a': { regex: '(a+)+' } } } })] }, 'routes[0].match.headers["x-a"].regex: unsafe regular expression: a repeated group'],
    [{ routes: [route({ match: { pathPrefix: '/', headers: { 'x-a': { regex: '([a-z]' } } } })] }, 'routes[0].match.headers["x-a"].regex: not a valid regular expression'],
    [{ routes: [route({ service: undefined })] }, 'routes[0].split: give either "service" or "split" (not both)'],
    [{ routes: [route({ split: [{ service: 'x', weight: 1 }] })] }, 'routes[0].split: give either "service" or "split" (not both)'],
    [{ routes: [route({ service: 'Bad_Service' })] }, 'routes[0].service: lowercase letters'],
    [{ routes: [route({ service: undefined, split: [] })] }, 'routes[0].split: Too small'],
    [{ routes: [route({ service: undefined, split: [{ service: 'a', weight: 0 }] })] }, 'routes[0].split: at least one weight must be above 0'],
    [{ routes: [route({ service: undefined, split: [{ service: 'a', weight: 1 }, { service: 'a', weight: 2 }] })] }, 'routes[0].split[1].service: "a" is listed twice'],
    [{ routes: [route({ service: undefined, split: [{ service: 'a', weight: 10_001 }] })] }, 'routes[0].split[0].weight: Too big'],
    [{ routes: [route({ timeoutMs: 0 })] }, 'routes[0].timeoutMs: Too small'],
    [{ routes: [route({ attempts: 11 })] }, 'routes[0].attempts: Too big'],
    [{ routes: [route({ stripPrefix: 'yes' })] }, 'routes[0].stripPrefix: Invalid input: expected boolean'],
    [{ routes: [route({ name: 'x' }), route({ name: 'x' })] }, 'routes[1].name: duplicate route name "x"'],
    [[], ': Invalid input: expected object, received array'],
    [{}, 'routes: Invalid input: expected array'],
  ])('%j → %s', (input, expected) => {
    const { lines } = errorsOf(input);
    expect(lines.some((line) => line.startsWith(expected))).toBe(true);
  });

  it('formats paths with indices and quotes keys that are not identifiers', () => {
    expect(formatPath(['routes', 2, 'split', 0, 'weight'])).toBe('routes[2].split[0].weight');
    expect(formatPath(['routes', 0, 'match', 'headers', 'x-canary', 'regex'])).toBe('routes[0].match.headers["x-canary"].regex');
    expect(formatPath([])).toBe('');
  });

  it('gives the line and column of a JSON syntax error', () => {
    expect(() => parseRoutesJson('{\n  "routes": [\n    { "name": "a", }\n  ]\n}', 'routes file r.json')).toThrow(/^routes file r\.json is not valid JSON \(line 3, column 20\)/);
  });
});

describe('routes files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshdeck-routes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a .json file', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify(EXAMPLE));
    expect(loadRoutesFile(file).routes[0]!.name).toBe('checkout-canary');
  });

  it('names the file and the field when the file does not validate', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ routes: [route(), route({ name: 'b', service: undefined, split: [{ service: 'x', weight: 'heavy' }] })] }));
    expect(() => loadRoutesFile(file)).toThrow(`routes file ${file} is not a valid routes file:\n  routes[1].split[0].weight: Invalid input: expected number, received string`);
  });

  it('refuses other extensions and unreadable files', () => {
    const yaml = join(dir, 'routes.yaml');
    writeFileSync(yaml, 'routes: []');
    expect(() => loadRoutesFile(yaml)).toThrow(/must be a \.json file/);
    expect(() => loadRoutesFile(join(dir, 'missing.json'))).toThrow(/missing\.json cannot be read: ENOENT/);
  });
});

describe('matching', () => {
  it.each([
    ['/api', '/api', true],
    ['/api/x', '/api', true],
    ['/api/', '/api', true],
    ['/apis', '/api', false],
    ['/ap', '/api', false],
    ['/api/x', '/api/', true],
    ['/api', '/api/', false],
    ['/anything', '/', true],
    ['/', '/', true],
  ])('path %s against prefix %s: %s', (path, prefix, expected) => {
    expect(pathMatchesPrefix(path, prefix)).toBe(expected);
  });

  it('takes the first matching route in file order', () => {
    const table = parseRoutes({
      routes: [
        route({ name: 'canary', match: { pathPrefix: '/api/checkout', headers: { 'x-canary': 'true' } }, service: 'v2' }),
        route({ name: 'checkout', match: { pathPrefix: '/api/checkout' }, service: 'v1' }),
        route({ name: 'never', match: { pathPrefix: '/api/checkout/special' }, service: 'special' }),
        route({ name: 'api', match: { pathPrefix: '/api' }, service: 'api' }),
      ],
    });
    const name = (r: RouteRequest) => table.match(r)?.name ?? null;
    expect(name(request('/api/checkout/pay', 'POST', { 'x-canary': 'true' }))).toBe('canary');
    expect(name(request('/api/checkout/pay', 'POST'))).toBe('checkout');
    // Listed after a broader prefix: shadowed.
    expect(name(request('/api/checkout/special'))).toBe('checkout');
    expect(name(request('/api/users'))).toBe('api');
    expect(name(request('/health'))).toBeNull();
  });

  it('matches methods', () => {
    const routes = parseRoutes({ routes: [route({ match: { pathPrefix: '/', methods: ['POST', 'put'] } })] }).routes;
    expect(matchRoute(routes, request('/', 'POST'))).not.toBeNull();
    expect(matchRoute(routes, request('/', 'put'))).not.toBeNull();
    expect(matchRoute(routes, request('/', 'GET'))).toBeNull();
  });

  it('matches header values exactly and case-sensitively; every condition must hold', () => {
    const routes = parseRoutes({ routes: [route({ match: { pathPrefix: '/', headers: { 'X-Canary': 'true', 'x-tenant': 'acme' } } })] }).routes;
    expect(matchRoute(routes, request('/', 'GET', { 'x-canary': 'true', 'x-tenant': 'acme' }))).not.toBeNull();
    expect(matchRoute(routes, request('/', 'GET', { 'x-canary': 'True', 'x-tenant': 'acme' }))).toBeNull();
    expect(matchRoute(routes, request('/', 'GET', { 'x-canary': 'true ', 'x-tenant': 'acme' }))).toBeNull();
    expect(matchRoute(routes, request('/', 'GET', { 'x-canary': 'true' }))).toBeNull();
    // Repeated headers (arrays): any value may match.
    expect(matchRoute(routes, request('/', 'GET', { 'x-canary': 'true', 'x-tenant': ['other', 'acme'] as unknown as string }))).not.toBeNull();
  });

  it('matches a header regex against the whole value', () => {
    const routes = parseRoutes({ routes: [route({ match: { pathPrefix: '/', headers: { 'x-user': { regex: 'beta-[0-9]+' } } } })] }).routes;
    const matches = (value: string | undefined) => matchRoute(routes, request('/', 'GET', value === undefined ? {} : { 'x-user': value })) !== null;
    expect(matches('beta-42')).toBe(true);
    expect(matches('beta-')).toBe(false);
    expect(matches('xbeta-42')).toBe(false);
    expect(matches('beta-42x')).toBe(false);
    expect(matches(undefined)).toBe(false);
    // Alternatives stay inside the anchors.
    const alt = parseRoutes({ routes: [route({ match: { pathPrefix: '/', headers: { 'x-v': { regex: 'v2|v3' } } } })] }).routes;
    expect(matchRoute(alt, request('/', 'GET', { 'x-v': 'v3' }))).not.toBeNull();
    expect(matchRoute(alt, request('/', 'GET', { 'x-v': 'v2-old' }))).toBeNull();
    expect(matchRoute(alt, request('/', 'GET', { 'x-v': 'old-v3' }))).toBeNull();
  });

  it('never runs a regex on a value over the length limit', () => {
    const routes = parseRoutes({ routes: [route({ match: { pathPrefix: '/', headers: { 'x-a': { regex: 'a*' } } } })] }).routes;
    expect(matchRoute(routes, request('/', 'GET', { 'x-a': 'a'.repeat(MAX_REGEX_INPUT) }))).not.toBeNull();
    expect(matchRoute(routes, request('/', 'GET', { 'x-a': 'a'.repeat(MAX_REGEX_INPUT + 1) }))).toBeNull();
  });
});

describe('safe header regexes', () => {
  it.each([
    ['beta-[0-9]+', null],
    ['v2|v3', null],
    ['.*Mobile.*', null],
    ['[a-f0-9]{8}', null],
    ['(abc){3}', null],
    ['(?<tier>gold|silver)', null],
    ['https?://.*', null],
    ['(a+)+', /repeated group/],
    ['(a|aa)*', /repeated group/],
    ['(?:x[0-9]*)+', /repeated group/],
    ['((a)|b)+', /repeated group/],
    ['[]|(a+)+!', /repeated group/],
    ['[^]*x', null],
    ['[\\]]+(a+)+', /repeated group/],
    ['(a)\\1', /backreferences/],
    ['(?<n>a)\\k<n>', /backreferences/],
    ['(?=a)a', /lookahead/],
    ['(?<!a)b', /lookahead/],
    ['a*b*c*', /at most 2 repetitions/],
    ['a?b?c?d?', /at most 3 optional/],
    ['a|b|c|d|e', /at most 3 optional/],
    ['x'.repeat(129), /at most 128 characters/],
  ])('%s → %s', (pattern, expected) => {
    const reason = unsafeRegexReason(pattern);
    if (expected === null) expect(reason).toBeNull();
    else expect(reason).toMatch(expected);
  });

  it('keeps the worst accepted pattern fast on an adversarial value of the maximum length', () => {
    // Overlapping repetitions and optionals that cannot match ("!" never comes): the backtracking
    // worst case the limits allow, O(2^branches · n^repetitions). Measured ~3-6 ms; an unchecked
    // "(a+)+!" takes longer than the universe on the same input.
    const input = 'a'.repeat(MAX_REGEX_INPUT);
    for (const pattern of ['a?a?a?\\w*\\w*!', '(?:a|a)?a?\\w*\\w*!', '.*a.*!']) {
      expect(unsafeRegexReason(pattern)).toBeNull();
      const regex = compileHeaderRegex(pattern);
      const started = performance.now();
      expect(regex.test(input)).toBe(false);
      // Not a speed goal: a bound 100× the measured time that an exponential pattern could never
      // meet, and that a busy CI machine cannot miss.
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });
});

describe('path rewriting', () => {
  const r = (pathPrefix: string, stripPrefix: boolean, rewritePrefix: string | null) => ({ pathPrefix, stripPrefix, rewritePrefix });
  it.each([
    [r('/api/checkout', true, '/'), '/api/checkout/orders', '?id=1', '/orders?id=1'],
    [r('/api/checkout', true, '/'), '/api/checkout', '', '/'],
    [r('/api/checkout', true, '/'), '/api/checkout', '?x', '/?x'],
    [r('/api/checkout', true, null), '/api/checkout/orders', '', '/orders'],
    [r('/api/checkout', true, null), '/api/checkout', '', '/'],
    [r('/api/checkout', true, '/v2'), '/api/checkout/orders', '', '/v2/orders'],
    [r('/api/checkout', true, '/v2/'), '/api/checkout/orders', '', '/v2/orders'],
    [r('/api/checkout', true, '/v2'), '/api/checkout', '', '/v2'],
    [r('/api/', true, '/v2'), '/api/orders', '', '/v2/orders'],
    [r('/api', false, null), '/api/orders', '?a=b', '/api/orders?a=b'],
    [r('/api', false, '/internal'), '/api/orders', '', '/internal/api/orders'],
    [r('/', true, null), '/x/y', '', '/x/y'],
  ])('%j: %s%s → %s', (route, path, search, expected) => {
    expect(rewritePath(route, path, search)).toBe(expected);
  });

  it('normalises the request target before matching, so dot segments cannot escape a prefix', () => {
    expect(normaliseTarget('/api/checkout/../admin?x=1')).toEqual({ path: '/api/admin', search: '?x=1' });
    expect(normaliseTarget('/api/%2e%2e/admin')).toEqual({ path: '/admin', search: '' });
    expect(normaliseTarget('//double/slash')).toEqual({ path: '//double/slash', search: '' });
    expect(normaliseTarget('http://example.com/a/b?c')).toEqual({ path: '/a/b', search: '?c' });
    expect(normaliseTarget('*')).toBeNull();
    expect(normaliseTarget('ftp://x/y')).toBeNull();
  });
});

describe('weighted split', () => {
  const split = [
    { service: 'checkout', weight: 90 },
    { service: 'checkout-v2', weight: 10 },
  ];

  it('maps the random number onto cumulative weights', () => {
    expect(pickWeighted(split, () => 0).service).toBe('checkout');
    expect(pickWeighted(split, () => 0.8999).service).toBe('checkout');
    expect(pickWeighted(split, () => 0.9).service).toBe('checkout-v2');
    expect(pickWeighted(split, () => 0.999999999).service).toBe('checkout-v2');
  });

  it('never picks a zero weight', () => {
    const targets = [
      { service: 'a', weight: 0 },
      { service: 'b', weight: 5 },
      { service: 'c', weight: 0 },
    ];
    for (const x of [0, 0.5, 0.9999999999]) expect(pickWeighted(targets, () => x).service).toBe('b');
    expect(() => pickWeighted([{ service: 'a', weight: 0 }], Math.random)).toThrow(/weight > 0/);
  });

  /**
   * Counts are Binomial(n, p); with n = 20 000 the standard deviation is sqrt(n·p·(1-p)), 42 for
   * p = 0.1. Allowing 5 standard deviations passes any sound PRNG seed (two-sided tail
   * probability 6e-7) but fails a real bias: an error of one percentage point at p = 0.1 is
   * already 4.7 σ, and the seeds are fixed, so the test is deterministic.
   */
  it.each([1, 42, 20260101])('splits proportionally to the weights (seed %i)', (seed) => {
    const random = mulberry32(seed);
    const n = 20_000;
    const weights = [
      [{ service: 'checkout', weight: 90 }, { service: 'checkout-v2', weight: 10 }],
      [{ service: 'a', weight: 50 }, { service: 'b', weight: 30 }, { service: 'c', weight: 20 }],
      [{ service: 'a', weight: 1 }, { service: 'b', weight: 0 }, { service: 'c', weight: 3 }],
    ];
    for (const targets of weights) {
      const total = targets.reduce((a, t) => a + t.weight, 0);
      const counts = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const { service } = pickWeighted(targets, random);
        counts.set(service, (counts.get(service) ?? 0) + 1);
      }
      for (const t of targets) {
        const p = t.weight / total;
        const sigma = Math.sqrt(n * p * (1 - p));
        expect(Math.abs((counts.get(t.service) ?? 0) - n * p)).toBeLessThanOrEqual(5 * sigma);
      }
    }
  });
});
