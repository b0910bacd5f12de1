/**
 * How far behind the core itself is in hearing heartbeats, so that its own lag is not taken for
 * instances going silent. A console whose event loop stood still for seconds (a long SQLite
 * write, a burst of telemetry on a 2-core machine), or whose heartbeat queue grew a backlog,
 * would otherwise find every instance "silent" at its next sweep: the registry would mark the
 * whole mesh down and the failover engine eject it, for a fault that is the console's alone.
 *
 * Two measures, and the grace is the larger of them (capped at `maxGraceMs`):
 * - **backlog**: the smallest (handled − sent) over the heartbeats handled in the last one to two
 *   seconds, `sent` being the agent's own CloudEvents `time`, when it is `backlogFloorMs` or more.
 *   When the core works through a backlog, every heartbeat it handles is that old. The smallest
 *   one is taken so that agents whose clocks run behind the core's cannot create a grace on
 *   their own: it takes every agent heard in that time to be behind by as much (an agent whose
 *   clock runs ahead makes it 0, the plain TTL). No heartbeat heard in that time: 0.
 * - **stall**: the periodic sweep tells when it ran late; a sweep `late` ms late means the event
 *   loop stood still that long and heartbeats waited unread meanwhile. That much is forgiven for
 *   `settleMs` after the stall, the time to read what queued up (heard then, those heartbeats
 *   refresh their instances; a queue still deep after that shows as a backlog).
 */
export interface HeartbeatLagOptions {
  /** The most silence forgiven on the core's account (default 60 s): beyond that, silence counts. */
  maxGraceMs: number;
  /** How late a sweep may run before it counts as a stall (default 1 000 ms). */
  stallToleranceMs: number;
  /** How long after a stall its grace lasts (default 3 000 ms). */
  settleMs: number;
  /** A backlog under this is the broker's and the network's ordinary delay, not the core falling behind (default 500 ms). */
  backlogFloorMs: number;
}

export const DEFAULT_HEARTBEAT_LAG: HeartbeatLagOptions = { maxGraceMs: 60_000, stallToleranceMs: 1000, settleMs: 3000, backlogFloorMs: 500 };

/** The words a TTL decision adds for its grace: "" when there is none. */
export function graceText(graceMs: number): string {
  return graceMs > 0 ? ` + ${Math.round(graceMs)} ms the core was behind` : '';
}

/** Heartbeats' lags are kept per second: the grace reads this second's and the last one's. */
const BUCKET_MS = 1000;

export class HeartbeatLag {
  private readonly options: HeartbeatLagOptions;
  private bucketStart = Number.NEGATIVE_INFINITY;
  private currentMin = Number.POSITIVE_INFINITY;
  private previousMin = Number.POSITIVE_INFINITY;
  private stall: { ms: number; until: number } | null = null;

  constructor(options: Partial<HeartbeatLagOptions> = {}) {
    this.options = { ...DEFAULT_HEARTBEAT_LAG, ...options };
  }

  /** A heartbeat sent at `sentAt` (the agent's clock, ms; NaN when unknown) handled at `now`. */
  heard(sentAt: number, now: number): void {
    this.roll(now);
    const lag = now - sentAt;
    if (Number.isFinite(lag) && lag < this.currentMin) this.currentMin = lag;
  }

  /** The sweep ran at `now`, `lateMs` after it was due. */
  swept(now: number, lateMs: number): void {
    if (lateMs <= this.options.stallToleranceMs) return;
    // A stall while an earlier one is still forgiven: the larger, until the later end.
    const earlier = this.stall !== null && now <= this.stall.until ? this.stall : { ms: 0, until: 0 };
    this.stall = { ms: Math.max(lateMs, earlier.ms), until: Math.max(now + this.options.settleMs, earlier.until) };
  }

  /** Silence to forgive at `now`, on top of a heartbeat TTL (ms, 0 when the core is keeping up). */
  graceMs(now: number): number {
    this.roll(now);
    const lag = Math.min(this.currentMin, this.previousMin);
    const backlog = Number.isFinite(lag) && lag >= this.options.backlogFloorMs ? lag : 0;
    const stall = this.stall !== null && now <= this.stall.until ? this.stall.ms : 0;
    return Math.min(this.options.maxGraceMs, Math.max(backlog, stall));
  }

  private roll(now: number): void {
    if (now < this.bucketStart + BUCKET_MS) return;
    const elapsed = now - this.bucketStart;
    // The second that just ended becomes the previous one; more than one gone: nothing heard in it.
    this.previousMin = elapsed < 2 * BUCKET_MS ? this.currentMin : Number.POSITIVE_INFINITY;
    this.currentMin = Number.POSITIVE_INFINITY;
    this.bucketStart = Number.isFinite(elapsed) ? now - (elapsed % BUCKET_MS) : now;
  }
}
