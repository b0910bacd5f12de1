import { describe, expect, it } from 'vitest';
import { OutlierPolicy, type OutlierPolicyInput } from '../failover/policy.js';
import { LatencySketch } from '../protocol/sketch.js';
import { encodeSketch } from '../telemetry/sketch-codec.js';
import { median, OutlierDetector, peerMedians, type OutlierDecision, type WindowObservation } from './detector.js';

const SVC = 'orders';

/** Only the rule under test enabled, unless the override enables more. */
function policy(overrides: OutlierPolicyInput = {}): OutlierPolicy {
  return OutlierPolicy.parse({
    consecutiveFailures: { enabled: false },
    consecutiveGatewayFailures: { enabled: false },
    successRate: { enabled: false },
    latency: { enabled: false },
    directSignal: { enabled: false },
    heartbeat: { enabled: false },
    ...overrides,
  });
}

function win(requests: number, errors: Partial<Pick<WindowObservation, 'http5xx' | 'connect' | 'timeout'>> = {}, latency?: LatencySketch): WindowObservation {
  return { requests, http5xx: errors.http5xx ?? 0, connect: errors.connect ?? 0, timeout: errors.timeout ?? 0, ...(latency ? { latency } : {}) };
}

function sketch(valueMs: number, count: number): LatencySketch {
  const s = new LatencySketch();
  s.add(valueMs, count);
  return s;
}

/** The p99 the detector will read back for a sketch of one repeated value. */
function p99Of(valueMs: number): number {
  return sketch(valueMs, 100).quantile(0.99)!;
}

const ejects = (ds: OutlierDecision[]) => ds.filter((d) => d.kind === 'eject').map((d) => d.instanceId);

describe('consecutive failures (windowed approximation)', () => {
  const p = policy({ consecutiveFailures: { enabled: true, threshold: 3 } });

  it('ejects exactly at the threshold, not one below', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(2, { http5xx: 2 }), 1000);
    expect(d.evaluate(SVC, ['a'], p, 1000)).toEqual([]); // streak 2 < 3
    d.observe(SVC, 'a', win(1, { timeout: 1 }), 2000);
    const [decision, ...rest] = d.evaluate(SVC, ['a'], p, 2000);
    expect(rest).toEqual([]);
    expect(decision).toMatchObject({
      kind: 'eject',
      instanceId: 'a',
      at: 2000,
      enforced: true,
      evidence: {
        rule: 'consecutive-failures',
        at: 2000,
        samples: { variant: 'all', streak: 3, windows: [{ at: 1000, requests: 2, http5xx: 2 }, { at: 2000, requests: 1, timeout: 1 }] },
        thresholds: { consecutive: 3, enforcingPercent: 100 },
      },
    });
  });

  it('counts one all-failed window at once, and above the threshold too', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(4, { http5xx: 1, connect: 2, timeout: 1 }), 1000);
    expect(d.evaluate(SVC, ['a'], p, 1000)[0]?.evidence).toMatchObject({ samples: { streak: 4 } });
  });

  it('resets on any window with a success, even one that may have ended with failures', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(2, { http5xx: 2 }), 1000);
    d.observe(SVC, 'a', win(10, { http5xx: 9 }), 2000); // order inside the window unknown: reset (lower bound)
    d.observe(SVC, 'a', win(2, { http5xx: 2 }), 3000);
    expect(d.evaluate(SVC, ['a'], p, 3000)).toEqual([]);
    expect(d.streaks(SVC, 'a')).toEqual({ failures: 2, gatewayFailures: 0 });
  });

  it('leaves the streak alone in a window without requests', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(2, { http5xx: 2 }), 1000);
    d.observe(SVC, 'a', win(0), 2000);
    d.observe(SVC, 'a', win(1, { http5xx: 1 }), 3000);
    expect(ejects(d.evaluate(SVC, ['a'], p, 3000))).toEqual(['a']);
  });

  it('resets the streak once it fired, as Envoy does', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(3, { http5xx: 3 }), 1000);
    expect(ejects(d.evaluate(SVC, ['a'], p, 1000))).toEqual(['a']);
    expect(d.evaluate(SVC, ['a'], p, 1001)).toEqual([]);
    expect(d.streaks(SVC, 'a')).toEqual({ failures: 0, gatewayFailures: 0 });
  });

  it('gateway variant: connect + timeout only; a 5xx resets it but not the all-failures streak', () => {
    const d = new OutlierDetector();
    const gw = policy({ consecutiveFailures: { enabled: true, threshold: 100 }, consecutiveGatewayFailures: { enabled: true, threshold: 3 } });
    d.observe(SVC, 'a', win(2, { connect: 2 }), 1000);
    d.observe(SVC, 'a', win(1, { http5xx: 1 }), 2000);
    d.observe(SVC, 'a', win(2, { timeout: 2 }), 3000);
    expect(d.evaluate(SVC, ['a'], gw, 3000)).toEqual([]);
    expect(d.streaks(SVC, 'a')).toEqual({ failures: 5, gatewayFailures: 2 });
    d.observe(SVC, 'a', win(1, { connect: 1 }), 4000);
    const [decision] = d.evaluate(SVC, ['a'], gw, 4000);
    expect(decision?.evidence).toMatchObject({ rule: 'consecutive-failures', samples: { variant: 'gateway', streak: 3 } });
  });

  it('enforcement percent: 0 reports only, 100 always, in between by draw', () => {
    const at = (percent: number, draw: number) => {
      const d = new OutlierDetector({ random: () => draw });
      d.observe(SVC, 'a', win(3, { http5xx: 3 }), 1000);
      return d.evaluate(SVC, ['a'], policy({ consecutiveFailures: { enabled: true, threshold: 3, enforcingPercent: percent } }), 1000)[0]?.enforced;
    };
    expect(at(0, 0)).toBe(false);
    expect(at(100, 0.999)).toBe(true);
    expect(at(50, 0.49)).toBe(true);
    expect(at(50, 0.5)).toBe(false);
  });

  it('does nothing when disabled', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(30, { http5xx: 30 }), 1000);
    expect(d.evaluate(SVC, ['a'], policy(), 1000)).toEqual([]);
  });
});

