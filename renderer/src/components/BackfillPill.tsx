import { useTopic } from '../api/hooks';
import { backfillText } from '../backfill';

/** Shown in the top bar while the profile's telemetry consumer is reading history it missed. */
export function BackfillPill({ profileId }: { profileId: string | undefined }) {
  // From the compact per-second topic: the pill is in the top bar of every view.
  const ingest = useTopic('mesh.traffic')?.find((s) => s.profileId === profileId)?.ingest;
  if (!ingest || ingest.state !== 'backfilling') return null;
  return (
    <span className="pill pill-degraded" role="status" data-testid="telemetry-backfill" data-behind={ingest.behind ?? undefined}>
      <span aria-hidden="true" className="pill-icon">
        ⟲
      </span>
      {backfillText(ingest)}
    </span>
  );
}
