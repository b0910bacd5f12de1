/**
 * Helpers for the balancer's statistical tests: endpoint fixtures, pick counting, tolerance
 * bounds and a small discrete-event simulation of a sidecar sending requests. Randomness always
 * comes from a seeded mulberry32, so every test is deterministic; the tolerances are still chosen
 * so that they would hold for almost any seed (see `sigmaBound`).
 */
import { mulberry32 } from './random.js';
import type { Balancer, Endpoint, PickContext } from './types.js';

export { mulberry32 };

export function endpoint(id: string, extra: Partial<Endpoint> = {}): Endpoint {
  return { id, zone: 'z1', weight: 1, healthy: true, ...extra };
}

/** n endpoints "<prefix>-0" … "<prefix>-(n-1)", healthy, weight 1. */
export function endpoints(n: number, prefix = 'ep', extra: Partial<Endpoint> = {}): Endpoint[] {
  return Array.from({ length: n }, (_, i) => endpoint(`${prefix}-${i}`, extra));
}

/** Counts picks by endpoint id; `null` picks are counted under the key "null". */
export function countPicks(balancer: Balancer, picks: number, ctx: (i: number) => PickContext = () => ({ now: 0 })): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const id = balancer.pick(ctx(i))?.id ?? 'null';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Share of `total` that `id` received. */
export function share(counts: Map<string, number>, id: string, total?: number): number {
  const sum = total ?? [...counts.values()].reduce((a, b) => a + b, 0);
  return (counts.get(id) ?? 0) / sum;
}

/**
 * Largest allowed |count - n p| for a cell of a multinomial: `sigmas` standard deviations
 * sqrt(n p (1 - p)). At 5 sigma a correct balancer fails with probability < 6e-7 per cell, so a
 * failure means bias, not bad luck.
 */
export function sigmaBound(n: number, p: number, sigmas = 5): number {
  return sigmas * Math.sqrt(n * p * (1 - p));
}

/** Pearson's chi-square statistic of observed counts against expected counts. */
export function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  return observed.reduce((sum, o, i) => sum + (o - expected[i]!) ** 2 / expected[i]!, 0);
}

/** Chi-square critical values at p = 0.001, by degrees of freedom. */
export const CHI2_CRITICAL_0_001: Readonly<Record<number, number>> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 9: 27.88, 19: 43.82 };

interface Pending {
  end: number;
  id: string;
  latency: number;
}

/** Binary min-heap of pending requests by end time. */
class PendingHeap {
  private items: Pending[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Pending | undefined {
    return this.items[0];
  }
  push(item: Pending): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.end <= a[i]!.end) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }
  pop(): Pending | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.end < a[m]!.end) m = l;
        if (r < a.length && a[r]!.end < a[m]!.end) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

export interface Simulation {
  /** Sends requests every `intervalMs` from the current time until `untilMs`; returns picks per id. */
  run(untilMs: number): Map<string, number>;
  readonly now: number;
  /** Requests still in flight. */
  readonly inFlight: number;
}

/**
 * Open-loop simulation of a sidecar: a request arrives every `intervalMs`; the balancer picks,
 * gets onStart, and onEnd once the request's latency (from `latency(id, startTime)`, plus up to
 * `jitter` relative random noise) has elapsed. Completions are delivered in time order before
 * each arrival.
 */
export function simulation(
  balancer: Balancer,
  options: { intervalMs: number; latency: (id: string, now: number) => number; ok?: (id: string, now: number) => boolean; seed?: number; jitter?: number },
): Simulation {
  const random = mulberry32(options.seed ?? 7);
  const jitter = options.jitter ?? 0.2;
  const pending = new PendingHeap();
  let now = 0;
  const deliver = (until: number) => {
    for (let next = pending.peek(); next && next.end <= until; next = pending.peek()) {
      pending.pop();
      balancer.onEnd(next.id, next.end, next.latency, options.ok?.(next.id, next.end - next.latency) ?? true);
    }
  };
  return {
    get now() {
      return now;
    },
    get inFlight() {
      return pending.size;
    },
    run(untilMs: number) {
      const counts = new Map<string, number>();
      for (; now < untilMs; now += options.intervalMs) {
        deliver(now);
        const picked = balancer.pick({ now });
        if (!picked) continue;
        counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
        balancer.onStart(picked.id, now);
        const latency = options.latency(picked.id, now) * (1 + jitter * (2 * random() - 1));
        pending.push({ end: now + latency, id: picked.id, latency });
      }
      return counts;
    },
  };
}

/** A seeded Fisher-Yates shuffle (a new array). */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const random = mulberry32(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
