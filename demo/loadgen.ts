/**
 * Open-loop load generator for the demo: requests leave on a fixed schedule (not back to back),
 * so a slow mesh shows up as latency and errors instead of a quietly lower rate. It keeps its
 * own measurements, to compare with what the mesh reports.
 */
import { Agent, request } from 'node:http';
import { LatencySketch } from '../core/protocol/sketch.js';
import { TRAFFIC_MIX } from './topology.js';

export interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  byStatus: Record<string, number>;
  p50: number | null;
  p99: number | null;
  startedAt: number;
}

/**
 * Called once per request: when it was sent (Date.now()), how it ended (HTTP status, 0 for a
 * network error or timeout, -1 when it was not sent because maxInflight requests were pending)
 * and its latency in ms. For measurements that need more than the running totals (benchmarks).
 */
export type LoadObserver = (sentAt: number, status: number, latencyMs: number) => void;

export class LoadGenerator {
  private timer: NodeJS.Timeout | null = null;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512 });
  private readonly latency = new LatencySketch();
  private readonly stats = { sent: 0, ok: 0, failed: 0, byStatus: {} as Record<string, number> };
  private next = 0;
  private carry = 0;
  private readonly startedAt = Date.now();
  private inflight = 0;

  constructor(
    private readonly targets: () => number[],
    private rps: number,
    private readonly maxInflight = 2000,
    private readonly observer: LoadObserver | null = null,
  ) {}

  start(): void {
    const tickMs = 10;
    this.timer = setInterval(() => {
      this.carry += (this.rps * tickMs) / 1000;
      const n = Math.floor(this.carry);
      this.carry -= n;
      for (let i = 0; i < n; i++) this.fire();
    }, tickMs);
  }

  setRate(rps: number): void {
    this.rps = rps;
  }

  snapshot(): LoadStats {
    return { ...this.stats, byStatus: { ...this.stats.byStatus }, p50: this.latency.quantile(0.5), p99: this.latency.quantile(0.99), startedAt: this.startedAt };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.agent.destroy();
  }

  private fire(): void {
    const ports = this.targets();
    if (ports.length === 0 || this.inflight >= this.maxInflight) {
      this.count('skipped');
      this.observer?.(Date.now(), -1, 0);
      return;
    }
    const port = ports[this.next++ % ports.length]!;
    const roll = Math.random();
    let acc = 0;
    const pick = TRAFFIC_MIX.find((m) => (acc += m.share) >= roll) ?? TRAFFIC_MIX[0];
    const started = performance.now();
    const sentAt = this.observer ? Date.now() : 0;
    this.inflight += 1;
    this.stats.sent += 1;
    const req = request({ host: '127.0.0.1', port, method: pick.method, path: pick.path, agent: this.agent, headers: { 'content-length': '0' } }, (res) => {
      res.resume();
      res.on('end', () => this.done(res.statusCode ?? 0, started, sentAt));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => this.done(0, started, sentAt));
    req.end();
  }

  private done(status: number, started: number, sentAt: number): void {
    this.inflight -= 1;
    const latencyMs = performance.now() - started;
    this.latency.add(latencyMs);
    this.observer?.(sentAt, status, latencyMs);
    if (status >= 200 && status < 500) this.stats.ok += 1;
    else this.stats.failed += 1;
    this.count(status === 0 ? 'network' : String(status));
  }

  private count(key: string): void {
    this.stats.byStatus[key] = (this.stats.byStatus[key] ?? 0) + 1;
  }
}
