import { describe, expect, it, vi } from 'vitest';
import type { IncidentNotice } from './incident-notifications';

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

const { showIncidentNotification } = await import('./notifications');

const notice = (over: Partial<IncidentNotice> = {}): IncidentNotice => ({
  profileId: 'cli',
  incidentId: 9,
  severity: 'failing',
  title: 'Incident #9: Errors: payments',
  body: 'Failing · first suspect payments-2',
  route: '#/incidents?id=9',
  ...over,
});

describe('showIncidentNotification', () => {
  it('shows title and severity; a click opens the incident route', () => {
    const open = vi.fn();
    showIncidentNotification(notice(), open);
    const shown = fake.shown.at(-1)!;
    expect(shown.options).toMatchObject({ title: 'Incident #9: Errors: payments', body: 'Failing · first suspect payments-2. Click to open it in Meshdeck.', urgency: 'critical' });
    shown.emit('click');
    expect(open).toHaveBeenCalledWith('#/incidents?id=9');
    showIncidentNotification(notice({ severity: 'degraded' }), open);
    expect(fake.shown.at(-1)!.options).toMatchObject({ urgency: 'normal' });
  });

  it('does nothing where notifications are not supported', () => {
    fake.supported = false;
    const before = fake.shown.length;
    showIncidentNotification(notice(), vi.fn());
    expect(fake.shown.length).toBe(before);
    fake.supported = true;
  });
});
