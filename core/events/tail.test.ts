import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TailBatch } from './schema.js';
import { EventTail } from './tail.js';
import { connectionEvents, flowEvents, incidentEvents, registryEvent } from './describe.js';

const event = (text: string) => ({ at: 1, kind: 'registry' as const, level: 'info' as const, profileId: 'cli', service: 's', instanceId: null, text, actor: null });

afterEach(() => vi.useRealTimers());

describe('EventTail', () => {
  it('numbers events and sends them in one batch a second, not one message per event', () => {
    vi.useFakeTimers();
    const tail = new EventTail({ batchMs: 1000 });
    const batches: TailBatch[] = [];
    tail.on('batch', (b) => batches.push(b));
    for (let i = 0; i < 50; i++) tail.record(event(`e${i}`));
    expect(batches).toHaveLength(0);
    vi.advanceTimersByTime(1000);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.mode).toBe('live');
    expect(batches[0]!.events.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    vi.advanceTimersByTime(5000);
    expect(batches).toHaveLength(1); // nothing new, nothing sent
    tail.record(event('later'));
    vi.advanceTimersByTime(1000);
    expect(batches[1]!.events.map((e) => e.seq)).toEqual([51]);
    tail.close();
  });

  it('keeps a bounded backlog and bounded batches', () => {
    vi.useFakeTimers();
    const tail = new EventTail({ keep: 100 });
    const batches: TailBatch[] = [];
    tail.on('batch', (b) => batches.push(b));
    for (let i = 0; i < 1000; i++) tail.record(event(`e${i}`));
    const backlog = tail.backlog();
    expect(backlog.mode).toBe('backlog');
    expect(backlog.events).toHaveLength(100);
    expect(backlog.events[0]!.seq).toBe(901);
    vi.advanceTimersByTime(1000);
    expect(batches[0]!.events).toHaveLength(100);
    expect(batches[0]!.events.at(-1)!.seq).toBe(1000);
    tail.close();
  });
});

describe('event lines', () => {
  it('describes registry changes', () => {
    expect(registryEvent('cli', { at: 5, service: 'checkout', instanceId: 'c1', kind: 'registered', from: null, to: 'healthy', detail: 'joined zone-a at 10.0.0.1:80' }).text).toBe('c1 joined zone-a at 10.0.0.1:80 (healthy)');
    expect(registryEvent('cli', { at: 5, service: 'checkout', instanceId: 'c1', kind: 'weight', from: 'healthy', to: 'healthy', detail: 'weight 1 → 3' }).text).toBe('c1 weight 1 → 3');
    const down = registryEvent('cli', { at: 5, service: 'checkout', instanceId: 'c1', kind: 'state', from: 'healthy', to: 'down', detail: 'missed 3 heartbeats' });
    expect(down).toMatchObject({ level: 'warning', service: 'checkout', instanceId: 'c1', text: 'c1 healthy → down (missed 3 heartbeats)' });
  });

  it('reports incidents opened, escalated, acknowledged and resolved', () => {
    const a = { id: 1, title: 'Errors: checkout', severity: 'degraded' as const, status: 'open' as const, service: 'checkout' };
    const opened = incidentEvents('cli', new Map(), [a], 10);
    expect(opened.map((e) => e.text)).toEqual(['Incident #1 opened (degraded): Errors: checkout']);
    const worse = { ...a, severity: 'failing' as const, status: 'acknowledged' as const };
    const changed = incidentEvents('cli', new Map([[1, a]]), [worse], 11);
    expect(changed.map((e) => e.text)).toEqual(['Incident #1 escalated to failing: Errors: checkout', 'Incident #1 acknowledged: Errors: checkout']);
    expect(changed[0]!.level).toBe('critical');
    expect(incidentEvents('cli', new Map([[1, worse]]), [], 12).map((e) => e.text)).toEqual(['Incident #1 resolved: Errors: checkout']);
  });

  it('reports connection changes once per status or attempt', () => {
    const s = { profileId: 'cli', status: 'reconnecting' as const, attempt: 2, error: 'ECONNREFUSED', errorCode: null, blockedReason: null, since: 0, nextRetryAt: null };
    const state = s as unknown as Parameters<typeof connectionEvents>[1][number];
    const first = connectionEvents(new Map(), [state], 1);
    expect(first.map((e) => e.text)).toEqual(['Broker connection reconnecting · attempt 2: ECONNREFUSED']);
    expect(connectionEvents(new Map([['cli', state]]), [state], 2)).toEqual([]);
  });

  it('reports a flow once, when first seen', () => {
    const seen = new Set<string>();
    const flows = [{ type: 'order.placed', producers: [{ service: 'checkout', exchange: 'shop', perSecond: 1, total: 1 }], consumers: [{ service: 'mailer', queue: 'mailer.q', perSecond: 1, total: 1, failed: 0 }] }];
    expect(flowEvents('cli', seen, flows, 1).map((e) => e.text)).toEqual(['checkout publishes order.placed (exchange shop)', 'mailer consumes order.placed (queue mailer.q)']);
    expect(flowEvents('cli', seen, flows, 2)).toEqual([]);
  });
});
