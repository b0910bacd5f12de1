import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../control/audit.js';
import { silentLogger } from '../lib/log.js';
import { telemetryBatch, tempDb, type EdgeSpec, type TempDb } from '../telemetry/test-support.js';
import { IncidentMonitor } from './monitor.js';
import type { InstanceStateInput, QueueInput } from './rules.js';

const T0 = 1_800_000_000_000;
let tmp: TempDb;
let now: number;
let monitor: IncidentMonitor;
let audit: AuditLog;
let instances: InstanceStateInput[];

beforeEach(() => {
  tmp = tempDb('meshdeck-incidents-');
  now = T0;
  audit = new AuditLog(tmp.db, 'm');
  instances = ['pay-1', 'pay-2', 'pay-3'].map((instanceId) => ({ instanceId, zone: 'z1', state: 'healthy' as const, ejected: false }));
  monitor = new IncidentMonitor({ mesh: 'm', db: tmp.db, logger: silentLogger, services: () => ['pay'], instances: () => instances, audit, now: () => now });
});
afterEach(() => tmp.cleanup());

/** One second of traffic web → pay: 20 requests per instance, `failing` instances answer 5xx to all. */
function second(failing: string[], opts: { slow?: string } = {}): void {
  const edges: EdgeSpec[] = instances.map((i) => ({
    peerService: 'pay',
    peerInstance: i.instanceId,
    values: Array.from({ length: 20 }, () => (opts.slow === i.instanceId ? 3000 : 5)),
    errors: failing.includes(i.instanceId) ? { http5xx: 20 } : {},
  }));
  monitor.ingest(telemetryBatch('web', 'web-1', now, edges));
  now += 1000;
  monitor.tick();
}

