/**
 * The data plane's enforcement of the per-edge circuit breaker at its boundaries: the in-flight
 * and pending limits exactly at and one over, open → half-open → closed with probes, a failed
 * probe reopening, operator trips and resets, settings changes that keep the state.
 */
import { describe, expect, it } from 'vitest';
import type { BreakerSettings } from '../../core/failover/circuit-breaker.js';
import { DEFAULT_BREAKER_SETTINGS, EdgeBreakers, type EdgeAdmission, type EdgeTicket } from './edge-breakers.js';

function settings(o: Partial<BreakerSettings> = {}): BreakerSettings {
  return { ...DEFAULT_BREAKER_SETTINGS, enabled: true, consecutiveFailures: 2, openMs: 1000, halfOpenProbes: 2, ...o };
}

function setUp(o: Partial<BreakerSettings> = {}) {
  const clock = { now: 1_000_000 };
  const breakers = new EdgeBreakers('web', () => clock.now);
  breakers.configure('orders', settings(o));
  return { clock, breakers };
}

function ticketOf(a: EdgeAdmission): EdgeTicket {
  if (!a.allowed) throw new Error(`refused: ${a.refusal.reason} ${a.refusal.detail}`);
  return a.ticket;
}

function refusalOf(a: EdgeAdmission) {
  if (a.allowed) throw new Error('admitted');
  return a.refusal;
}

/** Opens the breaker with consecutive failures. */
async function open(breakers: EdgeBreakers): Promise<void> {
  for (let i = 0; i < 2; i++) ticketOf(await breakers.acquire('orders', 0)).done(false);
  expect(breakers.state('orders')).toBe('open');
}

describe('EdgeBreakers: limits', () => {
  it('admits exactly maxInflight requests and refuses the next one at once when it may not wait', async () => {
    const { breakers } = setUp({ maxInflight: 2 });
    const a = ticketOf(await breakers.acquire('orders', 0));
    ticketOf(await breakers.acquire('orders', 0));
    expect(breakers.inflight('orders')).toEqual({ inflight: 2, pending: 0 });
    expect(refusalOf(await breakers.acquire('orders', 0))).toMatchObject({ reason: 'max-inflight', state: 'closed' });
    a.done(true);
    a.done(true); // settled once: the second call frees nothing
    expect(breakers.inflight('orders').inflight).toBe(1);
    ticketOf(await breakers.acquire('orders', 0));
  });

  it('queues exactly maxPending requests behind a full edge, refuses one more, and hands a freed slot to the first waiter', async () => {
    const { breakers } = setUp({ maxInflight: 2, maxPending: 1 });
    const first = ticketOf(await breakers.acquire('orders', 0));
    ticketOf(await breakers.acquire('orders', 0));
    const waiting = breakers.acquire('orders', 5_000);
    expect(breakers.inflight('orders')).toEqual({ inflight: 2, pending: 1 });
    const over = refusalOf(await breakers.acquire('orders', 5_000));
    expect(over.reason).toBe('max-pending');
    expect(over.detail).toMatch(/1 waiting >= max pending 1/);
    first.done(true);
    ticketOf(await waiting);
    expect(breakers.inflight('orders')).toEqual({ inflight: 2, pending: 0 });
  });

  it('a waiter gives up when no slot frees within its wait', async () => {
    const { breakers } = setUp({ maxInflight: 1, maxPending: 5 });
    ticketOf(await breakers.acquire('orders', 0));
    const refused = refusalOf(await breakers.acquire('orders', 20));
    expect(refused).toMatchObject({ reason: 'max-inflight' });
    expect(breakers.inflight('orders').pending).toBe(0);
  });
});

