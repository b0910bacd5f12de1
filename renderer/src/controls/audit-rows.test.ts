import { describe, expect, it } from 'vitest';
import { auditRows } from './audit-rows';

const base = { actor: 'http 127.0.0.1', origin: 'operator' as const, action: 'set-weight', service: 'pay', instanceId: 'pay-1', reason: 'shift load', undoOf: null };

describe('auditRows', () => {
  it('joins an action\u2019s request and result into one row with the acks, newest action first', () => {
    const rows = auditRows([
      { ...base, id: 4, at: 400, event: 'requested', result: 'pending', detail: { summary: 'restore pay-1' }, actionId: 'a2', action: 'restore', undoOf: 'a1' },
      {
        ...base,
        id: 3,
        at: 300,
        event: 'result',
        result: 'acked',
        actionId: 'a1',
        detail: { summary: 'set weight 0', counts: { expected: 2, acked: 2, rejected: 0, waiting: 0 }, instances: [{ instanceId: 'pay-1', status: 'applied', detail: 'weight 0' }] },
      },
      { ...base, id: 1, at: 100, event: 'requested', result: 'pending', detail: { summary: 'set weight 0' }, actionId: 'a1' },
    ]);
    expect(rows.map((r) => r.key)).toEqual(['a2', 'a1']);
    expect(rows[1]).toMatchObject({ at: 100, finishedAt: 300, result: 'acked', summary: 'set weight 0', acks: { expected: 2, acked: 2, rejected: 0 } });
    expect(rows[1]!.instances).toEqual([{ instanceId: 'pay-1', status: 'applied', detail: 'weight 0' }]);
    expect(rows[0]).toMatchObject({ result: 'pending', acks: null, undoOf: 'a1', action: 'restore' });
  });

  it('keeps refusals and entries without an action as rows of their own; reads a bare command\u2019s progress', () => {
    const rows = auditRows([
      { ...base, id: 2, at: 200, event: 'refused', result: 'refused', detail: { error: 'outbox full' }, actionId: null },
      { ...base, id: 1, at: 100, event: 'result', result: 'partially-acked', detail: { progress: { expected: 3, acked: 2, rejected: 1, instances: [] } }, actionId: null },
    ]);
    expect(rows.map((r) => [r.key, r.result])).toEqual([
      ['entry-2', 'refused'],
      ['entry-1', 'partially-acked'],
    ]);
    expect(rows[1]!.acks).toEqual({ expected: 3, acked: 2, rejected: 1 });
  });
});
