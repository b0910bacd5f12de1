import { useState } from 'react';
import type { ConnectionState, Profile } from '../../../core/api/contract';
import { useApi } from '../api/hooks';
import { StatusPill } from '../components/StatusPill';
import { ago } from '../format';
import { ProfileForm } from './ProfileForm';

interface Props {
  profiles: Profile[] | undefined;
  states: ConnectionState[] | undefined;
  onOpenTopology: () => void;
}

type Editor = { mode: 'new'; prefill?: Record<string, string> } | { mode: 'edit'; profile: Profile } | null;

export function ConnectionsView({ profiles, states, onOpenTopology }: Props) {
  const [editor, setEditor] = useState<Editor>(null);

  if (!profiles || !states) {
    return (
      <div className="empty-state" aria-busy="true">
        <p className="muted">Loading connection profiles…</p>
      </div>
    );
  }
  const stateOf = (id: string) => states.find((s) => s.profileId === id);
  const anyConnected = states.some((s) => s.status === 'connected' || s.status === 'blocked');

  return (
    <div className="view connections">
      <div className="view-header">
        <h1>Connections</h1>
        <span className="spacer" />
        <button className="primary" onClick={() => setEditor({ mode: 'new' })}>
          Add profile
        </button>
      </div>
      {anyConnected && (
        <p className="hint-line">
          Connected. <button className="link" onClick={onOpenTopology}>Open the mesh view →</button>
        </p>
      )}
      <div className="split">
        <div className="profile-list">
          {profiles.length === 0 ? (
            <div className="empty-state">
              <h2>No broker yet</h2>
              <p>Meshdeck watches and steers a mesh through its RabbitMQ broker. Add the broker to begin.</p>
              <button
                className="primary"
                onClick={() => setEditor({ mode: 'new', prefill: { name: 'local', url: 'amqp://127.0.0.1:5672', username: 'guest', password: 'guest' } })}
              >
                Add the local broker (127.0.0.1:5672)
              </button>
            </div>
          ) : (
            profiles.map((profile) => (
              <ProfileCard
                key={profile.id}
                profile={profile}
                state={stateOf(profile.id)}
                onEdit={() => setEditor({ mode: 'edit', profile })}
              />
            ))
          )}
        </div>
        {editor && (
          <aside className="side-panel">
            <ProfileForm
              key={editor.mode === 'edit' ? editor.profile.id : 'new'}
              profile={editor.mode === 'edit' ? editor.profile : undefined}
              prefill={editor.mode === 'new' ? editor.prefill : undefined}
              onDone={() => setEditor(null)}
              onCancel={() => setEditor(null)}
            />
          </aside>
        )}
      </div>
    </div>
  );
}

function ProfileCard({ profile, state, onEdit }: { profile: Profile; state: ConnectionState | undefined; onEdit: () => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const live = state && ['connecting', 'connected', 'blocked', 'reconnecting'].includes(state.status);

  const run = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setMessage(null);
    try {
      await action();
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  const test = () =>
    run(async () => {
      const result = await api.call('profiles.test', { id: profile.id });
      setMessage(result.ok ? { ok: true, text: `Broker reachable: handshake done in ${result.latencyMs} ms` } : { ok: false, text: `Broker refused: ${result.error}` });
    });

  return (
    <article className="card profile-card" data-profile={profile.name} aria-label={`Profile ${profile.name}`}>
      <header className="card-header">
        <h2>{profile.name}</h2>
        {profile.warnings && profile.warnings.length > 0 && (
          <span className="badge-insecure" title={profile.warnings.join('\n')} data-testid="insecure-badge">
            ⚠ {profile.tls.enabled ? 'Not verified' : 'Unencrypted'}
          </span>
        )}
        {state && <StatusPill state={state} />}
      </header>
      <dl className="facts">
        <dt>URL</dt>
        <dd className="mono">{profile.url}</dd>
        <dt>Virtual host</dt>
        <dd className="mono">{profile.vhost}</dd>
        <dt>User</dt>
        <dd className="mono">{profile.username || '—'}</dd>
        <dt>Password</dt>
        <dd>
          {profile.passwordStorage === 'encrypted'
            ? 'saved, encrypted'
            : profile.passwordStorage === 'session'
              ? 'kept in memory for this session'
              : 'none'}
        </dd>
        {profile.tls.enabled && (
          <>
            <dt>TLS</dt>
            <dd>{profile.tls.verify ? 'on, server verified' : <span className="warning-inline">⚠ on, server NOT verified</span>}</dd>
          </>
        )}
        {profile.source === 'cli' && (
          <>
            <dt>Source</dt>
            <dd>command line (read-only)</dd>
          </>
        )}
        {state?.connectedAt ? (
          <>
            <dt>Since</dt>
            <dd>{ago(state.connectedAt)}</dd>
          </>
        ) : null}
      </dl>
      {state?.error && state.status !== 'connected' && (
        <p className="error-box broker-error" role="alert" data-testid="broker-error">
          {state.errorCode && !state.error.includes(state.errorCode) ? <strong>{state.errorCode}: </strong> : null}
          {state.error}
        </p>
      )}
      {profile.warnings?.map((warning) => (
        <p key={warning} className="warning" role="note" data-testid="security-warning">
          ⚠ {warning}
        </p>
      ))}
      {state?.blockedReason && (
        <p className="warning" role="alert">
          Broker blocked publishing: {state.blockedReason}
        </p>
      )}
      {message && (
        <p className={message.ok ? 'ok-box' : 'error-box'} role="status">
          {message.text}
        </p>
      )}
      <div className="actions">
        {live ? (
          <button disabled={busy} onClick={() => run(() => api.call('connections.disconnect', { profileId: profile.id }))}>
            Disconnect
          </button>
        ) : (
          <button className="primary" disabled={busy} onClick={() => run(() => api.call('connections.connect', { profileId: profile.id }))}>
            Connect
          </button>
        )}
        <button disabled={busy} onClick={test}>
          Test
        </button>
        {profile.source === 'saved' && (
          <>
            <button disabled={busy} onClick={onEdit}>
              Edit
            </button>
            {confirmDelete ? (
              <>
                <button className="danger" disabled={busy} onClick={() => run(() => api.call('profiles.delete', { id: profile.id }))}>
                  Delete {profile.name}
                </button>
                <button onClick={() => setConfirmDelete(false)}>Keep</button>
              </>
            ) : (
              <button disabled={busy} onClick={() => setConfirmDelete(true)}>
                Delete…
              </button>
            )}
          </>
        )}
      </div>
    </article>
  );
}