describe('EdgeBreakers: open → half-open → closed', () => {
  it('refuses while open, lets exactly halfOpenProbes through after openMs, and closes when they all succeed', async () => {
    const { clock, breakers } = setUp();
    await open(breakers);
    expect(refusalOf(await breakers.acquire('orders', 0))).toMatchObject({ reason: 'open', state: 'open' });
    clock.now += 999;
    expect(refusalOf(await breakers.acquire('orders', 0)).reason).toBe('open');
    clock.now += 1;
    const p1 = ticketOf(await breakers.acquire('orders', 0));
    const p2 = ticketOf(await breakers.acquire('orders', 0));
    expect(breakers.state('orders')).toBe('half-open');
    expect(refusalOf(await breakers.acquire('orders', 0))).toMatchObject({ reason: 'probes-in-flight', state: 'half-open' });
    p1.done(true);
    expect(breakers.state('orders')).toBe('half-open');
    p2.done(true);
    expect(breakers.state('orders')).toBe('closed');
    ticketOf(await breakers.acquire('orders', 0));
  });

  it('a failed probe opens it again for openMs', async () => {
    const { clock, breakers } = setUp();
    await open(breakers);
    clock.now += 1000;
    const probe = ticketOf(await breakers.acquire('orders', 0));
    probe.done(false);
    expect(breakers.state('orders')).toBe('open');
    const report = breakers.report().get('orders')!;
    expect(report).toMatchObject({ state: 'open', until: clock.now + 1000, manual: false, rule: 'probe-failed' });
    clock.now += 999;
    expect(refusalOf(await breakers.acquire('orders', 0)).reason).toBe('open');
  });

  it('a cancelled probe gives its slot back', async () => {
    const { clock, breakers } = setUp({ halfOpenProbes: 1 });
    await open(breakers);
    clock.now += 1000;
    ticketOf(await breakers.acquire('orders', 0)).cancel();
    const probe = ticketOf(await breakers.acquire('orders', 0));
    probe.done(true);
    expect(breakers.state('orders')).toBe('closed');
  });

  it('new settings keep the state (a policy change does not close an open breaker)', async () => {
    const { breakers } = setUp();
    await open(breakers);
    breakers.configure('orders', settings({ openMs: 60_000 }));
    expect(breakers.state('orders')).toBe('open');
    breakers.configure('orders', undefined);
    expect(breakers.settings('orders')).toEqual(DEFAULT_BREAKER_SETTINGS);
    expect(breakers.state('orders')).toBe('open');
  });
});

describe('EdgeBreakers: operator trip and reset', () => {
  it('a trip without duration holds the circuit open until reset, even with the state machine off', async () => {
    const { clock, breakers } = setUp({ enabled: false });
    breakers.trip('orders', null, 'tripped by console:alice');
    expect(refusalOf(await breakers.acquire('orders', 0))).toMatchObject({ reason: 'open', detail: 'tripped by an operator until reset' });
    clock.now += 86_400_000;
    expect(refusalOf(await breakers.acquire('orders', 0)).reason).toBe('open');
    expect(breakers.report().get('orders')).toMatchObject({ state: 'open', manual: true, rule: 'manual-trip', reason: 'tripped by console:alice' });
    expect(breakers.report().get('orders')!.until).toBeUndefined();
    breakers.reset('orders', 'reset by console:alice');
    ticketOf(await breakers.acquire('orders', 0));
    expect(breakers.report().get('orders')).toMatchObject({ state: 'closed', manual: false, rule: 'manual-reset' });
  });

  it('a trip with a duration goes half-open when it ends', async () => {
    const { clock, breakers } = setUp();
    breakers.trip('orders', 500, 'drill');
    clock.now += 499;
    expect(refusalOf(await breakers.acquire('orders', 0)).reason).toBe('open');
    clock.now += 1;
    ticketOf(await breakers.acquire('orders', 0));
    expect(breakers.state('orders')).toBe('half-open');
  });

  it('a trip refuses requests already waiting for a slot', async () => {
    const { breakers } = setUp({ maxInflight: 1 });
    ticketOf(await breakers.acquire('orders', 0));
    const waiting = breakers.acquire('orders', 5_000);
    breakers.trip('orders', null, 'stop');
    expect(refusalOf(await waiting)).toMatchObject({ reason: 'open' });
  });
});

describe('EdgeBreakers: report', () => {
  it('reports open and half-open breakers always, closed ones for a minute after a transition only', async () => {
    const { clock, breakers } = setUp();
    ticketOf(await breakers.acquire('orders', 0)).done(true);
    expect(breakers.report().size).toBe(0); // closed and never changed
    await open(breakers);
    clock.now += 120_000; // long after: half-open on the next look, and reported
    expect(breakers.report().get('orders')).toMatchObject({ state: 'half-open', rule: 'open-elapsed', since: clock.now });
    for (let i = 0; i < 2; i++) ticketOf(await breakers.acquire('orders', 0)).done(true);
    expect(breakers.report().get('orders')).toMatchObject({ state: 'closed', rule: 'probes-succeeded' });
    clock.now += 59_999;
    expect(breakers.report().has('orders')).toBe(true);
    clock.now += 1;
    expect(breakers.report().has('orders')).toBe(false);
  });
});
