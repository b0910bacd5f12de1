/**
 * Desktop notifications for incidents: the main process subscribes to `incidents.changed`
 * through the router and calls `notify` once for every incident that opens while it watches
 * (incidents already open at start are not announced). No `electron` import here: `notify` is
 * `showIncidentNotification` (./notifications), which shows an Electron `Notification`.
 */
import type { IncidentsView } from '../../core/api/contract';

export interface IncidentNotice {
  profileId: string;
  incidentId: number;
  severity: 'degraded' | 'failing';
  title: string;
  body: string;
  /** Where the renderer shows it. */
  route: string;
}

export interface TopicSubscriber {
  subscribe(topic: 'incidents.changed', listener: (payload: unknown) => void): () => void;
}

export function watchIncidentNotifications(router: TopicSubscriber, notify: (notice: IncidentNotice) => void): () => void {
  const announced = new Set<string>();
  let first = true;
  return router.subscribe('incidents.changed', (payload) => {
    const views = payload as IncidentsView[];
    for (const view of views) {
      for (const incident of view.open) {
        const key = `${view.profileId}/${incident.id}`;
        if (announced.has(key)) continue;
        announced.add(key);
        // The first value is the state at start: what is already open is not news.
        if (first || incident.status !== 'open') continue;
        notify({
          profileId: view.profileId,
          incidentId: incident.id,
          severity: incident.severity,
          title: `Incident #${incident.id}: ${incident.title}`,
          body: `${incident.severity === 'failing' ? 'Failing' : 'Degraded'}${incident.topSuspect ? ` · first suspect ${incident.topSuspect}` : ''}`,
          route: `#/incidents?id=${incident.id}`,
        });
      }
    }
    first = false;
  });
}
