/** Operator actions, undo, preview and the audit log, on a real SQLite file and the real Registry (no broker). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import type { ControlAck } from '../protocol/messages.js';
import { Registry } from '../registry/registry.js';
import { openDatabase, type Db } from '../store/database.js';
import { ControlActions, aggregateState } from './actions.js';
import { AuditLog, MAX_AUDIT_JSON_BYTES } from './audit.js';
import { Outbox, OutboxFullError } from './outbox.js';
import type { ForwardedRequest } from './wire.js';

let dir: string;
let db: Db;
let registry: Registry;
let outbox: Outbox;
let audit: AuditLog;
let actions: ControlActions;
let kicks: number;
let clock: number;
const T0 = 1_750_000_000_000;

function register(service: string, instanceId: string, zone: string, weight: number): void {
  registry.register({ service, instanceId, zone, address: '10.0.0.1:8080', weight, version: '', metadata: {}, capacity: 0, heartbeatIntervalMs: 1000, agent: 'sdk', startedAt: new Date(clock).toISOString() }, clock);
}

function ack(commandId: string, instanceId: string, status: ControlAck['status'] = 'applied', service = 'checkout'): ControlAck {
  return { commandId, service, instanceId, status, detail: '' };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-actions-'));
  db = openDatabase({ path: join(dir, 'm.db'), logger: silentLogger });
  clock = T0;
  registry = new Registry();
  register('checkout', 'c-1', 'zone-a', 100);
  register('checkout', 'c-2', 'zone-a', 100);
  register('checkout', 'c-3', 'zone-b', 200);
  outbox = new Outbox(db, 'm', { maxOpen: 10 });
  audit = new AuditLog(db, 'm');
  kicks = 0;
  actions = new ControlActions({ db, mesh: 'm', outbox, audit, registry, coreId: 'core-1', kick: () => (kicks += 1), now: () => clock });
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('preview (blast radius)', () => {
  it('an instance: its share of the healthy capacity by weight, and what remains', () => {
    const p = actions.preview({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-3' } });
    expect(p).toMatchObject({ affected: 1, affectedHealthy: 1, healthyWeight: 400, affectedHealthyWeight: 200, affectedShare: 0.5, capacityAfter: 0.5, trafficAffectedShare: 0 });
    expect(p.instances.map((i) => [i.instanceId, i.affected, i.shareOfHealthy])).toEqual([
      ['c-1', false, 0.25],
      ['c-2', false, 0.25],
      ['c-3', true, 0.5],
    ]);
    expect(p.undo).toEqual({ summary: 'restore checkout/c-3', commands: [{ target: { service: 'checkout', instanceId: 'c-3' }, action: { action: 'restore' } }] });
    expect(p.summary).toBe('drain checkout/c-3');
  });

  it('a whole service: 100 % affected, nothing left, with a warning', () => {
    const p = actions.preview({ action: { action: 'eject', durationMs: 30_000 }, target: { service: 'checkout' } });
    expect(p).toMatchObject({ affected: 3, affectedShare: 1, capacityAfter: 0 });
    expect(p.warnings).toContain('no healthy capacity would remain for checkout');
  });

  it('set-weight and fault drills', () => {
    const w = actions.preview({ action: { action: 'set-weight', weight: 0 }, target: { service: 'checkout', instanceId: 'c-1' } });
    expect(w.capacityAfter).toBe(0.75);
    expect(w.undo?.commands).toEqual([{ target: { service: 'checkout', instanceId: 'c-1' }, action: { action: 'set-weight', weight: 100 } }]);
    const f = actions.preview({
      action: { action: 'fault', fault: { share: 0.5, delayMs: 200, abortStatus: 0, durationMs: 60_000 } },
      target: { service: 'checkout', instanceId: 'c-3' },
    });
    expect(f).toMatchObject({ affectedShare: 0.5, capacityAfter: 1, trafficAffectedShare: 0.25 });
    expect(f.undo?.commands[0]?.action).toEqual({ action: 'clear-fault' });
  });

  it('counts only healthy instances as capacity, and warns about a down target', () => {
    clock += 10_000;
    registry.heartbeat({ service: 'checkout', instanceId: 'c-1', seq: 1, state: 'serving', inflight: 0, activeCommands: [] }, clock);
    registry.heartbeat({ service: 'checkout', instanceId: 'c-3', seq: 1, state: 'draining', inflight: 0, activeCommands: [] }, clock);
    registry.sweep(clock); // c-2 missed its heartbeats: down
    const p = actions.preview({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-2' } });
    expect(p).toMatchObject({ healthyWeight: 100, affectedHealthy: 0, affectedShare: 0, capacityAfter: 1 });
    expect(p.warnings.some((w) => w.startsWith('c-2 is down'))).toBe(true);
    const restore = actions.preview({ action: { action: 'restore' }, target: { service: 'checkout' } });
    expect(restore.capacityAfter).toBe(3); // the draining c-3 (200) comes back next to c-1 (100)
  });

  it('refuses unknown services and instances with the field at fault', () => {
    const err = (() => {
      try {
        actions.preview({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'nope' } });
      } catch (e) {
        return e as ValidationError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.issues).toEqual([{ path: 'target.instanceId', message: 'checkout has no instance nope' }]);
    expect(() => actions.preview({ action: { action: 'drain' }, target: { service: 'ghost' } })).toThrow(/No instance of service "ghost"/);
  });
});

describe('act', () => {
  it('writes the action, its command and a requested audit entry in one go, and kicks the loop', () => {
    const record = actions.act({ action: { action: 'drain' }, target: { service: 'checkout' }, reason: 'zone evacuation', ttlMs: 5000 }, { actor: 'http 127.0.0.1' });
    expect(kicks).toBe(1);
    expect(record).toMatchObject({
      origin: 'operator',
      actor: 'http 127.0.0.1',
      reason: 'zone evacuation',
      target: { service: 'checkout' },
      state: 'pending',
      expiresAt: T0 + 5000,
      coreId: 'core-1',
      undoOf: null,
      undoneBy: null,
      progress: { expected: 3, acked: 0, waiting: 3 },
    });
    expect(record.commands).toHaveLength(1);
    const command = outbox.get(record.commands[0]!.commandId)!;
    expect(command).toMatchObject({ actionId: record.id, issuer: 'console:http 127.0.0.1', expected: ['c-1', 'c-2', 'c-3'], state: 'pending' });
    const { entries } = audit.query({ limit: 10 });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ event: 'requested', actor: 'http 127.0.0.1', action: 'drain', service: 'checkout', instanceId: null, reason: 'zone evacuation', result: 'pending', actionId: record.id, commandIds: [command.commandId], coreId: 'core-1' });
  });

  it('audits the result when the last command settles, with every instance\u2019s answer', () => {
    const record = actions.act({ action: { action: 'drain' }, target: { service: 'checkout' }, reason: 'r' }, { actor: 'alice' });
    const id = record.commands[0]!.commandId;
    outbox.recordAck(ack(id, 'c-1'), T0 + 1);
    outbox.recordAck(ack(id, 'c-2'), T0 + 2);
    expect(audit.query({ limit: 10, event: 'result' }).entries).toEqual([]);
    outbox.recordAck(ack(id, 'c-3', 'rejected'), T0 + 3);
    const [result] = audit.query({ limit: 10, event: 'result' }).entries;
    expect(result).toMatchObject({ actor: 'alice', result: 'partially-acked', actionId: record.id, at: T0 + 3 });
    expect((result!.detail as { counts: unknown }).counts).toEqual({ expected: 3, acked: 2, rejected: 1, waiting: 0 });
    expect(actions.get(record.id)!.state).toBe('partially-acked');
  });

  it('audits an expiry as the result', () => {
    const record = actions.act({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-1' }, reason: 'r', ttlMs: 1000 }, { actor: 'alice' });
    outbox.expireDue(T0 + 60_000);
    expect(actions.get(record.id)!.state).toBe('expired');
    expect(audit.query({ limit: 10, result: 'expired' }).entries).toMatchObject([{ event: 'result', actionId: record.id, action: 'drain' }]);
  });

  it('stores an automatic decision\u2019s evidence, and refuses evidence that is too large', () => {
    const evidence = { signals: [{ kind: 'connect-refused', from: 'web-1' }], errorRate: 0.42 };
    const record = actions.act({ action: { action: 'eject', durationMs: 30_000 }, target: { service: 'checkout', instanceId: 'c-2' }, reason: 'outlier' }, { actor: 'automation:failover', origin: 'automatic', evidence });
    expect(record).toMatchObject({ origin: 'automatic', evidence });
    expect(outbox.get(record.commands[0]!.commandId)!.issuer).toBe('automation:automation:failover');
    expect(audit.query({ limit: 5, origin: 'automatic' }).entries[0]!.evidence).toEqual(evidence);
    const huge = { blob: 'x'.repeat(MAX_AUDIT_JSON_BYTES) };
    expect(() => actions.act({ action: { action: 'drain' }, target: { service: 'checkout' }, reason: 'r' }, { actor: 'a', origin: 'automatic', evidence: huge })).toThrow(ValidationError);
  });

  it('refuses when the outbox is full, audits the refusal, and writes nothing else', () => {
    for (let i = 0; i < 10; i++) actions.act({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-1' }, reason: `r${i}` }, { actor: 'alice' });
    expect(() => actions.act({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-1' }, reason: 'one more' }, { actor: 'bob' })).toThrow(OutboxFullError);
    expect(actions.recent(100)).toHaveLength(10);
    expect(audit.query({ limit: 5, event: 'refused' }).entries).toMatchObject([{ actor: 'bob', reason: 'one more', result: 'refused' }]);
  });
});

describe('undo', () => {
  it('drain → restore, audited as an undo of the original; cannot be undone twice', () => {
    const original = actions.act({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-1' }, reason: 'patching' }, { actor: 'alice' });
    clock += 1000;
    const undo = actions.undo(original.id, 'patched', { actor: 'bob' });
    expect(undo).toMatchObject({ origin: 'undo', undoOf: original.id, actor: 'bob', action: { action: 'restore' }, target: { service: 'checkout', instanceId: 'c-1' }, undo: null });
    expect(undo.summary).toBe('undo "drain checkout/c-1": restore checkout/c-1');
    expect(actions.get(original.id)!.undoneBy).toBe(undo.id);
    expect(() => actions.undo(original.id, 'again', { actor: 'bob' })).toThrow(ConflictError);
    expect(() => actions.undo(undo.id, 'undo the undo', { actor: 'bob' })).toThrow(/itself an undo/);
    // The action's audit trail includes its undo.
    const trail = audit.query({ limit: 10, actionId: original.id }).entries;
    expect(trail.map((e) => [e.event, e.origin, e.action])).toEqual([
      ['requested', 'undo', 'restore'],
      ['requested', 'operator', 'drain'],
    ]);
  });

  it('set-weight → the previous weight, per instance when they differed', () => {
    const one = actions.act({ action: { action: 'set-weight', weight: 10 }, target: { service: 'checkout', instanceId: 'c-3' }, reason: 'r' }, { actor: 'a' });
    expect(actions.undo(one.id, 'back', { actor: 'a' }).commands.map((c) => c.action)).toEqual([{ action: 'set-weight', weight: 200 }]);
    const all = actions.act({ action: { action: 'set-weight', weight: 10 }, target: { service: 'checkout' }, reason: 'r' }, { actor: 'a' });
    const undo = actions.undo(all.id, 'back', { actor: 'a' });
    expect(undo.commands.map((c) => [c.target.instanceId, c.action])).toEqual([
      ['c-1', { action: 'set-weight', weight: 100 }],
      ['c-2', { action: 'set-weight', weight: 100 }],
      ['c-3', { action: 'set-weight', weight: 200 }],
    ]);
    expect(undo.progress.expected).toBe(3);
  });

  it('fault → clear-fault; restore and clear-fault cannot be undone; unknown ids are NOT_FOUND', () => {
    const fault = actions.act(
      { action: { action: 'fault', fault: { share: 1, delayMs: 0, abortStatus: 503, durationMs: 10_000 } }, target: { service: 'checkout' }, reason: 'drill' },
      { actor: 'a' },
    );
    expect(actions.undo(fault.id, 'drill over', { actor: 'a' }).action).toEqual({ action: 'clear-fault' });
    const restore = actions.act({ action: { action: 'restore' }, target: { service: 'checkout' }, reason: 'r' }, { actor: 'a' });
    expect(() => actions.undo(restore.id, 'x', { actor: 'a' })).toThrow(/restore has no known inverse/);
    expect(() => actions.undo('act-missing', 'x', { actor: 'a' })).toThrow(NotFoundError);
  });
});

describe('forwarded requests (on the leader)', () => {
  it('records the follower\u2019s action and queues its command once, however often it is delivered', () => {
    const follower = new ControlActions({ db, mesh: 'other', outbox: new Outbox(db, 'other'), audit: new AuditLog(db, 'other'), registry, coreId: 'core-2', kick: () => undefined, now: () => clock });
    const made = follower.act({ action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-2' }, reason: 'from the follower' }, { actor: 'carol' });
    const snapshot = follower.snapshot(made.id)!;
    const commandId = made.commands[0]!.commandId;
    const request: ForwardedRequest = {
      v: 1,
      kind: 'request',
      from: { coreId: 'core-2', host: 'h2' },
      command: {
        commandId,
        target: { service: 'checkout', instanceId: 'c-2' },
        issuedAt: new Date(made.createdAt).toISOString(),
        expiresAt: new Date(made.expiresAt).toISOString(),
        issuer: 'console:carol',
        reason: 'from the follower',
        command: { action: 'drain' },
      },
      expected: ['c-2'],
      action: snapshot,
    };
    expect(actions.acceptForwarded(request)).toEqual({ accepted: true });
    expect(actions.acceptForwarded(request)).toEqual({ accepted: true });
    const here = actions.get(made.id)!;
    expect(here).toMatchObject({ actor: 'carol', coreId: 'core-2', state: 'pending', commands: [{ commandId }] });
    expect(audit.query({ limit: 10 }).entries).toMatchObject([{ event: 'requested', actor: 'carol', coreId: 'core-1', detail: { forwardedBy: { coreId: 'core-2' } } }]);
    expect(outbox.openCount()).toBe(1);
  });
});

describe('aggregateState', () => {
  it('is the least advanced open state, else the outcome', () => {
    expect(aggregateState(['published', 'pending', 'acked'])).toBe('pending');
    expect(aggregateState(['acked', 'acked'])).toBe('acked');
    expect(aggregateState(['rejected'])).toBe('rejected');
    expect(aggregateState(['acked', 'expired'])).toBe('expired');
    expect(aggregateState(['acked', 'rejected'])).toBe('partially-acked');
  });
});

describe('AuditLog.query', () => {
  it('filters and pages newest first', () => {
    for (let i = 0; i < 7; i++) {
      audit.append({ at: T0 + i, event: 'requested', actor: i % 2 ? 'alice' : 'bob', origin: 'operator', action: i < 3 ? 'drain' : 'eject', service: 'checkout', instanceId: `c-${i}`, reason: `r${i}`, result: 'pending', coreId: 'core-1' });
    }
    const first = audit.query({ limit: 3 });
    expect(first.entries.map((e) => e.reason)).toEqual(['r6', 'r5', 'r4']);
    const second = audit.query({ limit: 3, cursor: first.nextCursor! });
    expect(second.entries.map((e) => e.reason)).toEqual(['r3', 'r2', 'r1']);
    const last = audit.query({ limit: 3, cursor: second.nextCursor! });
    expect(last).toMatchObject({ entries: [{ reason: 'r0' }], nextCursor: null });
    expect(audit.query({ limit: 10, actor: 'alice', action: 'eject' }).entries.map((e) => e.reason)).toEqual(['r5', 'r3']);
    expect(audit.query({ limit: 10, since: T0 + 2, until: T0 + 4 }).entries.map((e) => e.reason)).toEqual(['r3', 'r2']);
    expect(audit.query({ limit: 10, instanceId: 'c-4' }).entries).toHaveLength(1);
    expect(new AuditLog(db, 'elsewhere').query({ limit: 10 }).entries).toEqual([]);
  });
});

describe('circuit actions (target: the caller; the callee in the action)', () => {
  it('preview: each caller instance\u2019s share of the traffic to the callee, the refused share of a trip, no capacity change', () => {
    actions.useTraffic((from, to) => (from === 'checkout' && to === 'payments' ? new Map([['c-1', 30], ['c-3', 10]]) : new Map()));
    const one = actions.preview({ action: { action: 'trip-circuit', callee: 'payments' }, target: { service: 'checkout', instanceId: 'c-1' } });
    expect(one).toMatchObject({ summary: 'trip the circuit checkout/c-1 → payments until reset', affected: 1, capacityAfter: 1, trafficAffectedShare: 0.75 });
    expect(one.instances.map((i) => [i.instanceId, i.affected, i.shareOfTraffic])).toEqual([
      ['c-1', true, 0.75],
      ['c-2', false, 0],
      ['c-3', false, 0.25],
    ]);
    expect(one.warnings).toContain("about 75 % of checkout's requests to payments would be refused (503) at once");
    expect(one.undo).toEqual({ summary: 'reset the circuit checkout/c-1 → payments', commands: [{ target: { service: 'checkout', instanceId: 'c-1' }, action: { action: 'reset-circuit', callee: 'payments' } }] });

    const quiet = actions.preview({ action: { action: 'reset-circuit', callee: 'search' }, target: { service: 'checkout' } });
    expect(quiet).toMatchObject({ trafficAffectedShare: 0, summary: 'reset the circuit checkout (every instance) → search' });
    expect(quiet.instances.every((i) => i.shareOfTraffic === null)).toBe(true);
    expect(quiet.warnings).toContain('no traffic from checkout to search was seen lately');
  });

  it('trip for a duration is sent to every caller instance; undo resets; a reset is undone by a trip until reset', () => {
    const trip = actions.act({ action: { action: 'trip-circuit', callee: 'payments', durationMs: 30_000 }, target: { service: 'checkout' }, reason: 'payments melting' }, { actor: 'alice' });
    expect(trip.summary).toBe('trip the circuit checkout (every instance) → payments for 30 s');
    expect(trip.progress.expected).toBe(3);
    const undo = actions.undo(trip.id, 'payments back', { actor: 'alice' });
    expect(undo.action).toEqual({ action: 'reset-circuit', callee: 'payments' });
    const reset = actions.act({ action: { action: 'reset-circuit', callee: 'payments' }, target: { service: 'checkout' }, reason: 'r' }, { actor: 'alice' });
    expect(reset.undo?.commands).toEqual([{ target: { service: 'checkout' }, action: { action: 'trip-circuit', callee: 'payments' } }]);
  });
});

describe('zone failover (failover-zone, restore-zone)', () => {
  const failover = { action: 'failover-zone', zone: 'zone-a' } as const;

  it('previews the zone’s instances, the capacity that remains, the traffic share the mesh reports, and the undo', () => {
    actions.setHooks({ zoneTraffic: (service, zone) => (service === 'checkout' && zone === 'zone-a' ? 0.8 : null) });
    const p = actions.preview({ action: failover, target: { service: 'checkout' } });
    expect(p.instances.map((i) => [i.instanceId, i.affected])).toEqual([
      ['c-1', true],
      ['c-2', true],
      ['c-3', false],
    ]);
    expect(p).toMatchObject({ affected: 2, affectedHealthy: 2, affectedShare: 0.5, capacityAfter: 0.5, trafficAffectedShare: 0.8, summary: 'fail checkout over away from zone zone-a' });
    expect(p.undo).toEqual({ summary: 'restore zone zone-a of checkout (gradual fail-back)', commands: [{ target: { service: 'checkout' }, action: { action: 'restore-zone', zone: 'zone-a' } }] });
    expect(p.warnings).toEqual(['about 80 % of checkout\u2019s traffic moves to other zones'.replace('\u2019', "'")]);
    // Without traffic seen: the zone's share of the healthy capacity, said so.
    actions.setHooks({ zoneTraffic: () => null });
    const q = actions.preview({ action: failover, target: { service: 'checkout' } });
    expect(q.trafficAffectedShare).toBe(0.5);
    expect(q.warnings[0]).toMatch(/about 50 % .* \(the zone's share of the healthy capacity/);
  });

  it('warns when no other zone has a healthy instance', () => {
    const p = actions.preview({ action: { action: 'failover-zone', zone: 'zone-b' }, target: { service: 'checkout' } });
    expect(p.warnings).toHaveLength(1);
    registry.deregister({ service: 'checkout', instanceId: 'c-1', reason: 'gone' }, clock);
    registry.deregister({ service: 'checkout', instanceId: 'c-2', reason: 'gone' }, clock);
    const alone = actions.preview({ action: { action: 'failover-zone', zone: 'zone-b' }, target: { service: 'checkout' } });
    expect(alone.warnings).toContain('no other zone of checkout has a healthy instance: callers keep using zone zone-b');
  });

  it('refuses a zone without instances and a target instance, recording nothing', () => {
    const recorded: string[] = [];
    actions.setHooks({ recorded: (a) => recorded.push(a.id) });
    expect(() => actions.act({ action: { action: 'failover-zone', zone: 'zone-x' }, target: { service: 'checkout' }, reason: 'r' }, { actor: 'a' })).toThrow(
      expect.objectContaining({ issues: [expect.objectContaining({ path: 'action.zone', message: 'checkout has instances in zone-a, zone-b' })] }),
    );
    expect(() => actions.preview({ action: failover, target: { service: 'checkout', instanceId: 'c-1' } })).toThrow(ValidationError);
    expect(recorded).toEqual([]);
    expect(outbox.openCount()).toBe(0);
  });

  it('sends one command per live instance of the zone, runs the hook in the transaction, and undoes with restore-zone to the same instances', () => {
    const recorded: Array<[string, string]> = [];
    actions.setHooks({ recorded: (a) => recorded.push([a.action.action, a.target.service]) });
    const record = actions.act({ action: failover, target: { service: 'checkout' }, reason: 'zone a maintenance' }, { actor: 'alice' });
    expect(record.commands.map((c) => [c.target.instanceId, c.action])).toEqual([
      ['c-1', failover],
      ['c-2', failover],
    ]);
    expect(record.commands.map((c) => outbox.get(c.commandId)!.expected)).toEqual([['c-1'], ['c-2']]);
    expect(recorded).toEqual([['failover-zone', 'checkout']]);
    for (const c of record.commands) outbox.recordAck(ack(c.commandId, c.target.instanceId!), T0 + 1);
    expect(actions.get(record.id)!.state).toBe('acked');

    const undo = actions.undo(record.id, 'done', { actor: 'bob' });
    expect(undo.action).toEqual({ action: 'restore-zone', zone: 'zone-a' });
    expect(undo.commands.map((c) => c.target.instanceId)).toEqual(['c-1', 'c-2']);
    expect(recorded.at(-1)).toEqual(['restore-zone', 'checkout']);
    expect(() => actions.undo(undo.id, 'again', { actor: 'bob' })).toThrow(ConflictError);
  });

  it('a hook that throws rolls the whole action back, with what the hook wrote', () => {
    actions.setHooks({
      recorded: (a) => {
        db.prepare('INSERT INTO zone_failovers (mesh, service, zone, action_id, created_at) VALUES (?, ?, ?, ?, ?)').run('m', a.target.service, 'zone-a', a.id, clock);
        throw new Error('disk full');
      },
    });
    expect(() => actions.act({ action: failover, target: { service: 'checkout' }, reason: 'r' }, { actor: 'a' })).toThrow('disk full');
    expect(db.prepare('SELECT COUNT(*) AS n FROM zone_failovers').get()).toEqual({ n: 0 });
    expect(actions.recent(10)).toEqual([]);
    expect(outbox.openCount()).toBe(0);
    expect(audit.query({ limit: 10 }).entries.map((e) => e.event)).toEqual(['refused']);
  });
});
