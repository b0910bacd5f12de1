import { describe, expect, it } from 'vitest';
import { sameAction } from './same-action';

describe('sameAction', () => {
  it('ignores key order and undefined keys, at any depth', () => {
    expect(sameAction({ action: 'fault', fault: { share: 0.25, durationMs: 60_000, abortStatus: 503, delayMs: 0 } }, { fault: { delayMs: 0, abortStatus: 503, share: 0.25, durationMs: 60_000 }, action: 'fault' })).toBe(true);
    expect(sameAction({ action: 'trip-circuit', callee: 'b', durationMs: undefined }, { action: 'trip-circuit', callee: 'b' })).toBe(true);
  });

  it('tells different values apart', () => {
    expect(sameAction({ action: 'set-weight', weight: 300 }, { action: 'set-weight', weight: 30 })).toBe(false);
    expect(sameAction({ action: 'fault', fault: { share: 0.25 } }, { action: 'fault', fault: { share: 0.5 } })).toBe(false);
    expect(sameAction({ action: 'drain' }, null)).toBe(false);
  });
});
