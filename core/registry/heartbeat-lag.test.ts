import { describe, expect, it } from 'vitest';
import { HeartbeatLag } from './heartbeat-lag.js';

const T0 = 1_800_000_000_000;

describe('HeartbeatLag', () => {
  it('keeping up: heartbeats a few ms old, sweeps on time → no grace', () => {
    const lag = new HeartbeatLag();
    for (let t = 0; t < 5000; t += 100) {
      lag.heard(T0 + t - 4, T0 + t);
      if (t % 250 === 0) lag.swept(T0 + t, 3);
    }
    expect(lag.graceMs(T0 + 5000)).toBe(0);
  });

  it('a backlog: the smallest age of the heartbeats heard in the last one to two seconds', () => {
    const lag = new HeartbeatLag();
    // Working through a queue 4 s deep: every heartbeat handled is 4–6 s old.
    for (let t = 0; t < 3000; t += 10) lag.heard(T0 + t - 4000 - (t % 2000), T0 + t);
    expect(lag.graceMs(T0 + 3000)).toBe(4000);
    // Caught up: fresh heartbeats for two seconds bring it back to 0 (under the 500 ms floor).
    for (let t = 3000; t < 5100; t += 10) lag.heard(T0 + t - 20, T0 + t);
    expect(lag.graceMs(T0 + 5100)).toBe(0);
  });

  it('one agent whose clock runs behind cannot make a grace while others are heard in time; one ahead counts as 0', () => {
    const lag = new HeartbeatLag();
    for (let t = 0; t < 2000; t += 100) {
      lag.heard(T0 + t - 9000, T0 + t); // clock 9 s behind
      lag.heard(T0 + t - 5, T0 + t);
      lag.heard(T0 + t + 30_000, T0 + t); // clock 30 s ahead
    }
    expect(lag.graceMs(T0 + 2000)).toBe(0);
  });

  it('a stalled sweep forgives as much silence as the stall, for settleMs after it', () => {
    const lag = new HeartbeatLag({ settleMs: 3000 });
    lag.swept(T0, 800); // under the 1 s tolerance: not a stall
    expect(lag.graceMs(T0)).toBe(0);
    lag.swept(T0 + 10_000, 7000);
    expect(lag.graceMs(T0 + 10_000)).toBe(7000);
    expect(lag.graceMs(T0 + 13_000)).toBe(7000);
    expect(lag.graceMs(T0 + 13_001)).toBe(0);
    // A second stall while the first is forgiven keeps the larger, and the later end.
    lag.swept(T0 + 30_000, 3000);
    lag.swept(T0 + 31_000, 2000);
    expect(lag.graceMs(T0 + 31_000)).toBe(3000);
    expect(lag.graceMs(T0 + 34_000)).toBe(3000);
    expect(lag.graceMs(T0 + 34_001)).toBe(0);
  });

  it('never forgives more than maxGraceMs; nothing heard and no stall → 0', () => {
    const lag = new HeartbeatLag({ maxGraceMs: 10_000 });
    expect(lag.graceMs(T0)).toBe(0);
    lag.swept(T0, 120_000);
    expect(lag.graceMs(T0)).toBe(10_000);
    const backlog = new HeartbeatLag({ maxGraceMs: 10_000 });
    backlog.heard(T0 - 50_000, T0);
    expect(backlog.graceMs(T0)).toBe(10_000);
    // Unknown send time (NaN): not a sample.
    const unknown = new HeartbeatLag();
    unknown.heard(Number.NaN, T0);
    expect(unknown.graceMs(T0)).toBe(0);
  });
});
