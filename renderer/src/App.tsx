import type { ConnectionState, Profile } from '../../core/api/contract';
import { useHashRoute, useLink, useTopic } from './api/hooks';
import { StorageBanner } from './components/StorageBanner';
import { BackfillPill } from './components/BackfillPill';
import { StatusPill } from './components/StatusPill';
import { IncidentBanner } from './components/IncidentBanner';
import { IncidentsView } from './views/IncidentsView';
import { ConnectionsView } from './views/ConnectionsView';
import { SettingsView } from './views/SettingsView';
import { TopologyView } from './views/TopologyView';
import { BrokerView } from './views/Broker';
import { TrafficView } from './views/TrafficView';
import { AuditView } from './controls/AuditView';
import { EventsView } from './events/EventsView';
import { CommandCenter } from './palette/CommandCenter';

const VIEWS = [
  { route: 'topology', label: 'Topology', icon: '◎' },
  { route: 'traffic', label: 'Traffic', icon: '∿' },
  { route: 'incidents', label: 'Incidents', icon: '⚑' },
  { route: 'events', label: 'Events', icon: '≣' },
  { route: 'connections', label: 'Connections', icon: '⇄' },
  { route: 'broker', label: 'Broker', icon: '▤' },
  { route: 'audit', label: 'Audit', icon: '☰' },
  { route: 'settings', label: 'Settings', icon: '⚙' },
] as const;

/** The profile the top bar speaks for: a live one first, else the first that was tried. */
export function primaryConnection(
  profiles: Profile[] | undefined,
  states: ConnectionState[] | undefined,
): { profile: Profile; state: ConnectionState } | null {
  if (!profiles || !states) return null;
  const rank = (s: ConnectionState) =>
    ({ connected: 0, blocked: 1, reconnecting: 2, connecting: 3, failed: 4, disconnected: 5, idle: 6 })[s.status];
  const candidates = states
    .map((state) => ({ state, profile: profiles.find((p) => p.id === state.profileId) }))
    .filter((c): c is { state: ConnectionState; profile: Profile } => Boolean(c.profile))
    .sort((a, b) => rank(a.state) - rank(b.state));
  return candidates[0] ?? null;
}

export function App() {
  const [route, navigate] = useHashRoute();
  const link = useLink();
  const profiles = useTopic('profiles.changed');
  const states = useTopic('connections.state');
  const primary = primaryConnection(profiles, states);
  const control = useTopic('control.actions')?.find((v) => v.profileId === primary?.profile.id);
  const leadership = control?.leadership;
  const current = VIEWS.find((v) => v.route === route)?.route ?? 'connections';

  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">Meshdeck</span>
        <span className="topbar-broker" data-testid="topbar-broker">
          {primary ? (
            <>
              <span className="muted">Broker</span> <strong>{primary.profile.name}</strong> <StatusPill state={primary.state} />
            </>
          ) : (
            <span className="muted">No broker profile</span>
          )}
        </span>
        {leadership && (
          <span className="muted" data-testid="leader">
            Leader: {leadership.leader ? `${leadership.leader.host}${leadership.isLeader ? ' (this console)' : ''}` : 'electing…'}
          </span>
        )}
        <BackfillPill profileId={primary?.profile.id} />
        <span className="spacer" />
        <CommandCenter views={VIEWS} profileId={primary?.profile.id ?? null} navigate={navigate} />
        {link.state !== 'open' && (
          <span className={`pill pill-${link.state === 'unauthorized' ? 'failing' : 'degraded'}`} role="alert">
            {link.state === 'unauthorized' ? 'Not authorised' : 'Console link down'}
          </span>
        )}
      </header>
      <nav className="rail" aria-label="Views">
        {VIEWS.map((view) => (
          <a
            key={view.route}
            href={`#/${view.route}`}
            className={view.route === current ? 'active' : undefined}
            aria-current={view.route === current ? 'page' : undefined}
          >
            <span aria-hidden="true" className="rail-icon">
              {view.icon}
            </span>
            <span className="rail-label">{view.label}</span>
          </a>
        ))}
      </nav>
      <main className="canvas">
        <StorageBanner />
        <IncidentBanner profileId={primary?.profile.id ?? null} />
        {link.state === 'unauthorized' ? (
          <div className="empty-state" role="alert">
            <h1>This console needs its access token</h1>
            <p>{link.detail}</p>
            <p className="muted">
              The token is part of the address printed by <code>meshdeck serve</code> (after <code>#token=</code>).
            </p>
          </div>
        ) : current === 'topology' ? (
          <TopologyView primary={primary} onOpenConnections={() => navigate('connections')} />
        ) : current === 'broker' ? (
          <BrokerView primary={primary} onOpenConnections={() => navigate('connections')} />
        ) : current === 'incidents' ? (
          <IncidentsView profileId={primary && primary.state.status !== 'idle' && primary.state.status !== 'disconnected' ? primary.profile.id : null} />
        ) : current === 'traffic' ? (
          <TrafficView primary={primary} onOpenConnections={() => navigate('connections')} />
        ) : current === 'audit' ? (
          <AuditView profileId={primary && primary.state.status !== 'idle' && primary.state.status !== 'disconnected' ? primary.profile.id : null} />
        ) : current === 'events' ? (
          <EventsView />
        ) : current === 'settings' ? (
          <SettingsView />
        ) : (
          <ConnectionsView profiles={profiles} states={states} onOpenTopology={() => navigate('topology')} />
        )}
      </main>
    </div>
  );
}