describe('success rate (Envoy: mean − factor × stdev over hosts with enough volume)', () => {
  /** Hosts a..: 100 requests each, the last `failing` with the given failures. */
  function run(failuresPerHost: number[], p: OutlierPolicy, requests: number[] = failuresPerHost.map(() => 100)) {
    const d = new OutlierDetector();
    const ids = failuresPerHost.map((_, i) => String.fromCharCode(97 + i));
    ids.forEach((id, i) => d.observe(SVC, id, win(requests[i]!, { http5xx: failuresPerHost[i]! }), 1000));
    return { decisions: d.evaluate(SVC, ids, p, 1000), report: d.sweepReport(SVC) };
  }
  const sr = (o: Partial<OutlierPolicyInput['successRate'] & object> = {}) => policy({ successRate: { enabled: true, minimumHosts: 5, requestVolume: 100, ...o } });

  it('reproduces Envoy’s worked example: {50, 100, 100, 100, 100} → mean 90, stdev 20, threshold 52 (1.9)', () => {
    const { decisions } = run([0, 0, 0, 0, 50], sr({ stdevFactor: 1.9 }));
    expect(decisions).toHaveLength(1);
    const [d] = decisions;
    expect(d).toMatchObject({ kind: 'eject', instanceId: 'e', evidence: { rule: 'success-rate' } });
    if (d?.evidence.rule !== 'success-rate') throw new Error('unexpected evidence');
    expect(d.evidence.samples).toMatchObject({ requests: 100, failures: 50, successRate: 50, mean: 90, stdev: 20 });
    expect(d.evidence.samples.hosts).toHaveLength(5);
    expect(d.evidence.thresholds.ejectionThreshold).toBeCloseTo(52, 12);
    expect(d.evidence.thresholds).toMatchObject({ stdevFactor: 1.9, minimumHosts: 5, requestVolume: 100 });
  });

  // One outlier among 5 equal hosts is exactly √4 = 2 standard deviations below the mean: with
  // factor 2 the threshold is exactly its rate (50 = 90 − 2 × 20).
  it.each([
    [1.9999, ['e']], // threshold 50.002: 50 is below
    [2, []], // threshold exactly 50: not strictly below
    [2.0001, []], // threshold 49.998
  ])('factor %d → ejects %j (strictly below the threshold)', (factor, expected) => {
    expect(ejects(run([0, 0, 0, 0, 50], sr({ stdevFactor: factor })).decisions)).toEqual(expected);
  });

  it('request volume: a host one request short is left out of the statistics', () => {
    const six = sr({ minimumHosts: 5 });
    expect(ejects(run([0, 0, 0, 0, 0, 50], six).decisions)).toEqual(['f']); // 6 hosts: z = √5 > 1.9
    expect(ejects(run([0, 0, 0, 0, 0, 50], six, [100, 100, 100, 100, 100, 99]).decisions)).toEqual([]);
  });

  it('minimum hosts: one short → no decision at all, and the sweep says why', () => {
    expect(ejects(run([0, 0, 0, 0, 0, 50], sr({ minimumHosts: 6 })).decisions)).toEqual(['f']);
    const short = run([0, 0, 0, 0, 0, 50], sr({ minimumHosts: 7 }));
    expect(short.decisions).toEqual([]);
    expect(short.report?.successRate).toEqual({ skipped: '6 host(s) with >= 100 requests within the last 10 intervals; 7 needed' });
  });

  describe('sliding window: a host is judged on its newest intervals until they hold requestVolume, at most maxIntervals', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    /** Sweeps once a second; each host sends `requests` per interval, e failing half of them. */
    function sweeps(p: OutlierPolicy, n: number, requests: number) {
      const d = new OutlierDetector();
      const out: Array<ReturnType<OutlierDetector['evaluate']>> = [];
      for (let i = 1; i <= n; i++) {
        const at = i * 1000;
        for (const id of ids) d.observe(SVC, id, win(requests, { http5xx: id === 'e' ? requests / 2 : 0 }), at);
        out.push(d.evaluate(SVC, ids, p, at));
      }
      return { d, out };
    }

    it('26 requests per interval and a volume of 100: judged at the 4th interval (not before), over 4 intervals', () => {
      const { d, out } = sweeps(sr({ maxIntervals: 10 }), 4, 26);
      expect(out.slice(0, 3).every((x) => x.length === 0)).toBe(true);
      expect(ejects(out[3]!)).toEqual(['e']);
      const evidence = out[3]![0]!.evidence;
      if (evidence.rule !== 'success-rate') throw new Error('unexpected evidence');
      expect(evidence.samples).toMatchObject({ requests: 104, failures: 52, successRate: 50, intervals: 4 });
      expect(evidence.samples.hosts.map((h) => h.intervals)).toEqual([4, 4, 4, 4, 4]);
      expect(evidence.thresholds).toMatchObject({ requestVolume: 100, maxIntervals: 10 });
      // Its window was emptied when the rule fired: the next interval alone does not judge it again.
      expect(d.sweepReport(SVC)?.successRate).toMatchObject({ hosts: 5 });
    });

    it('maxIntervals bounds the window: 3 intervals of 26 never reach 100 (the sweep says so); maxIntervals 1 is Envoy’s rule', () => {
      const three = sweeps(sr({ maxIntervals: 3 }), 8, 26);
      expect(three.out.every((x) => x.length === 0)).toBe(true);
      expect(three.d.sweepReport(SVC)?.successRate).toEqual({ skipped: '0 host(s) with >= 100 requests within the last 3 intervals; 5 needed' });
      const envoy = sweeps(sr({ maxIntervals: 1 }), 8, 26);
      expect(envoy.out.every((x) => x.length === 0)).toBe(true);
      expect(envoy.d.sweepReport(SVC)?.successRate).toEqual({ skipped: '0 host(s) with >= 100 requests in the last interval; 5 needed' });
      expect(ejects(sweeps(sr({ maxIntervals: 1 }), 1, 100).out[0]!)).toEqual(['e']);
    });

    it('a busy host is judged on its newest interval alone: failures of older intervals no longer count', () => {
      // Interval 1: 50 requests each (under the volume), e failing 25. Interval 2: 100 each, none failing.
      // Over both intervals e would be at 83.3 % against a threshold of 84.2 % (ejected); its newest interval alone holds 100.
      const d = new OutlierDetector();
      for (const id of ids) d.observe(SVC, id, win(50, { http5xx: id === 'e' ? 25 : 0 }), 1000);
      expect(d.evaluate(SVC, ids, sr(), 1000)).toEqual([]);
      for (const id of ids) d.observe(SVC, id, win(100), 2000);
      expect(d.evaluate(SVC, ids, sr(), 2000)).toEqual([]);
      expect(d.sweepReport(SVC)?.successRate).toMatchObject({ hosts: 5, mean: 100, stdev: 0 });
    });

    it('after firing, the host needs a full volume of new requests before it is judged again', () => {
      // Not enforced, so e stays in the population: it fires at 4, 8, 12 — every 4 intervals, not every interval.
      const { out } = sweeps(sr({ maxIntervals: 10, enforcingPercent: 0 }), 12, 26);
      expect(out.map((x, i) => (x.length > 0 ? i + 1 : 0)).filter(Boolean)).toEqual([4, 8, 12]);
    });
  });

  it('with factor 1.9 a single outlier cannot be found among 3 or 4 hosts (max z = √(n − 1))', () => {
    const three = policy({ successRate: { enabled: true, minimumHosts: 3, requestVolume: 20, stdevFactor: 1.9 } });
    expect(run([0, 0, 100], three).decisions).toEqual([]); // one host failing everything: z = √2 ≈ 1.41
    expect(run([0, 0, 0, 100], three).decisions).toEqual([]); // z = √3 ≈ 1.73
    expect(ejects(run([0, 0, 0, 0, 100], three).decisions)).toEqual(['e']); // z = 2
    const lower = policy({ successRate: { enabled: true, minimumHosts: 3, requestVolume: 20, stdevFactor: 1.4 } });
    expect(ejects(run([0, 0, 100], lower).decisions)).toEqual(['c']);
  });

  it('leaves ejected and probing hosts out, and sweeps once per interval over the windows since the last', () => {
    const d = new OutlierDetector();
    const p = sr({ minimumHosts: 5, stdevFactor: 1.9 });
    const ids = ['a', 'b', 'c', 'd', 'e', 'x'];
    for (const id of ids) d.observe(SVC, id, win(100, { http5xx: id === 'e' ? 50 : 0 }), 1000);
    // x is ejected: 5 hosts remain, e is the outlier.
    expect(ejects(d.evaluate(SVC, ids, p, 1000, { ejected: ['x'] }))).toEqual(['e']);
    // Within the interval (1 s): no sweep yet. x now probes: judged per window, not in the statistics.
    for (const id of ids) d.observe(SVC, id, win(50, { http5xx: id === 'e' ? 25 : 0 }), 1500);
    expect(d.evaluate(SVC, ids, p, 1500, { probing: ['x'] }).map((x) => x.kind)).toEqual(['probe-success']);
    // Interval over: the two windows since the last sweep add up to 100 requests each.
    for (const id of ids) d.observe(SVC, id, win(50, { http5xx: id === 'e' ? 25 : 0 }), 2000);
    const decisions = d.evaluate(SVC, ids, p, 2000, { probing: ['x'] }).filter((x) => x.kind === 'eject');
    expect(ejects(decisions)).toEqual(['e']);
    expect(decisions[0]?.evidence).toMatchObject({ samples: { requests: 100, failures: 50, hosts: expect.not.arrayContaining([expect.objectContaining({ instanceId: 'x' })]) } });
  });

  it('counts connect errors and timeouts as failures (no split of local-origin errors)', () => {
    const d = new OutlierDetector();
    const ids = ['a', 'b', 'c', 'd', 'e'];
    for (const id of ids) d.observe(SVC, id, win(100, id === 'e' ? { connect: 30, timeout: 20 } : {}), 1000);
    expect(ejects(d.evaluate(SVC, ids, sr(), 1000))).toEqual(['e']);
  });
});

