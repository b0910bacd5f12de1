import { describe, expect, it } from 'vitest';
import { BACKFILL_LAG_MS, IngestProgress } from './ingest-progress.js';

describe('IngestProgress', () => {
  it('is unknown until the tail is read, then live when nothing is behind', () => {
    const p = new IngestProgress();
    p.started('next');
    expect(p.view(1000).state).toBe('unknown');
    // A console without history starts at the tail: what the stream already holds is not behind.
    p.tail(0, 500, 2000);
    const v = p.view(2000);
    expect(v).toMatchObject({ state: 'live', reachedOffset: 499, tailOffset: 499, behind: 0, etaSeconds: null });
  });

  it('reports a backfill from a stored offset: messages behind, lag, rates and the time left', () => {
    const p = new IngestProgress();
    const t0 = 1_000_000;
    p.started(1000); // offsets ≤ 999 are in the history already
    p.tail(0, 11_000, t0); // tail 10 999: 10 000 behind
    expect(p.view(t0)).toMatchObject({ state: 'backfilling', reachedOffset: 999, behind: 10_000, lagMs: null });
    // 2 s later: 4 000 processed (2 000/s), 200 arrived (100/s); the newest window read ended 60 s ago.
    p.processed(4999, t0 + 2000 - 60_000);
    p.tail(0, 11_200, t0 + 2000);
    const v = p.view(t0 + 2000);
    expect(v.state).toBe('backfilling');
    expect(v.behind).toBe(6200);
    expect(v.lagMs).toBe(60_000);
    expect(v.processedPerSecond).toBeCloseTo(2000);
    expect(v.arrivingPerSecond).toBeCloseTo(100);
    expect(v.etaSeconds).toBeCloseTo(6200 / 1900);
  });

  it('is live once the windows read are recent, even with a few messages in flight', () => {
    const p = new IngestProgress();
    p.started(0);
    p.processed(99, 10_000);
    p.tail(0, 120, 10_000 + BACKFILL_LAG_MS - 1);
    expect(p.view(10_000 + BACKFILL_LAG_MS - 1)).toMatchObject({ state: 'live', behind: 20 });
  });

  it('has no time left while not gaining on the stream', () => {
    const p = new IngestProgress();
    p.started(0);
    p.tail(0, 1000, 0);
    p.processed(99, -60_000);
    p.tail(0, 2000, 1000); // 1 000 arrived, 100 processed
    const v = p.view(1000);
    expect(v.state).toBe('backfilling');
    expect(v.etaSeconds).toBeNull();
  });

  it('never counts a processed offset twice nor goes backwards', () => {
    const p = new IngestProgress();
    p.started(50);
    p.processed(60, 5000);
    p.processed(55, 4000);
    p.tail(0, 61, 5000);
    expect(p.view(5000)).toMatchObject({ reachedOffset: 60, behind: 0, lagMs: 0, state: 'live' });
  });

  it('is backfilling while reading old windows even when the tail it last read is stale', () => {
    const p = new IngestProgress();
    p.started(0);
    p.tail(0, 100, 0); // the broker's metrics still say 100 messages
    p.processed(5000, 10_000, 70_000); // a window that ended a minute before it was processed
    const v = p.view(70_500);
    expect(v).toMatchObject({ state: 'backfilling', reachedOffset: 5000, tailOffset: 5000, behind: 0 });
    // Once recent windows come through (or nothing for a while), it is live.
    p.processed(5001, 70_400, 70_600);
    expect(p.view(70_700).state).toBe('live');
  });
});
