/**
 * Desktop notifications for newly opened incidents. The core publishes them on the
 * `incidents.changed` topic; where the topic does not exist (a core without incidents) this is a
 * no-op. The notifier works on a small interface — events of {id, title, severity} — so the
 * payload's exact shape matters only in `incidentEvents`. A click focuses the window and opens
 * the incident (`#/incidents/<id>`).
 */
import { Notification } from 'electron';

export const INCIDENTS_TOPIC = 'incidents.changed';

export interface IncidentEvent {
  id: string;
  title: string;
  severity: string;
}

function asEvent(value: unknown): IncidentEvent | null {
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || !v.id || typeof v.title !== 'string') return null;
  // An incident that is no longer open is not news.
  if (typeof v.status === 'string' && v.status !== 'open') return null;
  return { id: v.id, title: v.title, severity: typeof v.severity === 'string' ? v.severity : 'unknown' };
}

/** The incidents in a topic payload: one event, a list, or an object with an `opened` or `incidents` list. */
export function incidentEvents(payload: unknown): IncidentEvent[] {
  const list = Array.isArray(payload)
    ? payload
    : payload && typeof payload === 'object' && Array.isArray((payload as { opened?: unknown }).opened)
      ? (payload as { opened: unknown[] }).opened
      : payload && typeof payload === 'object' && Array.isArray((payload as { incidents?: unknown }).incidents)
        ? (payload as { incidents: unknown[] }).incidents
        : [payload];
  return list.map(asEvent).filter((e): e is IncidentEvent => e !== null);
}

/** The renderer route of an incident. */
export function incidentRoute(id: string): string {
  return `#/incidents/${encodeURIComponent(id)}`;
}

/**
 * Calls `notify` once per incident id. The topic's first delivery is its current value: those
 * incidents were open before the app started, so they are remembered, not announced.
 */
export function incidentNotifier(notify: (event: IncidentEvent) => void): (payload: unknown) => void {
  const seen = new Set<string>();
  let first = true;
  return (payload) => {
    const events = incidentEvents(payload);
    for (const event of events) {
      if (seen.has(event.id)) continue;
      seen.add(event.id);
      if (!first) notify(event);
    }
    first = false;
  };
}

export interface IncidentSource {
  subscribe(topic: string, listener: (payload: unknown) => void): () => void;
}

/** Subscribes to the incidents topic if the core has it; returns the unsubscribe (a no-op otherwise). */
export function watchIncidents(source: IncidentSource, hasTopic: (name: string) => boolean, notify: (event: IncidentEvent) => void): () => void {
  if (!hasTopic(INCIDENTS_TOPIC)) return () => undefined;
  return source.subscribe(INCIDENTS_TOPIC, incidentNotifier(notify));
}

/** Shows one incident as a desktop notification; `open` runs on click with the incident's route. */
export function showIncidentNotification(event: IncidentEvent, open: (route: string) => void): void {
  if (!Notification.isSupported()) return;
  const notification = new Notification({
    title: `Incident (${event.severity}): ${event.title}`,
    body: 'Click to open it in Meshdeck.',
    urgency: event.severity === 'critical' ? 'critical' : 'normal',
  });
  notification.on('click', () => open(incidentRoute(event.id)));
  notification.show();
}
