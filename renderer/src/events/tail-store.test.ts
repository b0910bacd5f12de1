import { describe, expect, it } from 'vitest';
import type { TailBatch, TailEvent } from '../../../core/api/contract';
import { Ring, TAIL_CAPACITY, TailStore, filterEvents } from './tail-store';

const ev = (seq: number, over: Partial<TailEvent> = {}): TailEvent => ({
  seq,
  at: 1_700_000_000_000 + seq,
  kind: 'registry',
  level: 'info',
  profileId: 'cli',
  service: 'checkout',
  instanceId: `c${seq}`,
  text: `event ${seq}`,
  actor: null,
  ...over,
});
const live = (from: number, to: number): TailBatch => ({ at: 0, mode: 'live', events: Array.from({ length: to - from + 1 }, (_, i) => ev(from + i)) });

describe('Ring', () => {
  it('drops the oldest past its capacity and reads newest first', () => {
    const ring = new Ring<number>(3);
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect(ring.size).toBe(3);
    expect(ring.newestFirst()).toEqual([5, 4, 3]);
  });
});

describe('TailStore', () => {
  it('never keeps more than 5 000 events however many arrive, newest first', () => {
    const store = new TailStore();
    expect(store.capacity).toBe(TAIL_CAPACITY);
    for (let from = 1; from <= 50_000; from += 1000) store.ingest(live(from, from + 999));
    const snap = store.read();
    expect(snap.events).toHaveLength(5000);
    expect(store.retained).toBe(5000);
    expect(snap.events[0]!.seq).toBe(50_000);
    expect(snap.events.at(-1)!.seq).toBe(45_001);
    expect(snap.received).toBe(50_000);
  });

  it('holds events back while paused, counts them, and shows them on resume (bounded)', () => {
    const store = new TailStore(100);
    store.ingest(live(1, 10));
    store.pause();
    store.ingest(live(11, 15));
    expect(store.read()).toMatchObject({ paused: true, held: 5 });
    expect(store.read().events[0]!.seq).toBe(10);
    store.ingest(live(16, 400));
    expect(store.read().held).toBe(390);
    expect(store.retained).toBeLessThanOrEqual(200);
    store.resume();
    const snap = store.read();
    expect(snap).toMatchObject({ paused: false, held: 0, missed: 290 });
    expect(snap.events[0]!.seq).toBe(400);
    expect(snap.events).toHaveLength(100);
  });

  it('ignores what it already has, counts gaps, and starts over with a restarted core', () => {
    const store = new TailStore();
    store.ingest({ at: 0, mode: 'backlog', events: [ev(1), ev(2), ev(3)] });
    store.ingest({ at: 0, mode: 'backlog', events: [ev(2), ev(3), ev(4)] });
    expect(store.read().events.map((e) => e.seq)).toEqual([4, 3, 2, 1]);
    store.ingest(live(8, 9));
    expect(store.read().missed).toBe(3);
    store.ingest({ at: 0, mode: 'backlog', events: [ev(1, { text: 'new core', at: 1_700_000_001_000 })] });
    expect(store.read().events[0]!.text).toBe('new core');
  });

  it('shows the newest first by time, even when a line arrives late', () => {
    const store = new TailStore();
    store.ingest({ at: 0, mode: 'live', events: [ev(1, { at: 100 }), ev(2, { at: 300 })] });
    store.ingest({ at: 0, mode: 'live', events: [ev(3, { at: 200 }), ev(4, { at: 300 })] });
    expect(store.read().events.map((e) => e.seq)).toEqual([4, 2, 3, 1]);
  });

  it('clears the view and goes on', () => {
    const store = new TailStore();
    store.ingest(live(1, 5));
    store.clear();
    expect(store.read().events).toEqual([]);
    store.ingest(live(6, 6));
    expect(store.read().events.map((e) => e.seq)).toEqual([6]);
  });
});

describe('filterEvents', () => {
  const events = [ev(1), ev(2, { kind: 'incident', service: 'payments', text: 'Incident #1 opened' }), ev(3, { kind: 'connection', service: null, instanceId: null, text: 'Broker connection connected' })];
  it('filters by kind, service and text', () => {
    expect(filterEvents(events, { kinds: new Set(['incident']), service: '', text: '' }).map((e) => e.seq)).toEqual([2]);
    expect(filterEvents(events, { kinds: new Set(), service: 'checkout', text: '' }).map((e) => e.seq)).toEqual([1]);
    expect(filterEvents(events, { kinds: new Set(), service: '', text: 'BROKER' }).map((e) => e.seq)).toEqual([3]);
    expect(filterEvents(events, { kinds: new Set(), service: '', text: 'c2' }).map((e) => e.seq)).toEqual([2]);
  });
});
