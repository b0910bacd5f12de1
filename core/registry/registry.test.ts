import { describe, expect, it } from 'vitest';
import { InstanceRegister } from '../protocol/messages.js';
import { Registry } from './registry.js';

const T0 = 1_800_000_000_000;
const reg = (instanceId: string, patch: Partial<InstanceRegister> = {}) =>
  InstanceRegister.parse({ service: 'checkout', instanceId, zone: 'zone-a', address: '10.0.0.1:8080', startedAt: new Date(T0).toISOString(), ...patch });
const hb = (instanceId: string, patch: Record<string, unknown> = {}) => ({ service: 'checkout', instanceId, seq: 1, state: 'serving' as const, inflight: 0, activeCommands: [], ...patch });

describe('Registry', () => {
  it('registers an instance as healthy with a history entry', () => {
    const r = new Registry();
    const changes = r.register(reg('c1'), T0);
    expect(changes).toEqual([expect.objectContaining({ kind: 'registered', from: null, to: 'healthy', instanceId: 'c1' })]);
    expect(r.instances('checkout')).toEqual([expect.objectContaining({ instanceId: 'c1', state: 'healthy', firstSeen: T0, lastSeen: T0 })]);
  });

  it('marks an instance down after the missed heartbeats, not before, and back on its next heartbeat', () => {
    const r = new Registry({ missedHeartbeats: 3 });
    r.register(reg('c1', { heartbeatIntervalMs: 1000 }), T0);
    expect(r.sweep(T0 + 3000)).toEqual([]); // exactly at the TTL: still healthy
    const down = r.sweep(T0 + 3001);
    expect(down).toEqual([expect.objectContaining({ kind: 'state', from: 'healthy', to: 'down' })]);
    expect(down[0]!.detail).toContain('TTL 3000 ms');
    const back = r.heartbeat(hb('c1'), T0 + 4000);
    expect(back).toEqual([expect.objectContaining({ kind: 'state', from: 'down', to: 'healthy', detail: 'heartbeats resumed' })]);
  });

  it('forgives graceMs of silence on top of the TTL while the core is behind, and says so', () => {
    const r = new Registry({ missedHeartbeats: 3 });
    r.register(reg('c1', { heartbeatIntervalMs: 1000 }), T0);
    expect(r.sweep(T0 + 7000, 4000)).toEqual([]); // TTL 3 s + 4 s the core was behind: still healthy
    const down = r.sweep(T0 + 7001, 4000);
    expect(down).toEqual([expect.objectContaining({ kind: 'state', from: 'healthy', to: 'down' })]);
    expect(down[0]!.detail).toBe('no heartbeat for 7001 ms (TTL 3000 ms + 4000 ms the core was behind)');
  });

  it('follows the agent: draining, serving again, weight changes', () => {
    const r = new Registry();
    r.register(reg('c1'), T0);
    expect(r.heartbeat(hb('c1', { state: 'draining' }), T0 + 1)).toEqual([expect.objectContaining({ to: 'draining' })]);
    expect(r.endpoints('checkout').endpoints[0]!.state).toBe('draining');
    expect(r.heartbeat(hb('c1', { state: 'serving', weight: 40 }), T0 + 2).map((c) => c.kind)).toEqual(['state', 'weight']);
    expect(r.get('checkout', 'c1')!.weight).toBe(40);
    expect(r.heartbeat(hb('c1', { weight: 40 }), T0 + 3)).toEqual([]);
  });

  it('removes a deregistered instance at once', () => {
    const r = new Registry();
    r.register(reg('c1'), T0);
    expect(r.deregister({ service: 'checkout', instanceId: 'c1', reason: 'shutdown' }, T0 + 5)).toEqual([
      expect.objectContaining({ from: 'healthy', to: 'deregistered', detail: 'deregistered: shutdown' }),
    ]);
    expect(r.instances('checkout')).toEqual([]);
    expect(r.heartbeat(hb('c1'), T0 + 6)).toEqual([]); // a late heartbeat does not bring it back
  });

  it('ignores heartbeats of instances it never saw register', () => {
    const r = new Registry();
    expect(r.heartbeat(hb('ghost'), T0)).toEqual([]);
    expect(r.size).toBe(0);
  });

  it('keeps replayed registrations older than the TTL aside until the instance heartbeats', () => {
    const r = new Registry();
    expect(r.register(reg('old', { heartbeatIntervalMs: 1000 }), T0, T0 - 60_000)).toEqual([]);
    expect(r.instances('checkout')).toEqual([]);
    expect(r.dormantCount).toBe(1);
    // Its first heartbeat is its joining this console's view: a registration, not a recovery.
    const revived = r.heartbeat(hb('old'), T0 + 1);
    expect(revived).toEqual([expect.objectContaining({ kind: 'registered', from: null, to: 'healthy', at: T0 + 1, detail: 'joined zone-a at 10.0.0.1:8080 (registered 60 s before its first heartbeat here)' })]);
    expect(r.get('checkout', 'old')).toMatchObject({ address: '10.0.0.1:8080', state: 'healthy', firstSeen: T0 - 60_000 });
    expect(r.heartbeat(hb('old'), T0 + 2)).toEqual([]);
  });

  it('brings back an instance it listed before (forgotten, or loaded long down) as heartbeats resuming, even after a stale replay of its registration', () => {
    const r = new Registry({ missedHeartbeats: 3, forgetDownAfterMs: 60_000 });
    r.register(reg('c1', { heartbeatIntervalMs: 1000 }), T0);
    r.sweep(T0 + 5000);
    expect(r.sweep(T0 + 60_001)).toEqual([expect.objectContaining({ kind: 'forgotten' })]);
    expect(r.register(reg('c1', { heartbeatIntervalMs: 1000 }), T0 + 70_000, T0)).toEqual([]);
    expect(r.heartbeat(hb('c1'), T0 + 70_001)).toEqual([expect.objectContaining({ kind: 'state', from: 'down', to: 'healthy', detail: 'heartbeats resumed' })]);

    const loaded = new Registry({ forgetDownAfterMs: 60_000 });
    loaded.load([{ ...r.get('checkout', 'c1')!, state: 'down', lastSeen: T0 }], T0 + 120_000);
    expect(loaded.dormantCount).toBe(1);
    expect(loaded.heartbeat(hb('c1'), T0 + 120_001)).toEqual([expect.objectContaining({ kind: 'state', from: 'down', to: 'healthy' })]);
  });

  it('forgets instances down for longer than forgetDownAfterMs, and revives them on a heartbeat', () => {
    const r = new Registry({ missedHeartbeats: 3, forgetDownAfterMs: 60_000 });
    r.register(reg('c1', { heartbeatIntervalMs: 1000 }), T0);
    r.sweep(T0 + 5000);
    expect(r.sweep(T0 + 60_000)).toEqual([]);
    expect(r.sweep(T0 + 60_001)).toEqual([expect.objectContaining({ kind: 'forgotten', to: 'down' })]);
    expect(r.serviceNames()).toEqual([]);
    expect(r.hasService('checkout')).toBe(false);
    expect(r.heartbeat(hb('c1'), T0 + 70_000)).toEqual([expect.objectContaining({ to: 'healthy' })]);
    expect(r.serviceNames()).toEqual(['checkout']);
    expect(r.hasService('checkout')).toBe(true);
    expect(r.hasService('payments')).toBe(false);
  });

  it('lists endpoints with states and increasing revisions, healthy-only and by zone', () => {
    const r = new Registry();
    r.register(reg('a1'), T0);
    r.register(reg('b1', { zone: 'zone-b', address: '10.0.0.2:8080' }), T0);
    r.heartbeat(hb('b1', { state: 'draining' }), T0 + 1);
    const first = r.bumpRevision('checkout', T0);
    const second = r.bumpRevision('checkout', T0);
    expect(second).toBeGreaterThan(first);
    expect(r.endpoints('checkout')).toEqual({
      service: 'checkout',
      revision: second,
      endpoints: [
        { instanceId: 'a1', zone: 'zone-a', address: '10.0.0.1:8080', weight: 100, state: 'healthy' },
        { instanceId: 'b1', zone: 'zone-b', address: '10.0.0.2:8080', weight: 100, state: 'draining' },
      ],
    });
    expect(r.instances('checkout', { healthyOnly: true }).map((i) => i.instanceId)).toEqual(['a1']);
    expect(r.instances('checkout', { zone: 'zone-b' }).map((i) => i.instanceId)).toEqual(['b1']);
  });

  it('records moves and weight changes when an instance registers again', () => {
    const r = new Registry();
    r.register(reg('c1'), T0);
    const changes = r.register(reg('c1', { address: '10.0.0.9:8080', weight: 50 }), T0 + 10);
    expect(changes.map((c) => c.kind)).toEqual(['updated', 'weight']);
    expect(r.get('checkout', 'c1')).toMatchObject({ address: '10.0.0.9:8080', weight: 50, firstSeen: T0 });
  });
});
