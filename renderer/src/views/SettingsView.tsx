import { useQuery } from '../api/hooks';

export function SettingsView() {
  const [info, reload] = useQuery('system.info', {});
  return (
    <div className="view">
      <div className="view-header">
        <h1>Settings</h1>
      </div>
      <section className="card">
        <h2>About this console</h2>
        {info.state === 'loading' && <p className="muted">Loading…</p>}
        {info.state === 'error' && (
          <p className="error-box" role="alert">
            {info.error.message} <button onClick={reload}>Retry</button>
          </p>
        )}
        {info.state === 'ready' && (
          <dl className="facts" data-testid="about">
            <dt>Version</dt>
            <dd>
              {info.data.product} {info.data.version} ({info.data.host}, Node {info.data.node})
            </dd>
            <dt>Database</dt>
            <dd className="mono">{info.data.databasePath}</dd>
            <dt>Schema version</dt>
            <dd>
              {info.data.schemaVersion} ({info.data.migrations.map((m) => m.name).join(', ')})
            </dd>
            <dt>Secrets</dt>
            <dd>{info.data.secretStore.detail}</dd>
            <dt>Theme</dt>
            <dd>Follows the system setting (dark or light)</dd>
          </dl>
        )}
      </section>
    </div>
  );
}