describe('latency (p99 above max(floor, factor × median of p99s))', () => {
  function run(hosts: Array<[ms: number, requests: number]>, o: Partial<OutlierPolicyInput['latency'] & object>) {
    const d = new OutlierDetector();
    const ids = hosts.map((_, i) => String.fromCharCode(97 + i));
    ids.forEach((id, i) => d.observe(SVC, id, win(hosts[i]![1], {}, sketch(hosts[i]![0], hosts[i]![1])), 1000));
    return { decisions: d.evaluate(SVC, ids, policy({ latency: { enabled: true, minimumHosts: 3, requestVolume: 50, ...o } }), 1000), report: d.sweepReport(SVC) };
  }

  it('ejects a host above factor × median, with the p99s as evidence', () => {
    const { decisions } = run([[10, 50], [10, 50], [10, 50], [100, 50]], { factor: 3, floorMs: 0 });
    expect(ejects(decisions)).toEqual(['d']);
    const e = decisions[0]!.evidence;
    if (e.rule !== 'latency') throw new Error('unexpected evidence');
    expect(e.samples.p99).toBe(p99Of(100));
    expect(e.samples.medianP99).toBe(p99Of(10));
    expect(e.samples.hosts.map((h) => h.instanceId)).toEqual(['a', 'b', 'c', 'd']);
    expect(e.thresholds).toMatchObject({ threshold: 3 * p99Of(10), factor: 3, floorMs: 0, quantile: 0.99 });
  });

  it.each([
    ['one below', (f: number) => f * 0.9999, ['d']],
    ['exactly at', (f: number) => f, []],
    ['one above', (f: number) => f * 1.0001, []],
  ])('factor %s p99(d) / median → %j', (_label, factorOf, expected) => {
    const exact = p99Of(40) / p99Of(10);
    expect(ejects(run([[10, 50], [10, 50], [10, 50], [40, 50]], { factor: factorOf(exact), floorMs: 0 }).decisions)).toEqual(expected);
  });

  it.each([
    ['one below', -0.001, ['d']],
    ['exactly at', 0, []],
    ['one above', 0.001, []],
  ])('floor %s the outlier’s p99 → %j', (_label, delta, expected) => {
    expect(ejects(run([[1, 50], [1, 50], [1, 50], [60, 50]], { factor: 3, floorMs: p99Of(60) + delta }).decisions)).toEqual(expected);
  });

  it('minimum requests: a host one request short does not count; then too few hosts → no decision', () => {
    expect(ejects(run([[10, 50], [10, 50], [100, 50]], { factor: 3, floorMs: 0 }).decisions)).toEqual(['c']);
    const short = run([[10, 50], [10, 49], [100, 50]], { factor: 3, floorMs: 0 });
    expect(short.decisions).toEqual([]);
    expect(short.report?.latency).toMatchObject({ skipped: expect.stringContaining('2 host(s)') });
  });

  it('accepts sketches in wire form', () => {
    const d = new OutlierDetector();
    const ids = ['a', 'b', 'c'];
    ids.forEach((id) => d.observe(SVC, id, { ...win(50), latency: sketch(id === 'c' ? 200 : 10, 50).toWire() }, 1000));
    expect(ejects(d.evaluate(SVC, ids, policy({ latency: { enabled: true, minimumHosts: 3, requestVolume: 50 } }), 1000))).toEqual(['c']);
  });

  it('two busy hosts suffice: each is measured against the other, so the slow one is found', () => {
    const two = run([[10, 50], [100, 50]], { minimumHosts: 2, factor: 3, floorMs: 0 });
    expect(ejects(two.decisions)).toEqual(['b']);
    const e = two.decisions[0]!.evidence;
    if (e.rule !== 'latency') throw new Error('unexpected evidence');
    expect(e.samples.medianP99).toBe(p99Of(10));
    expect(e.thresholds.threshold).toBe(3 * p99Of(10));
    // Probe windows are judged against the non-outlier (a), not a median dragged up by b.
    expect(two.report?.latency).toMatchObject({ hosts: 2, medianP99: p99Of(10), threshold: 3 * p99Of(10) });
    // A host just under factor × its peer is not an outlier, and neither host is.
    const exact = p99Of(40) / p99Of(10);
    expect(ejects(run([[10, 50], [40, 50]], { minimumHosts: 2, factor: exact * 1.0001, floorMs: 0 }).decisions)).toEqual([]);
  });

  it('leave-one-out: each slow host is judged against the median of the other hosts', () => {
    // Peers of c are (a, b, d) = (10, 10, 100): median 10, so c at 100 is out, and d likewise.
    // (maxEjectionPercent, applied by the engine, caps how many of them are enforced.)
    expect(ejects(run([[10, 50], [10, 50], [100, 50], [100, 50]], { factor: 3, floorMs: 0 }).decisions)).toEqual(['c', 'd']);
    // With three slow of four, each slow host's peers have median 100: none stands out.
    expect(ejects(run([[10, 50], [100, 50], [100, 50], [100, 50]], { factor: 3, floorMs: 0 }).decisions)).toEqual([]);
  });

  describe('sliding window of intervals for low-volume hosts', () => {
    const lp = (o: Partial<OutlierPolicyInput['latency'] & object> = {}) =>
      policy({ latency: { enabled: true, minimumHosts: 2, requestVolume: 50, factor: 3, floorMs: 0, maxIntervals: 4, ...o } });
    /** One sweep interval (1 s apart): each host's requests at one latency. */
    function tick(d: OutlierDetector, at: number, hosts: Record<string, [ms: number, requests: number]>, p: OutlierPolicy, context = {}) {
      for (const [id, [value, requests]] of Object.entries(hosts)) d.observe(SVC, id, win(requests, {}, sketch(value, requests)), at);
      return d.evaluate(SVC, Object.keys(hosts), p, at, context);
    }

    it('judges hosts once their last intervals add up to requestVolume, not before', () => {
      const d = new OutlierDetector();
      const p = lp();
      // 13 requests per interval: 39 after three intervals (one short of nothing: 50 needed).
      for (const at of [1000, 2000, 3000]) expect(tick(d, at, { a: [10, 13], b: [100, 13] }, p)).toEqual([]);
      expect(d.sweepReport(SVC)?.latency).toMatchObject({ skipped: expect.stringContaining('within the last 4 intervals') });
      // The fourth makes 52: both are judged, b against a.
      const decisions = tick(d, 4000, { a: [10, 13], b: [100, 13] }, p);
      expect(ejects(decisions)).toEqual(['b']);
      const e = decisions[0]!.evidence;
      if (e.rule !== 'latency') throw new Error('unexpected evidence');
      expect(e.samples).toMatchObject({ requests: 52, intervals: 4, p99: p99Of(100), medianP99: p99Of(10) });
      expect(e.samples.hosts).toEqual([
        { instanceId: 'a', requests: 52, p99: p99Of(10), p50: p99Of(10), intervals: 4 },
        { instanceId: 'b', requests: 52, p99: p99Of(100), p50: p99Of(100), intervals: 4 },
      ]);
      // Judged over several intervals: its median is slow too, and the evidence says so.
      expect(e.samples).toMatchObject({ p50: p99Of(100), medianP50: p99Of(10) });
      expect(e.thresholds).toMatchObject({ requestVolume: 50, maxIntervals: 4, p50Threshold: 3 * p99Of(10) });
      expect(decisions[0]!.reason).toContain('over the last 4 intervals');
    });

    it('exactly requestVolume over maxIntervals counts; one request short does not', () => {
      const exact = new OutlierDetector();
      for (const at of [1000, 2000, 3000]) tick(exact, at, { a: [10, 12], b: [100, 12] }, lp());
      expect(ejects(tick(exact, 4000, { a: [10, 14], b: [100, 14] }, lp()))).toEqual(['b']); // 12 + 12 + 12 + 14 = 50
      const short = new OutlierDetector();
      for (const at of [1000, 2000, 3000]) tick(short, at, { a: [10, 12], b: [100, 12] }, lp());
      expect(tick(short, 4000, { a: [10, 13], b: [100, 13] }, lp())).toEqual([]); // 49
    });

    it('never spans more than maxIntervals: older intervals fall out', () => {
      const p = lp({ maxIntervals: 3 });
      // 20 + 20 + 20 requests, b slow in the first two: judged on all three, slow in its median too.
      const d = new OutlierDetector();
      tick(d, 1000, { a: [10, 20], b: [100, 20] }, p);
      expect(tick(d, 2000, { a: [10, 20], b: [100, 20] }, p)).toEqual([]); // 40
      expect(ejects(tick(d, 3000, { a: [10, 20], b: [10, 20] }, p))).toEqual(['b']); // 60 over 3 intervals
      // 40 slow, then 4 + 4 (48: not judged), then 4 more: the slow interval is now 4 back and out,
      // so the window holds 12 and nobody is judged (counting it, b would be: 52 requests, 40 slow).
      const later = new OutlierDetector();
      tick(later, 1000, { a: [10, 40], b: [100, 40] }, p);
      tick(later, 2000, { a: [10, 4], b: [10, 4] }, p);
      expect(tick(later, 3000, { a: [10, 4], b: [10, 4] }, p)).toEqual([]);
      expect(tick(later, 4000, { a: [10, 4], b: [10, 4] }, p)).toEqual([]);
      expect(later.sweepReport(SVC)?.latency).toMatchObject({ skipped: expect.stringContaining('0 host(s)') });
    });

    it('a busy host uses its newest interval alone; maxIntervals 1 is the one-interval rule', () => {
      const d = new OutlierDetector();
      const p = lp();
      tick(d, 1000, { a: [10, 60], b: [100, 60] }, p); // b judged on this interval alone: ejected
      const decisions = tick(d, 2000, { a: [10, 60], b: [10, 60] }, p);
      expect(decisions).toEqual([]); // b's window was emptied when it fired; its new interval is normal
      const one = new OutlierDetector();
      for (const at of [1000, 2000, 3000, 4000]) expect(tick(one, at, { a: [10, 13], b: [100, 13] }, lp({ maxIntervals: 1 }))).toEqual([]);
      expect(one.sweepReport(SVC)?.latency).toMatchObject({ skipped: expect.stringContaining('in the last interval') });
    });

    it('over several intervals a slow tail alone is not enough: the median must be slow too; within one interval it is', () => {
      /** `n` requests at `base` ms, `slow` of them at `slowMs` instead. */
      const mixed = (n: number, base: number, slow: number, slowMs: number) => {
        const k = sketch(base, n - slow);
        if (slow > 0) k.add(slowMs, slow);
        return k;
      };
      const p = lp();
      // 13 requests per interval; b stalls once (one request at 300 ms) in its 52: p99 300 ms, p50 10 ms.
      const tail = new OutlierDetector();
      for (const at of [1000, 2000, 3000, 4000]) {
        tail.observe(SVC, 'a', win(13, {}, sketch(10, 13)), at);
        tail.observe(SVC, 'b', win(13, {}, at === 2000 ? mixed(13, 10, 1, 300) : sketch(10, 13)), at);
        expect(tail.evaluate(SVC, ['a', 'b'], p, at)).toEqual([]);
      }
      expect(tail.sweepReport(SVC)?.latency).toMatchObject({ hosts: 2 }); // judged, not an outlier
      // The same tail within one busy interval (60 requests, 2 at 300 ms): ejected, as before windows.
      const busy = new OutlierDetector();
      busy.observe(SVC, 'a', win(60, {}, sketch(10, 60)), 1000);
      busy.observe(SVC, 'b', win(60, {}, mixed(60, 10, 2, 300)), 1000);
      const decisions = busy.evaluate(SVC, ['a', 'b'], p, 1000);
      expect(ejects(decisions)).toEqual(['b']);
      expect(decisions[0]!.evidence).not.toHaveProperty('samples.p50');
      // Median exactly at the p50 threshold: not an outlier; just above: ejected.
      const at = (p50Ms: number) => {
        const d = new OutlierDetector();
        for (const t of [1000, 2000, 3000, 4000]) {
          d.observe(SVC, 'a', win(13, {}, sketch(10, 13)), t);
          d.observe(SVC, 'b', win(13, {}, sketch(p50Ms, 13)), t);
        }
        return d;
      };
      const exact = p99Of(30) / p99Of(10);
      const check = (factor: number) => {
        const d = at(30);
        return ejects(d.evaluate(SVC, ['a', 'b'], lp({ factor }), 4000));
      };
      // With one value per host p50 = p99, so both thresholds move together: at the factor → none; just under → b.
      expect(check(exact)).toEqual([]);
      expect(check(exact * 0.9999)).toEqual(['b']);
    });

    it('empties the window of a host that fires, and of ejected or probing hosts', () => {
      const d = new OutlierDetector();
      const p = lp();
      for (const at of [1000, 2000, 3000]) tick(d, at, { a: [10, 13], b: [100, 13] }, p);
      // Report only (enforcingPercent 0): the decision is returned, and b's next judgement needs 50 new requests.
      expect(tick(d, 4000, { a: [10, 13], b: [100, 13] }, lp({ enforcingPercent: 0 })).map((x) => [x.instanceId, x.enforced])).toEqual([['b', false]]);
      for (const at of [5000, 6000, 7000]) expect(tick(d, at, { a: [10, 13], b: [100, 13] }, p)).toEqual([]);
      expect(ejects(tick(d, 8000, { a: [10, 13], b: [100, 13] }, p))).toEqual(['b']);
      // While ejected or probing b keeps no window: back in the population it starts from nothing.
      for (const at of [9000, 10_000, 11_000]) tick(d, at, { a: [10, 13], b: [100, 13] }, p, { ejected: ['b'] });
      tick(d, 12_000, { a: [10, 13], b: [100, 13] }, p, { probing: ['b'] });
      for (const at of [13_000, 14_000, 15_000]) expect(ejects(tick(d, at, { a: [10, 13], b: [100, 13] }, p))).toEqual([]);
      expect(ejects(tick(d, 16_000, { a: [10, 13], b: [100, 13] }, p))).toEqual(['b']);
    });
  });

  it('median of an even count is the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, 1, 3])).toBe(3);
  });

  it('peerMedians gives, for each host, the median of the others (as median() of the list without it)', () => {
    expect(peerMedians([10, 40, 20, 30])).toEqual([30, 20, 30, 20]);
    expect(peerMedians([7])).toEqual([NaN]);
    expect(peerMedians([])).toEqual([]);
    // Lists of every length up to 13, with repeated values, against the definition.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let n = 2; n <= 13; n++) {
      for (let round = 0; round < 20; round++) {
        const values = Array.from({ length: n }, () => Math.floor(random() * 6) * 2.5 + (round % 3 === 0 ? random() : 0));
        expect(peerMedians(values)).toEqual(values.map((_, i) => median(values.filter((__, j) => j !== i))));
      }
    }
  });
});

