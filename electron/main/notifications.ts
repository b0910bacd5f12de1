/**
 * Shows a newly opened incident as a desktop notification; a click focuses the window and opens
 * the incident's page. Which incidents are new is decided by `watchIncidentNotifications`
 * (./incident-notifications, no electron import, unit-tested on the real payload).
 */
import { Notification } from 'electron';
import type { IncidentNotice } from './incident-notifications';

/** `open` runs on click with the incident's route in the renderer. */
export function showIncidentNotification(notice: IncidentNotice, open: (route: string) => void): void {
  if (!Notification.isSupported()) return;
  const notification = new Notification({
    title: notice.title,
    body: `${notice.body}. Click to open it in Meshdeck.`,
    urgency: notice.severity === 'failing' ? 'critical' : 'normal',
  });
  notification.on('click', () => open(notice.route));
  notification.show();
}
