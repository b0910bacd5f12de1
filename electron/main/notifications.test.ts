import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';

const fake = vi.hoisted(() => ({ shown: [] as Array<{ options: Record<string, unknown>; emit(e: string): void }>, supported: true }));

vi.mock('electron', async () => {
  const { EventEmitter } = await import('node:events');
  class Notification extends EventEmitter {
    static isSupported = () => fake.supported;
    constructor(readonly options: Record<string, unknown>) {
      super();
    }
    show() {
      fake.shown.push(this);
    }
  }
  return { Notification };
});

const { INCIDENTS_TOPIC, incidentEvents, incidentNotifier, incidentRoute, showIncidentNotification, watchIncidents } = await import('./notifications');

describe('incidentEvents', () => {
  it('reads one event, a list, or an object with an opened/incidents list; skips malformed and closed ones', () => {
    const a = { id: 'inc-1', title: 'checkout is down', severity: 'critical' };
    expect(incidentEvents(a)).toEqual([a]);
    expect(incidentEvents([a, { id: 2, title: 'x' }, null])).toEqual([a]);
    expect(incidentEvents({ opened: [a] })).toEqual([a]);
    expect(incidentEvents({ incidents: [{ ...a, status: 'resolved' }, { id: 'inc-2', title: 'slow', status: 'open' }] })).toEqual([
      { id: 'inc-2', title: 'slow', severity: 'unknown' },
    ]);
    expect(incidentEvents(undefined)).toEqual([]);
  });

  it('routes to the incident, encoded', () => {
    expect(incidentRoute('inc-1')).toBe('#/incidents/inc-1');
    expect(incidentRoute('a/b?c')).toBe('#/incidents/a%2Fb%3Fc');
  });
});

describe('incidentNotifier', () => {
  it('remembers what was open at start, then announces each new incident once', () => {
    const notify = vi.fn();
    const onPayload = incidentNotifier(notify);
    onPayload([{ id: 'old', title: 'before start', severity: 'warning' }]);
    expect(notify).not.toHaveBeenCalled();
    onPayload([{ id: 'old', title: 'before start', severity: 'warning' }, { id: 'new', title: 'checkout is down', severity: 'critical' }]);
    onPayload({ id: 'new', title: 'checkout is down', severity: 'critical' });
    expect(notify.mock.calls).toEqual([[{ id: 'new', title: 'checkout is down', severity: 'critical' }]]);
  });
});

describe('watchIncidents', () => {
  it('is a no-op when the core has no incidents topic', () => {
    const subscribe = vi.fn();
    const stop = watchIncidents({ subscribe }, () => false, vi.fn());
    expect(subscribe).not.toHaveBeenCalled();
    expect(stop()).toBeUndefined();
  });

  it('subscribes to incidents.changed by name and notifies new incidents', () => {
    const topics = new EventEmitter();
    const source = {
      subscribe: (topic: string, listener: (p: unknown) => void) => {
        topics.on(topic, listener);
        return () => topics.off(topic, listener);
      },
    };
    const notify = vi.fn();
    const stop = watchIncidents(source, (name) => name === INCIDENTS_TOPIC, notify);
    topics.emit(INCIDENTS_TOPIC, []);
    topics.emit(INCIDENTS_TOPIC, [{ id: 'i1', title: 't', severity: 'major' }]);
    expect(notify).toHaveBeenCalledWith({ id: 'i1', title: 't', severity: 'major' });
    stop();
    expect(topics.listenerCount(INCIDENTS_TOPIC)).toBe(0);
  });
});

describe('showIncidentNotification', () => {
  it('shows title and severity; a click opens the incident route', () => {
    const open = vi.fn();
    showIncidentNotification({ id: 'i9', title: 'payments errors', severity: 'critical' }, open);
    const shown = fake.shown.at(-1)!;
    expect(shown.options).toMatchObject({ title: 'Incident (critical): payments errors', urgency: 'critical' });
    shown.emit('click');
    expect(open).toHaveBeenCalledWith('#/incidents/i9');
  });

  it('does nothing where notifications are not supported', () => {
    fake.supported = false;
    const before = fake.shown.length;
    showIncidentNotification({ id: 'i10', title: 't', severity: 'minor' }, vi.fn());
    expect(fake.shown.length).toBe(before);
    fake.supported = true;
  });
});
