import { describe, expect, it } from 'vitest';
import type { IncidentSummary, IncidentsView } from '../../core/api/contract';
import { watchIncidentNotifications, type IncidentNotice } from './incident-notifications';

const incident = (id: number, over: Partial<IncidentSummary> = {}): IncidentSummary => ({
  id,
  mesh: 'cli',
  scope: 'service:pay',
  service: 'pay',
  title: 'Errors: pay',
  status: 'open',
  severity: 'failing',
  peakSeverity: 'failing',
  onsetAt: 1,
  openedAt: 1,
  updatedAt: 1,
  resolvedAt: null,
  resolvedBy: null,
  acknowledgedAt: null,
  acknowledgedBy: null,
  assignee: null,
  rules: [],
  topSuspect: 'pay-2',
  ...over,
});

function fakeRouter() {
  let listener: ((payload: unknown) => void) | null = null;
  return {
    subscribe(_topic: 'incidents.changed', l: (payload: unknown) => void) {
      listener = l;
      return () => {
        listener = null;
      };
    },
    push(views: IncidentsView[]) {
      listener?.(views);
    },
    get subscribed() {
      return listener !== null;
    },
  };
}

describe('watchIncidentNotifications', () => {
  it('announces each incident that opens once, not those open at start', () => {
    const router = fakeRouter();
    const notices: IncidentNotice[] = [];
    const stop = watchIncidentNotifications(router, (n) => notices.push(n));
    const view = (open: IncidentSummary[]): IncidentsView[] => [{ profileId: 'cli', at: 0, open, lastOpened: open.at(-1)?.id ?? null, queueRules: { onHold: false, reason: null, since: null } }];
    router.push(view([incident(1)]));
    expect(notices).toEqual([]);
    router.push(view([incident(1), incident(2, { severity: 'degraded', title: 'Slow responses: cart', topSuspect: null })]));
    router.push(view([incident(1), incident(2, { status: 'acknowledged' })]));
    router.push(view([incident(1), incident(2), incident(3, { status: 'acknowledged' })]));
    expect(notices).toEqual([{ profileId: 'cli', incidentId: 2, severity: 'degraded', title: 'Incident #2: Slow responses: cart', body: 'Degraded', route: '#/incidents?id=2' }]);
    router.push(view([incident(4)]));
    expect(notices.map((n) => [n.incidentId, n.body])).toEqual([
      [2, 'Degraded'],
      [4, 'Failing · first suspect pay-2'],
    ]);
    stop();
    expect(router.subscribed).toBe(false);
  });
});
