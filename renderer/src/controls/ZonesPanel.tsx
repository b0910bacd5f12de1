import { useEffect } from 'react';
import { useQuery } from '../api/hooks';
import { localClock } from '../failover-words';
import { formatPercent } from '../format';

interface Props {
  profileId: string;
  service: string;
  /** Refresh with every mesh summary. */
  at: number;
  onFailover: (zone: string) => void;
  onRestore: (zone: string) => void;
}

/** The fail-back ramp's steps above 0, as the core admits a recovering zone's traffic (0 → 25 → 50 → 75 → 100 %). */
const STEPS = [0.25, 0.5, 0.75, 1];

/**
 * Zones of a service: healthy instances, the share of traffic the endpoint sets admit (0 → 25 →
 * 50 → 75 → 100 % while a zone fails back), whether an operator failed it over; and the actions.
 */
export function ZonesPanel({ profileId, service, at, onFailover, onRestore }: Props) {
  const [query, reload] = useQuery('failover.zones', { profileId, service });
  useEffect(() => reload(), [at, reload]);

  if (query.state === 'error') return <p className="error-box" role="alert">Could not read the zones: {query.error.message}</p>;
  if (query.state === 'loading') return <p className="muted">Loading…</p>;
  const state = query.data;
  return (
    <>
      <table className="grid compact" data-testid="zones">
        <thead>
          <tr>
            <th>Zone</th>
            <th className="num">Healthy</th>
            <th>Admitted</th>
            <th>Act</th>
          </tr>
        </thead>
        <tbody>
          {state.zones.map((z) => {
            const status = z.failedOver ? 'failed over' : z.capped ? 'failing back' : 'serving';
            return (
              <tr key={z.zone} data-zone-row={z.zone} data-failed-over={z.failedOver} data-admitted={z.admitted.toFixed(2)}>
                <td>{z.zone}</td>
                <td className="num">
                  {z.healthy}/{z.total}
                </td>
                <td>
                  <span className="ramp" title={`admitted ${formatPercent(z.admitted)} of its traffic (real health ${formatPercent(z.health)})`}>
                    {STEPS.map((s) => (
                      <span key={s} className={`ramp-step${z.admitted >= s - 1e-9 ? ' on' : ''}`} />
                    ))}
                  </span>{' '}
                  <span className={z.failedOver ? 'text-failing' : z.capped ? 'text-degraded' : undefined}>
                    {formatPercent(z.admitted)} · {status}
                  </span>
                </td>
                <td className="row-actions">
                  {z.failedOver ? (
                    <button onClick={() => onRestore(z.zone)}>Restore…</button>
                  ) : (
                    <button onClick={() => onFailover(z.zone)}>Fail over…</button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {state.nextStepAt !== null && <p className="muted">Next fail-back step at {localClock(state.nextStepAt)}.</p>}
      {state.recent.length > 0 && (
        <p className="muted">
          Last change ({localClock(state.recent[state.recent.length - 1]!.at)}): {state.recent[state.recent.length - 1]!.reason}
        </p>
      )}
    </>
  );
}