describe('direct signals', () => {
  const p = policy({ directSignal: { enabled: true, threshold: 3, windowMs: 2000 } });

  it('ejects at N reports within the window, without waiting for the interval', () => {
    const d = new OutlierDetector();
    d.evaluate(SVC, ['a'], p, 0); // first sweep; the next is due at 1000
    d.directSignal(SVC, 'a', 'connect-refused', 100);
    d.directSignal(SVC, 'a', 'reset', 200);
    expect(d.evaluate(SVC, ['a'], p, 250)).toEqual([]); // 2 < 3
    d.directSignal(SVC, 'a', 'connect-refused', 300);
    const [decision] = d.evaluate(SVC, ['a'], p, 300);
    expect(decision).toMatchObject({
      kind: 'eject',
      at: 300,
      evidence: { rule: 'direct-signal', samples: { count: 3 }, thresholds: { count: 3, windowMs: 2000 } },
    });
    expect(decision?.reason).toContain('connect-refused / reset');
    expect(d.evaluate(SVC, ['a'], p, 301)).toEqual([]); // consumed
  });

  it('counts only reports within the last windowMs (boundary excluded)', () => {
    const at = (now: number) => {
      const d = new OutlierDetector();
      for (const t of [0, 1000, 1999]) d.directSignal(SVC, 'a', 'connect-refused', t);
      return ejects(d.evaluate(SVC, ['a'], p, now));
    };
    expect(at(1999)).toEqual(['a']); // 0, 1000, 1999 all within (−1, 1999]
    expect(at(2000)).toEqual([]); // 0 is now exactly windowMs old: out
  });
});

