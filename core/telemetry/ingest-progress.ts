/**
 * How far the core's telemetry consumer is behind the stream: the offset it has processed, the
 * stream's tail (from the broker), messages behind, how old the newest window processed is, the
 * rate it catches up at and when it will be live. A console restarted after a while (or started
 * on a mesh with history it never read) backfills from its stored offset; this is what the top
 * bar shows meanwhile.
 *
 * Pure bookkeeping: the caller reports each processed message (`processed`) and each reading of
 * the stream's bounds (`tail`); `view(now)` derives the rest. Rates are measured over the last
 * RATE_WINDOW_MS of readings.
 */

export type IngestState = 'live' | 'backfilling' | 'unknown';

export interface IngestProgressView {
  /**
   * backfilling: processing windows that ended more than BACKFILL_LAG_MS before they were
   * processed, or behind the tail with nothing newer; live: otherwise; unknown: no tail reading
   * and nothing processed yet.
   */
  state: IngestState;
  /** Offset of the last message processed (null: none since start). */
  reachedOffset: number | null;
  /**
   * Offset of the newest message in the stream, as the broker's queue metrics last saw it (they
   * are refreshed every few seconds, so it may lag: never below reachedOffset).
   */
  tailOffset: number | null;
  /** Messages between the two (0 when caught up; null before the first tail reading). */
  behind: number | null;
  /** now − end of the newest telemetry window processed (ms); null before the first batch. */
  lagMs: number | null;
  /** Messages processed per second lately. */
  processedPerSecond: number;
  /** Messages appended to the stream per second lately. */
  arrivingPerSecond: number;
  /** Seconds until caught up at the current rates; null when not behind or not catching up. */
  etaSeconds: number | null;
  /** When the tail was last read (ms since epoch), null never. */
  tailReadAt: number | null;
}

/** Behind by windows older than this (ms) counts as backfilling; less is ordinary pipeline delay. */
export const BACKFILL_LAG_MS = 5000;
const RATE_WINDOW_MS = 10_000;
/** A batch processed this recently (ms) counts as "reading now". */
const RECENT_MS = 2000;

interface Reading {
  at: number;
  reached: number;
  tail: number;
}

export class IngestProgress {
  private reached: number | null = null;
  private windowEnd: number | null = null;
  /** When the last batch was processed, and how old its window was then (ms). */
  private lastProcessedAt: number | null = null;
  private lastAgeMs = 0;
  private tailOffset: number | null = null;
  private tailReadAt: number | null = null;
  private readings: Reading[] = [];
  private fromTail = false;

  /**
   * A session starts reading at `start`: a stored offset + 1 (everything before it is processed),
   * or 'next' (only what arrives from now on: whatever the stream holds is not behind).
   */
  started(start: number | 'next'): void {
    this.readings = [];
    this.tailOffset = null;
    this.tailReadAt = null;
    this.fromTail = start === 'next';
    if (typeof start === 'number' && (this.reached === null || start - 1 > this.reached)) this.reached = start - 1;
  }

  /**
   * A message at `offset` was processed at `at`; `windowEnd` is the end of its telemetry window
   * (ms), if it had one.
   */
  processed(offset: number, windowEnd?: number, at?: number): void {
    if (offset >= 0 && (this.reached === null || offset > this.reached)) this.reached = offset;
    if (windowEnd === undefined) return;
    if (this.windowEnd === null || windowEnd > this.windowEnd) this.windowEnd = windowEnd;
    if (at !== undefined) {
      this.lastProcessedAt = at;
      this.lastAgeMs = at - windowEnd;
    }
  }

  /**
   * The stream's bounds as read from the broker: `first` is the oldest offset still kept and
   * `count` the messages kept, so the tail is first + count − 1 (an empty stream has none).
   */
  tail(first: number, count: number, at: number): void {
    this.tailOffset = count > 0 ? first + count - 1 : null;
    this.tailReadAt = at;
    if (this.fromTail) {
      this.fromTail = false;
      if (this.reached === null && this.tailOffset !== null) this.reached = this.tailOffset;
    }
    const reached = this.reached ?? first - 1;
    this.readings.push({ at, reached, tail: this.tailOffset ?? first - 1 });
    while (this.readings.length > 2 && this.readings[0]!.at < at - RATE_WINDOW_MS) this.readings.shift();
  }

  view(now: number): IngestProgressView {
    const reached = this.reached;
    const tail = this.tailOffset === null ? null : Math.max(this.tailOffset, reached ?? -1);
    const behind = this.tailReadAt === null ? null : Math.max(0, (tail ?? -1) - (reached ?? -1));
    const lagMs = this.windowEnd === null ? null : Math.max(0, now - this.windowEnd);
    let processedPerSecond = 0;
    let arrivingPerSecond = 0;
    if (this.readings.length >= 2) {
      const a = this.readings[0]!;
      const b = this.readings.at(-1)!;
      const seconds = (b.at - a.at) / 1000;
      if (seconds > 0) {
        processedPerSecond = Math.max(0, (b.reached - a.reached) / seconds);
        arrivingPerSecond = Math.max(0, (b.tail - a.tail) / seconds);
      }
    }
    // Reading old windows right now is a backfill whatever the (possibly stale) tail says; behind
    // the tail with nothing newer is one too (before the first batch of a session there is no
    // window to date the backlog by: behind is behind).
    const readingOld = this.lastProcessedAt !== null && now - this.lastProcessedAt < RECENT_MS && this.lastAgeMs > BACKFILL_LAG_MS;
    const stuckBehind = behind !== null && behind > 0 && (lagMs === null || lagMs > BACKFILL_LAG_MS);
    let state: IngestState = behind === null && reached === null ? 'unknown' : 'live';
    if (readingOld || stuckBehind) state = 'backfilling';
    const gaining = processedPerSecond - arrivingPerSecond;
    const etaSeconds = state === 'backfilling' && behind !== null && gaining > 0 ? behind / gaining : null;
    return { state, reachedOffset: reached, tailOffset: tail, behind, lagMs, processedPerSecond, arrivingPerSecond, etaSeconds, tailReadAt: this.tailReadAt };
  }
}
