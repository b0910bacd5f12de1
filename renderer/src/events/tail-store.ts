/**
 * The console's side of the events tail: a bounded ring of the events received (newest first
 * when read), pause/resume with the events held back meanwhile (bounded too), clear, gap
 * detection, and the filters of the Events view. Pure: no React, no transport.
 */
import type { TailBatch, TailEvent, TailEventKind } from '../../../core/api/contract';

export const TAIL_CAPACITY = 5000;

/** A fixed-size ring: pushing past capacity drops the oldest. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    const end = (this.start + this.count) % this.capacity;
    this.items[end] = item;
    if (this.count < this.capacity) this.count += 1;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Newest first. */
  newestFirst(): T[] {
    const out: T[] = new Array<T>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.items[(this.start + this.count - 1 - i) % this.capacity] as T;
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.start = 0;
    this.count = 0;
  }
}

export interface TailSnapshot {
  /** Shown events, newest first by time (at most the capacity). */
  events: TailEvent[];
  paused: boolean;
  /** Events that arrived while paused, not shown yet. */
  held: number;
  /** Events known to be missed: the link fell behind, or more were held than could be kept. */
  missed: number;
  /** Events received since the view started (including cleared ones). */
  received: number;
}

export class TailStore {
  private readonly shown: Ring<TailEvent>;
  private readonly heldBack: Ring<TailEvent>;
  private heldCount = 0;
  private paused = false;
  private missed = 0;
  private received = 0;
  private lastSeq = 0;
  private snapshot: TailSnapshot | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(readonly capacity = TAIL_CAPACITY) {
    this.shown = new Ring(capacity);
    this.heldBack = new Ring(capacity);
  }

  ingest(batch: TailBatch): void {
    const events = batch.events;
    if (events.length === 0) return;
    // A backlog numbered below what we saw comes from a restarted core: its numbers start over.
    if (batch.mode === 'backlog' && events.at(-1)!.seq < this.lastSeq) this.lastSeq = 0;
    let added = 0;
    for (const e of events) {
      if (e.seq <= this.lastSeq) continue; // already have it (a backlog after reconnecting)
      if (this.lastSeq > 0 && e.seq > this.lastSeq + 1 && batch.mode === 'live') this.missed += e.seq - this.lastSeq - 1;
      this.lastSeq = e.seq;
      this.received += 1;
      added += 1;
      if (this.paused) {
        this.heldBack.push(e);
        this.heldCount += 1;
      } else this.shown.push(e);
    }
    if (added) this.changed();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.changed();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.missed += this.heldCount - this.heldBack.size;
    for (const e of this.heldBack.newestFirst().reverse()) this.shown.push(e);
    this.heldBack.clear();
    this.heldCount = 0;
    this.changed();
  }

  /** Empties the view (and what was held back); the tail goes on. */
  clear(): void {
    this.shown.clear();
    this.heldBack.clear();
    this.heldCount = 0;
    this.missed = 0;
    this.changed();
  }

  /** Events kept in memory, shown and held back: never more than twice the capacity. */
  get retained(): number {
    return this.shown.size + this.heldBack.size;
  }

  isPaused(): boolean {
    return this.paused;
  }

  read(): TailSnapshot {
    this.snapshot ??= { events: byTimeNewestFirst(this.shown.newestFirst()), paused: this.paused, held: this.heldCount, missed: this.missed, received: this.received };
    return this.snapshot;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.snapshot = null;
    for (const l of this.listeners) l();
  }
}

/**
 * Newest first by when it happened: lines from the audit log arrive up to a second after the
 * registry's and the acks', so arrival order is not time order. Equal times keep arrival order.
 */
export function byTimeNewestFirst(events: TailEvent[]): TailEvent[] {
  return events.sort((a, b) => b.at - a.at || b.seq - a.seq);
}

export interface TailFilter {
  /** Kinds shown; empty: all. */
  kinds: ReadonlySet<TailEventKind>;
  service: string;
  text: string;
}

export function filterEvents(events: readonly TailEvent[], filter: TailFilter): TailEvent[] {
  const text = filter.text.trim().toLowerCase();
  return events.filter(
    (e) =>
      (filter.kinds.size === 0 || filter.kinds.has(e.kind)) &&
      (!filter.service || e.service === filter.service) &&
      (!text || [e.text, e.service, e.instanceId, e.actor, e.kind].some((v) => v?.toLowerCase().includes(text))),
  );
}