describe('heartbeat', () => {
  const p = policy({ heartbeat: { enabled: true, missedIntervals: 3 } });

  it('ejects once after TTL = missed × interval (strictly more), and asks for a probe when heartbeats resume', () => {
    const d = new OutlierDetector();
    d.heartbeat(SVC, 'a', 0, 1000);
    expect(d.evaluate(SVC, ['a'], p, 3000)).toEqual([]); // silent exactly the TTL
    const [eject] = d.evaluate(SVC, ['a'], p, 3001);
    expect(eject).toMatchObject({
      kind: 'eject',
      evidence: { rule: 'heartbeat', samples: { lastHeartbeat: 0, heartbeatIntervalMs: 1000, silentMs: 3001 }, thresholds: { ttlMs: 3000, missedIntervals: 3 } },
    });
    expect(d.evaluate(SVC, ['a'], p, 4000)).toEqual([]); // once per silence
    d.heartbeat(SVC, 'a', 5000, 1000);
    const [restore] = d.evaluate(SVC, ['a'], p, 5000);
    expect(restore).toMatchObject({ kind: 'restore-probe', evidence: { rule: 'heartbeat', samples: { silentMs: 5000, resumedAt: 5000 } } });
    expect(d.evaluate(SVC, ['a'], p, 5001)).toEqual([]);
  });

  it('forgives heartbeatGraceMs of silence while the core is behind (both TTLs), and its evidence says how much', () => {
    const d = new OutlierDetector();
    d.heartbeat(SVC, 'a', 0, 1000);
    d.heartbeat(SVC, 'b', 0, 1000);
    d.directSignal(SVC, 'b', 'connect-refused', 100);
    // TTL 3 s (1 s after b's refusal) + 5 s the core did not hear anything: nothing yet at 6 s.
    expect(d.evaluate(SVC, ['a', 'b'], p, 6000, { heartbeatGraceMs: 5000 })).toEqual([]);
    const ejects = d.evaluate(SVC, ['a', 'b'], p, 8001, { heartbeatGraceMs: 5000 });
    expect(ejects.map((x) => x.instanceId)).toEqual(['a', 'b']);
    expect(ejects[0]).toMatchObject({ evidence: { thresholds: { ttlMs: 8000, missedIntervals: 3, graceMs: 5000 } } });
    expect(ejects[0]!.reason).toBe('no heartbeat for 8001 ms > TTL 8000 ms (3 × 1000 ms + 5000 ms the core was behind)');
    expect(ejects[1]).toMatchObject({ evidence: { thresholds: { ttlMs: 6000, refusedIntervals: 1, graceMs: 5000 } } });
  });

  describe('shorter TTL after a refused connection', () => {
    it('ejects after refusedIntervals × interval (strictly more) when a refusal came after the last heartbeat', () => {
      const d = new OutlierDetector();
      d.heartbeat(SVC, 'a', 0, 1000);
      d.directSignal(SVC, 'a', 'connect-refused', 100);
      expect(d.heartbeatDue(SVC, p)).toBe(1001);
      expect(d.evaluate(SVC, ['a'], p, 1000)).toEqual([]); // silent exactly 1 interval
      const [eject, ...rest] = d.evaluate(SVC, ['a'], p, 1001);
      expect(rest).toEqual([]);
      expect(eject).toMatchObject({
        kind: 'eject',
        enforced: true,
        evidence: { rule: 'heartbeat', samples: { lastHeartbeat: 0, silentMs: 1001, refusedAt: 100 }, thresholds: { ttlMs: 1000, missedIntervals: 3, refusedIntervals: 1 } },
      });
      expect(eject!.reason).toContain('refused');
      expect(d.heartbeatDue(SVC, p)).toBeNull(); // once per silence
      expect(d.evaluate(SVC, ['a'], p, 3001)).toEqual([]); // not again at the full TTL
      // Heartbeats resume: restore-probe, as after any silence.
      d.heartbeat(SVC, 'a', 5000, 1000);
      expect(d.evaluate(SVC, ['a'], p, 5000)).toEqual([expect.objectContaining({ kind: 'restore-probe' })]);
    });

    it('a refusal before the last heartbeat, a reset, or refusedIntervals 0 keep the full TTL', () => {
      const before = new OutlierDetector();
      before.directSignal(SVC, 'a', 'connect-refused', 100);
      before.heartbeat(SVC, 'a', 100, 1000); // it heartbeated since: alive then
      expect(before.heartbeatDue(SVC, p)).toBeNull();
      expect(before.evaluate(SVC, ['a'], p, 3100)).toEqual([]);
      expect(before.evaluate(SVC, ['a'], p, 3101)).toEqual([expect.objectContaining({ kind: 'eject', evidence: expect.objectContaining({ thresholds: { ttlMs: 3000, missedIntervals: 3 } }) })]);
      const reset = new OutlierDetector();
      reset.heartbeat(SVC, 'a', 0, 1000);
      reset.directSignal(SVC, 'a', 'reset', 100);
      expect(reset.evaluate(SVC, ['a'], p, 2000)).toEqual([]);
      const off = policy({ heartbeat: { enabled: true, missedIntervals: 3, refusedIntervals: 0 } });
      const d = new OutlierDetector();
      d.heartbeat(SVC, 'a', 0, 1000);
      d.directSignal(SVC, 'a', 'connect-refused', 100);
      expect(d.heartbeatDue(SVC, off)).toBeNull();
      expect(d.evaluate(SVC, ['a'], off, 3000)).toEqual([]);
    });

    it('a live instance is not ejected by a refusal alone: its next heartbeat clears it', () => {
      const d = new OutlierDetector();
      d.heartbeat(SVC, 'a', 0, 1000);
      d.directSignal(SVC, 'a', 'connect-refused', 500);
      d.heartbeat(SVC, 'a', 1000, 1000);
      expect(d.evaluate(SVC, ['a'], p, 2000)).toEqual([]);
      expect(d.heartbeatDue(SVC, p)).toBeNull();
    });

    it('uses the heartbeat interval the instance announced', () => {
      const d = new OutlierDetector();
      d.heartbeat(SVC, 'a', 0, 250);
      d.directSignal(SVC, 'a', 'connect-refused', 10);
      expect(d.evaluate(SVC, ['a'], p, 250)).toEqual([]);
      expect(d.evaluate(SVC, ['a'], p, 251)).toEqual([expect.objectContaining({ kind: 'eject' })]);
    });
  });

  it('says nothing about an instance it never heard from', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(1), 0);
    expect(d.evaluate(SVC, ['a'], p, 60_000)).toEqual([]);
  });
});

