/**
 * The events tail: every notable thing the core sees (registry changes, failover decisions,
 * control actions and acks, incidents, broker and storage changes) as one line each, numbered,
 * kept in a bounded ring for new subscribers and handed out in batches at most once a second.
 */
import { EventEmitter } from 'node:events';
import type { TailBatch, TailEvent } from './schema.js';

export interface EventTailOptions {
  /** Events kept for a new subscriber (the ring's size); older ones are dropped. */
  keep?: number;
  /** Batches are coalesced over this long (ms). */
  batchMs?: number;
  now?: () => number;
}

export const TAIL_KEEP = 500;

export class EventTail extends EventEmitter<{ batch: [TailBatch] }> {
  readonly keep: number;
  private readonly batchMs: number;
  private readonly now: () => number;
  private readonly ring: TailEvent[] = [];
  private pending: TailEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private seq = 0;
  private closed = false;

  constructor(options: EventTailOptions = {}) {
    super();
    this.keep = Math.max(1, options.keep ?? TAIL_KEEP);
    this.batchMs = options.batchMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** Records one event; it goes out with the next batch. Returns it with its number. */
  record(event: Omit<TailEvent, 'seq'>): TailEvent {
    const numbered: TailEvent = { ...event, seq: ++this.seq };
    // Both lists are cut back to `keep` once they reach twice that (amortised O(1) per event: a
    // cut per event moved the whole ring each time, and a sweep brings thousands at once);
    // readers only ever see the newest `keep`.
    this.ring.push(numbered);
    if (this.ring.length >= 2 * this.keep) this.ring.splice(0, this.ring.length - this.keep);
    if (this.closed) return numbered;
    this.pending.push(numbered);
    // Bounded like the ring: a batch never holds more than `keep` events (the oldest go).
    if (this.pending.length >= 2 * this.keep) this.pending.splice(0, this.pending.length - this.keep);
    this.timer ??= setTimeout(() => this.flush(), this.batchMs);
    return numbered;
  }

  /** The recent events, oldest first: what a new subscriber starts with. */
  backlog(): TailBatch {
    return { at: this.now(), mode: 'backlog', events: this.ring.slice(-this.keep) };
  }

  /** Sends what is pending now (the timer calls it). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    const events = this.pending.length > this.keep ? this.pending.slice(-this.keep) : this.pending;
    this.pending = [];
    this.emit('batch', { at: this.now(), mode: 'live', events });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
  }
}