describe('IncidentMonitor', () => {
  it('ranks an incident whose rule waits 30 s to open over its whole onset: the instances and edges are kept that long for it', () => {
    expect(monitor.signals.detail).toBe(20);
    monitor.setRules('pay', { openAfterSeconds: 30 }, 'alice');
    expect(monitor.signals.detail).toBe(30 + 1 + 3 + 4);
    for (let s = 0; s < 5; s++) second([]);
    let seconds = 0;
    while (monitor.list({ status: 'open', limit: 10 }).length === 0 && seconds < 40) {
      second(['pay-2']);
      seconds++;
    }
    expect(seconds).toBe(30);
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    const top = monitor.get(incident!.id).suspects[0]!;
    expect(top).toMatchObject({ kind: 'instance', target: 'pay-2' });
    // Every failing second since the onset (settled ones from the trace, the rest read fresh): 30 × 20 failures, not the last 20 s only.
    expect(top.evidence).toMatchObject({ failed: 30 * 20 });
  });

  it('opens an incident for a faulted instance, ranks it first with its reasoning, and resolves when the fault stops', () => {
    const opened: number[] = [];
    monitor.on('opened', (i) => opened.push(i.id));
    for (let s = 0; s < 5; s++) second([]);
    expect(monitor.list({ status: 'all', limit: 10 })).toEqual([]);
    const faultAt = now;
    for (let s = 0; s < 3; s++) second(['pay-2']);
    // Over 5 s the rate is 6.7 % after the first faulty second, then over 10 %: it opens after 3 s
    // at the level all three justified (degraded), and escalates 3 s later.
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    expect(incident).toMatchObject({ scope: 'service:pay', service: 'pay', status: 'open', severity: 'degraded', title: 'Errors: pay', topSuspect: 'pay-2' });
    expect(incident!.onsetAt).toBe(faultAt + 1000);
    expect(opened).toEqual([incident!.id]);

    monitor.failoverTransition({
      service: 'pay',
      instanceId: 'pay-2',
      at: now,
      from: 'healthy',
      to: 'ejected',
      until: now + 30_000,
      durationMs: 30_000,
      backoff: 1,
      ejections: 1,
      reason: '3 consecutive failures',
      evidence: { rule: 'ejection-elapsed', at: now, samples: { ejectedAt: now, durationMs: 1, backoff: 1 }, thresholds: { baseMs: 1, maxMs: 1 } },
    });
    audit.append({ at: now, event: 'requested', actor: 'alice', origin: 'operator', action: 'drain', service: 'pay', instanceId: 'pay-2', reason: 'stop the bleeding', result: 'pending', coreId: 'c' });
    audit.append({ at: now, event: 'requested', actor: 'bob', origin: 'operator', action: 'drain', service: 'other', instanceId: 'x', reason: 'unrelated', result: 'pending', coreId: 'c' });
    for (let s = 0; s < 5; s++) second(['pay-2']);

    const detail = monitor.get(incident!.id);
    expect(detail.severity).toBe('failing');
    expect(detail.timeline.find((e) => e.kind === 'severity')!.text).toBe('Severity degraded → failing');
    expect(detail.suspects[0]).toMatchObject({ rank: 1, kind: 'instance', target: 'pay-2' });
    expect(detail.suspects[0]!.reasoning).toMatch(/160 of 160 failures of pay since the onset \(100 %\) on 33 % of its requests/);
    expect(detail.suspects[0]!.reasoning).toMatch(/ejected by the core/);
    expect(detail.suspects[0]!.score).toBeGreaterThan(detail.suspects[1]?.score ?? 0);
    const kinds = detail.timeline.map((e) => e.kind);
    expect(kinds.slice(0, 2)).toEqual(['opened', 'rule']);
    expect(kinds).toContain('failover');
    const action = detail.timeline.find((e) => e.kind === 'action')!;
    expect(action).toMatchObject({ actor: 'alice', text: 'drain on pay/pay-2 by alice: stop the bleeding' });
    expect(detail.timeline.some((e) => e.text.includes('unrelated'))).toBe(false);
    // In time order.
    expect(detail.timeline.map((e) => e.at)).toEqual([...detail.timeline.map((e) => e.at)].sort((a, b) => a - b));

    // Fault over: the 5 s window holds no failure from the 5th clean second on, the 10th such second resolves.
    let resolvedAfter = 0;
    for (let s = 1; s <= 20 && monitor.get(incident!.id).status !== 'resolved'; s++) {
      second([]);
      resolvedAfter = s;
    }
    const resolved = monitor.get(incident!.id);
    expect(resolved).toMatchObject({ status: 'resolved', resolvedBy: 'meshdeck-core', severity: 'failing', peakSeverity: 'failing' });
    expect(resolvedAfter).toBe(14);
    expect(resolved.timeline.at(-1)!.text).toMatch(/Resolved automatically/);
  });

  it('acknowledges, assigns, takes notes, resolves by hand; a symptom that persists opens a new incident', () => {
    for (let s = 0; s < 4; s++) second(['pay-1']);
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    const changes: number[] = [];
    monitor.on('changed', () => changes.push(now));
    expect(monitor.acknowledge(incident!.id, 'alice')).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'alice' });
    expect(monitor.assign(incident!.id, 'bob', 'alice').assignee).toBe('bob');
    const noted = monitor.note(incident!.id, 'rolled back pay-1', 'bob');
    expect(noted.notes.map((n) => [n.actor, n.text])).toEqual([['bob', 'rolled back pay-1']]);
    expect(changes.length).toBe(3);
    const resolved = monitor.resolve(incident!.id, 'bob', 'rollback done');
    expect(resolved).toMatchObject({ status: 'resolved', resolvedBy: 'bob' });
    expect(() => monitor.resolve(incident!.id, 'bob', '')).toThrow(/already resolved/);
    expect(() => monitor.acknowledge(incident!.id, 'bob')).toThrow(/already resolved/);
    expect(() => monitor.get(9999)).toThrow(/does not exist/);
    for (let s = 0; s < 3; s++) second(['pay-1']);
    const open = monitor.list({ status: 'open', limit: 10 });
    expect(open).toHaveLength(1);
    expect(open[0]!.id).not.toBe(incident!.id);
    // Lists: open first.
    expect(monitor.list({ status: 'all', limit: 10 }).map((i) => i.status)).toEqual(['open', 'resolved']);
  });

  it('ranks the slow instance first for a latency incident', () => {
    for (let s = 0; s < 4; s++) second([], { slow: 'pay-3' });
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    expect(incident).toMatchObject({ title: 'Slow responses: pay', topSuspect: 'pay-3' });
    expect(monitor.get(incident!.id).suspects[0]!.reasoning).toMatch(/p99 30\d\d ms \(SLO 1000 ms\): 100 % of the excess latency/);
  });

  it('opens an incident for a lost instance with that instance first, and resolves when it is back', () => {
    for (let s = 0; s < 2; s++) second([]);
    instances[0] = { ...instances[0]!, state: 'down' };
    monitor.registryChanges([{ at: now, service: 'pay', instanceId: 'pay-1', kind: 'state', from: 'healthy', to: 'down', detail: 'missed 3 heartbeats' }]);
    for (let s = 0; s < 3; s++) second([]);
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    expect(incident).toMatchObject({ title: 'Instance lost: pay', severity: 'degraded', topSuspect: 'pay-1' });
    expect(monitor.get(incident!.id).timeline.find((e) => e.kind === 'registry')!.text).toBe('pay-1 healthy → down (missed 3 heartbeats)');
    instances[0] = { ...instances[0]!, state: 'healthy' };
    for (let s = 0; s < 10; s++) second([]);
    expect(monitor.get(incident!.id).status).toBe('resolved');
  });

  it('opens queue incidents from synthetic broker snapshots, with the queue as suspect', () => {
    const snap = (depth: number, consumers: number): QueueInput[] => [{ queue: 'orders.ship', service: 'shipping', depth, consumers }];
    monitor.observeQueues(snap(0, 2));
    monitor.tick();
    for (let s = 0; s < 3; s++) {
      now += 1000;
      monitor.observeQueues(snap(5 + s, 0));
      monitor.tick();
    }
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    expect(incident).toMatchObject({ scope: 'service:shipping', title: 'Consumer gone: shipping', severity: 'failing', topSuspect: 'orders.ship' });
    expect(monitor.get(incident!.id).suspects[0]!.reasoning).toBe('no consumer on orders.ship; 7 messages waiting');
  });

  it('uses saved per-service thresholds', () => {
    expect(() => monitor.setRules('pay', { errorRate: { failing: 7 } }, 'alice')).toThrow(/Invalid incident rules/);
    expect(monitor.setRules('pay', { errorRate: { degraded: 0.5, failing: 0.9 } }, 'alice').errorRate).toMatchObject({ degraded: 0.5, failing: 0.9 });
    for (let s = 0; s < 5; s++) second(['pay-1']); // 33 % failing: under the saved degraded threshold
    expect(monitor.list({ status: 'all', limit: 10 })).toEqual([]);
    expect(monitor.setRules('pay', null, 'alice').errorRate.degraded).toBe(0.001);
  });
});

