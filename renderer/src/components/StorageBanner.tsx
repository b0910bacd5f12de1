import { useTopic } from '../api/hooks';
import { ago } from '../format';

/**
 * Shown on every view while the console's database refuses writes (disk full, read-only, locked
 * by another process, I/O error): what is not being saved, since when, and what to do.
 */
export function StorageBanner() {
  const storage = useTopic('system.storage');
  if (!storage || storage.state === 'ok') return null;
  return (
    <div className="error-box storage-banner" role="alert" data-testid="storage-banner">
      <strong>Not saving to the database</strong>
      {storage.since !== null && <span className="muted"> for {ago(storage.since)}</span>}
      {storage.failures > 1 && <span className="muted"> · {storage.failures} failed writes</span>}
      <div>{storage.message}</div>
    </div>
  );
}