describe('probe windows (half-open)', () => {
  const p = policy({ probe: { minRequests: 10, maxFailureRate: 0.1 } });

  it.each([
    [0, 'probe-success'],
    [1, 'probe-success'], // 10 % = max: still ok
    [2, 'probe-failure'],
  ])('%d of 10 failed → %s', (failed, kind) => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(10, { http5xx: failed }), 1000);
    const [decision] = d.evaluate(SVC, ['a'], p, 1000, { probing: ['a'] });
    expect(decision).toMatchObject({ kind, evidence: { rule: 'probe', thresholds: { minRequests: 10, maxFailureRate: 0.1 } } });
  });

  it('ignores windows below minRequests, and instances that are not probing', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(9, { http5xx: 9 }), 1000);
    d.observe(SVC, 'b', win(10), 1000);
    expect(d.evaluate(SVC, ['a', 'b'], p, 1000, { probing: ['a'] })).toEqual([]);
  });

  it('sums the windows since the last evaluation', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(10), 1000);
    d.observe(SVC, 'a', win(10), 2000);
    expect(d.evaluate(SVC, ['a'], p, 2000, { probing: ['a'] })[0]?.evidence).toMatchObject({ samples: { succeeded: 2, failed: 0 } });
  });

  it('fails a probe window slower than the last latency threshold', () => {
    const d = new OutlierDetector();
    const lp = policy({ latency: { enabled: true, minimumHosts: 3, requestVolume: 50, factor: 3, floorMs: 0 }, probe: { minRequests: 1 } });
    for (const id of ['a', 'b', 'c']) d.observe(SVC, id, win(50, {}, sketch(10, 50)), 1000);
    d.evaluate(SVC, ['a', 'b', 'c', 'x'], lp, 1000, { probing: ['x'] });
    d.observe(SVC, 'x', win(5, {}, sketch(100, 5)), 1500);
    const [decision] = d.evaluate(SVC, ['a', 'b', 'c', 'x'], lp, 1500, { probing: ['x'] });
    expect(decision).toMatchObject({ kind: 'probe-failure', instanceId: 'x', evidence: { thresholds: { latencyThreshold: 3 * p99Of(10) } } });
  });
  it('judges a low-volume probe window by its p50, so one slow request (a new connection) does not fail it', () => {
    const d = new OutlierDetector();
    const lp = policy({ latency: { enabled: true, minimumHosts: 2, requestVolume: 50, factor: 3, floorMs: 0 }, probe: { minRequests: 1 } });
    for (const id of ['a', 'b']) d.observe(SVC, id, win(50, {}, sketch(10, 50)), 1000);
    d.evaluate(SVC, ['a', 'b', 'x'], lp, 1000, { probing: ['x'] });
    const mixed = sketch(10, 4);
    mixed.merge(sketch(200, 1));
    d.observe(SVC, 'x', win(5, {}, mixed), 1500);
    const [decision] = d.evaluate(SVC, ['a', 'b', 'x'], lp, 1500, { probing: ['x'] });
    expect(decision).toMatchObject({ kind: 'probe-success', evidence: { samples: { windows: [{ requests: 5, judged: 'p50' }] } } });
    // The same window with requestVolume requests is judged by its p99, and the slow tail fails it.
    const tail = sketch(10, 45);
    tail.merge(sketch(200, 5));
    d.observe(SVC, 'x', win(50, {}, tail), 2500);
    const [second] = d.evaluate(SVC, ['a', 'b', 'x'], lp, 2500, { probing: ['x'] });
    expect(second).toMatchObject({ kind: 'probe-failure', evidence: { samples: { windows: [{ requests: 50, judged: 'p99' }] } } });
    expect(second!.reason).toMatch(/p99 .* > /);
  });
});