describe('a failing dependency', () => {
  it('ranks the dependency edge first on the calling service, and its changes join that incident\u2019s timeline', () => {
    const m = new IncidentMonitor({ mesh: 'm', db: tmp.db, logger: silentLogger, services: () => ['web'], instances: () => [{ instanceId: 'web-1', zone: 'z1', state: 'healthy', ejected: false }], now: () => now });
    for (let s = 0; s < 4; s++) {
      // web answers 5xx to half of its external requests because its calls to pay fail.
      m.ingest(telemetryBatch('web', 'web-1', now, [{ direction: 'inbound', peerService: 'external', values: Array.from({ length: 40 }, () => 5), errors: { http5xx: 20 } }]));
      m.ingest(telemetryBatch('web', 'web-1', now, [{ peerService: 'pay', peerInstance: 'pay-1', values: Array.from({ length: 40 }, () => 5), errors: { http5xx: 20 } }]));
      now += 1000;
      m.tick();
    }
    const [incident] = m.list({ status: 'open', limit: 10 });
    const detail = m.get(incident!.id);
    expect(detail.suspects[0]).toMatchObject({ kind: 'dependency', target: 'web → pay', service: 'pay' });
    m.registryChanges([{ at: now, service: 'pay', instanceId: 'pay-1', kind: 'state', from: 'healthy', to: 'down', detail: 'missed 3 heartbeats' }]);
    m.registryChanges([{ at: now, service: 'shop', instanceId: 'shop-1', kind: 'state', from: 'healthy', to: 'down', detail: 'unrelated' }]);
    m.tick(); // registry changes join timelines with the next second's evaluation
    expect(m.get(incident!.id).timeline.filter((e) => e.kind === 'registry').map((e) => e.text)).toEqual(['pay-1 healthy → down (missed 3 heartbeats)']);
  });

  it('writes a burst of registry changes to an open incident with the next tick: one "changed", however many changes', () => {
    for (let s = 0; s < 5; s++) second([]);
    for (let s = 0; s < 3; s++) second(['pay-2']);
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    const before = monitor.get(incident!.id).timeline.length;
    let changed = 0;
    monitor.on('changed', () => changed++);
    const burst = Array.from({ length: 2000 }, (_, i) => ({ at: now, service: i % 2 ? 'pay' : 'shop', instanceId: `x-${i}`, kind: 'state' as const, from: 'healthy' as const, to: 'down' as const, detail: 'missed 3 heartbeats' }));
    for (let i = 0; i < burst.length; i += 100) monitor.registryChanges(burst.slice(i, i + 100));
    expect(changed).toBe(0);
    expect(monitor.get(incident!.id).timeline.length).toBe(before);
    now += 1000;
    monitor.tick();
    expect(changed).toBe(1);
    // Only the changes of the incident's service join its timeline.
    expect(monitor.get(incident!.id).timeline.length - before).toBeGreaterThanOrEqual(1000);
    expect(monitor.get(incident!.id).timeline.filter((e) => e.kind === 'registry')).toHaveLength(1000);
  });
});

