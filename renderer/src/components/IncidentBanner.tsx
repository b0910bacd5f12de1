import { useState } from 'react';
import { useTopic } from '../api/hooks';
import '../views/incidents.css';

/**
 * Shown on every view when an incident opens: the newest incident that opened while this console
 * was watching, until it is acknowledged, resolved or dismissed. Links to its page.
 */
export function IncidentBanner({ profileId }: { profileId: string | null }) {
  const view = useTopic('incidents.changed')?.find((v) => v.profileId === profileId);
  // Incidents that were already open when the console loaded are in the list, not in a banner.
  const [since] = useState(() => Date.now());
  const [dismissed, setDismissed] = useState<number | null>(null);
  if (!view) return null;
  const incident = view.open.find((i) => i.id === view.lastOpened);
  if (!incident || incident.openedAt < since || incident.id === dismissed || incident.status !== 'open') return null;
  return (
    <div className={`incident-banner banner-${incident.severity}`} role="alert" data-testid="incident-banner" data-incident={incident.id}>
      <span aria-hidden="true">{incident.severity === 'failing' ? '✕' : '▲'}</span>
      <span>
        <strong>Incident #{incident.id} opened</strong> ({incident.severity}): {incident.title}
        {incident.topSuspect ? <span className="muted"> · first suspect {incident.topSuspect}</span> : null}
      </span>
      <span className="spacer" />
      <a href={`#/incidents?id=${incident.id}`}>Open incident</a>
      <button className="link" onClick={() => setDismissed(incident.id)} aria-label="Dismiss">
        Dismiss
      </button>
    </div>
  );
}