describe('bookkeeping', () => {
  it('drops state of instances no longer listed', () => {
    const d = new OutlierDetector();
    d.observe(SVC, 'a', win(2, { http5xx: 2 }), 1000);
    d.evaluate(SVC, [], policy(), 1000);
    expect(d.streaks(SVC, 'a')).toBeNull();
  });

  it('never lets reported failures exceed requests', () => {
    const d = new OutlierDetector();
    const p = policy({ consecutiveFailures: { enabled: true, threshold: 3 } });
    d.observe(SVC, 'a', win(0, { connect: 3 }), 1000); // connect errors counted apart from requests
    expect(ejects(d.evaluate(SVC, ['a'], p, 1000))).toEqual(['a']);
  });
});

describe('latency sketches in every form the detector takes', () => {
  it('a LatencySketch, its wire form and its blob give the same decisions, report and evidence over several sweeps', () => {
    const p = policy({ latency: { enabled: true, minimumHosts: 2, requestVolume: 50, factor: 3, floorMs: 0, maxIntervals: 4 } });
    const forms = {
      sketch: (s: LatencySketch) => s,
      wire: (s: LatencySketch) => s.toWire(),
      blob: (s: LatencySketch) => encodeSketch(s.toWire()),
    };
    const runs = Object.values(forms).map((form) => {
      const d = new OutlierDetector();
      const out: unknown[] = [];
      // Three quiet intervals (20 requests each: a host is judged over several), then c slows down; b also calls a slow callee.
      for (const [at, cMs] of [[1000, 10], [2000, 10], [3000, 10], [4000, 90], [5000, 90]] as const) {
        for (const [id, ms] of [['a', 10], ['b', 12], ['c', cMs]] as const) {
          const latency = new LatencySketch();
          latency.add(ms, 15);
          latency.add(ms * 2, 5);
          d.observe(SVC, id, { ...win(20), latency: form(latency), ...(id === 'b' ? { outbound: { payments: { requests: 20, latency: form(sketch(8, 20)) } } } : {}) }, at);
        }
        out.push(d.evaluate(SVC, ['a', 'b', 'c'], p, at), d.sweepReport(SVC));
      }
      return out;
    });
    expect(ejects(runs[0]!.filter((_, i) => i % 2 === 0).flat() as OutlierDecision[])).toEqual(['c']);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });
});

