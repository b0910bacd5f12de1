import { describe, expect, it } from 'vitest';
import { backfillText, formatEta } from './backfill';

describe('backfill text', () => {
  it('formats the time left', () => {
    expect(formatEta(0.2)).toBe('1 s');
    expect(formatEta(45)).toBe('45 s');
    expect(formatEta(200)).toBe('3 min 20 s');
    expect(formatEta(7500)).toBe('2 h 5 min');
  });
  it('says how far behind, how old the data read is, the rate and the time left', () => {
    const text = backfillText({
      state: 'backfilling', reachedOffset: 10, tailOffset: 12_355, behind: 12_345, lagMs: 90_000,
      processedPerSecond: 2500, arrivingPerSecond: 100, etaSeconds: 5.1, tailReadAt: 0,
    });
    expect(text).toBe('Telemetry backfill: 12,345 messages behind · reading data from 1 min 30 s ago · 2.5k/s · about 5 s left');
    expect(backfillText({ state: 'backfilling', reachedOffset: 0, tailOffset: 9, behind: 9, lagMs: null, processedPerSecond: 0, arrivingPerSecond: 0, etaSeconds: null, tailReadAt: 0 })).toBe(
      'Telemetry backfill: 9 messages behind · not gaining yet',
    );
  });
});