describe('export', () => {
  it('writes Markdown and JSON with secrets redacted everywhere', () => {
    for (let s = 0; s < 4; s++) second(['pay-2']);
    const [incident] = monitor.list({ status: 'open', limit: 10 });
    monitor.note(incident!.id, 'tried amqp://admin:hunter2@broker:5672/ and curl -H "Authorization: Bearer abc.def.ghi"', 'alice');
    tmp.db.prepare(`INSERT INTO incident_timeline (incident, at, kind, actor, text, evidence) VALUES (?, ?, 'action', 'ops', 'x', ?)`).run(incident!.id, now, JSON.stringify({ password: 'hunter2', url: 'amqps://u:hunter2@h' }));
    const md = monitor.export(incident!.id, 'markdown');
    expect(md.filename).toBe(`incident-${incident!.id}-service-pay.md`);
    expect(md.content).toMatch(/^# Incident \d+: Errors: pay/);
    expect(md.content).toContain('| 1 | pay-2 | instance |');
    expect(md.content).toContain('## Timeline');
    expect(md.content).toContain('amqp://admin:***@broker');
    expect(md.content).toContain('Bearer ***');
    const json = monitor.export(incident!.id, 'json');
    expect(json.contentType).toBe('application/json');
    const parsed = JSON.parse(json.content) as { format: string; incident: { suspects: Array<{ target: string }>; timeline: Array<{ evidence: unknown }> } };
    expect(parsed.format).toBe('meshdeck.incident.v1');
    expect(parsed.incident.suspects[0]!.target).toBe('pay-2');
    expect(parsed.incident.timeline.some((e) => JSON.stringify(e.evidence).includes('"password":"***"'))).toBe(true);
    for (const out of [md.content, json.content]) {
      expect(out).not.toContain('hunter2');
      expect(out).not.toContain('abc.def.ghi');
    }
  });
});