describe('latency: a host slow because its callee is slow is spared', () => {
  const lp = (o: Partial<OutlierPolicyInput['latency'] & object> = {}) =>
    policy({ latency: { enabled: true, minimumHosts: 2, requestVolume: 50, factor: 3, floorMs: 0, maxIntervals: 4, ...o } });
  /** One sweep interval: per host [own inbound latency, requests, outbound latency or null]. */
  function tick(d: OutlierDetector, at: number, hosts: Record<string, [ms: number, requests: number, outMs: number | null]>, p: OutlierPolicy) {
    for (const [id, [value, requests, out]] of Object.entries(hosts)) {
      d.observe(SVC, id, { ...win(requests, {}, sketch(value, requests)), ...(out === null ? {} : { outbound: { payments: { requests, latency: sketch(out, requests).toWire() } } }) }, at);
    }
    return d.evaluate(SVC, Object.keys(hosts), p, at);
  }
  const spared = (d: OutlierDetector) => {
    const l = d.sweepReport(SVC)?.latency;
    return l && 'spared' in l ? (l.spared ?? []) : [];
  };

  it('a caller whose outbound calls carry its delay is not ejected; the sweep report says why, and it is judged again next sweep', () => {
    // a waits 100 ms on its callee (slowed ×10) and spends 10 ms itself; b waits 10 ms and spends 10.
    const d2 = new OutlierDetector();
    expect(tick(d2, 1000, { a: [110, 60, 100], b: [20, 60, 10] }, lp())).toEqual([]);
    const [s] = spared(d2);
    expect(s).toMatchObject({
      instanceId: 'a',
      ownBy: 'p99',
      samples: { requests: 60, intervals: 1, p99: p99Of(110), outbound: { requests: 60, p99: p99Of(100), callees: [{ service: 'payments', requests: 60, p99: p99Of(100) }] }, own: { p99: p99Of(110) - p99Of(100), medianP99: p99Of(20) - p99Of(10) } },
      thresholds: { threshold: 3 * p99Of(20) },
    });
    expect(s!.reason).toMatch(/^spared: p99 .* but its outbound calls explain it \(payments: 60, p99 .*\): own p99 .* <= /);
    // Its window is kept: over several intervals it is still judged, and still spared.
    expect(tick(d2, 2000, { a: [110, 10, 100], b: [20, 10, 10] }, lp())).toEqual([]);
    expect(spared(d2).map((h) => h.instanceId)).toEqual(['a']);
    // Without outbound telemetry the rule is what it was: a is ejected.
    expect(ejects(tick(new OutlierDetector(), 1000, { a: [110, 60, null], b: [20, 60, null] }, lp()))).toEqual(['a']);
  });

  it('a host slow on its own is ejected even though it calls a slow callee too; its evidence carries its own latency', () => {
    const d = new OutlierDetector();
    const decisions = tick(d, 1000, { a: [300, 60, 100], b: [20, 60, 10] }, lp());
    expect(ejects(decisions)).toEqual(['a']);
    const e = decisions[0]!.evidence;
    if (e.rule !== 'latency') throw new Error('unexpected evidence');
    expect(e.samples.own).toMatchObject({ p99: p99Of(300) - p99Of(100), medianP99: p99Of(20) - p99Of(10), threshold: 3 * (p99Of(20) - p99Of(10)) });
    expect(decisions[0]!.reason).toContain('own p99');
    expect(spared(d)).toEqual([]);
  });

  it('the callee itself (no outbound calls) is judged whole and ejected', () => {
    const d = new OutlierDetector();
    expect(ejects(tick(d, 1000, { 'pay-a': [100, 60, null], 'pay-b': [10, 60, null] }, lp()))).toEqual(['pay-a']);
  });

  it('at the own bar it is spared, just above it ejected (the bar: max(floorMs, factor × the peers’ own p99))', () => {
    const own = p99Of(110) - p99Of(100);
    // b's own latency 0 (all of it outbound): the bar is the floor.
    const at = (floorMs: number) => tick(new OutlierDetector(), 1000, { a: [110, 60, 100], b: [10, 60, 10] }, lp({ floorMs }));
    expect(p99Of(110)).toBeGreaterThan(own + 1); // above the total bar in both cases
    expect(ejects(at(own))).toEqual([]);
    expect(ejects(at(own - 0.001))).toEqual(['a']);
  });

  it('over several intervals: spared when its own median is under the p50 bar', () => {
    const d = new OutlierDetector();
    for (const at of [1000, 2000, 3000]) expect(tick(d, at, { a: [110, 13, 100], b: [20, 13, 10] }, lp())).toEqual([]);
    expect(tick(d, 4000, { a: [110, 13, 100], b: [20, 13, 10] }, lp())).toEqual([]);
    const [s] = spared(d);
    expect(s).toMatchObject({ instanceId: 'a', samples: { intervals: 4, requests: 52, own: { p50Threshold: expect.any(Number) } }, thresholds: { p50Threshold: 3 * p99Of(20) } });
    expect(s!.ownBy).toBe('p99');
  });

  it('over several intervals: a stall above its own p99 bar, its own median under the p50 bar: spared by the p50, and it says so', () => {
    const d = new OutlierDetector();
    // a waits 100 ms on its callee in every request and spends 10 ms itself, but one interval of
    // its four stalled (400 ms): its own p99 is that stall, its own p50 is still 10 ms.
    for (const at of [1000, 2000, 3000]) expect(tick(d, at, { a: [110, 13, 100], b: [20, 13, 10] }, lp())).toEqual([]);
    expect(tick(d, 4000, { a: [400, 13, 100], b: [20, 13, 10] }, lp())).toEqual([]);
    const [s] = spared(d);
    expect(s!.samples.own.p99).toBeGreaterThan(s!.samples.own.threshold);
    expect(s!.samples.own.p50).toBeLessThanOrEqual(s!.samples.own.p50Threshold!);
    expect(s).toMatchObject({ instanceId: 'a', ownBy: 'p50' });
    expect(s!.reason).toMatch(/: own p50 .* <= /);
  });

  it('probe windows are judged against the hosts not above the bars: a spared slow caller does not raise the bar', () => {
    const d = new OutlierDetector();
    tick(d, 1000, { a: [110, 60, 100], b: [20, 60, 10], c: [20, 60, 10] }, lp());
    expect(spared(d).map((h) => h.instanceId)).toEqual(['a']);
    expect(d.sweepReport(SVC)?.latency).toMatchObject({ medianP99: p99Of(20), threshold: 3 * p99Of(20) });
  });

  it('with several callees, the slowest one explains the wait (a fast callee called as often does not dilute it)', () => {
    const d = new OutlierDetector();
    const at = 1000;
    const observe = (id: string, ms: number, pay: number) =>
      d.observe(SVC, id, { ...win(60, {}, sketch(ms, 60)), outbound: { payments: { requests: 60, latency: sketch(pay, 60) }, inventory: { requests: 120, latency: sketch(5, 120) } } }, at);
    observe('a', 110, 100);
    observe('b', 20, 10);
    expect(d.evaluate(SVC, ['a', 'b'], lp(), at)).toEqual([]);
    const [s] = spared(d);
    expect(s!.samples.outbound).toMatchObject({ requests: 180, p99: p99Of(100), callees: [{ service: 'inventory', requests: 120 }, { service: 'payments', requests: 60 }] });
    expect(s!.samples.own.p50).toBeCloseTo(p99Of(110) - p99Of(100), 9);
  });
});
