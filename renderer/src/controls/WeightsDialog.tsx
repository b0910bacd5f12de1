import { useMemo, useState } from 'react';
import type { InstanceInfo } from '../../../core/api/contract';
import { formatPercent } from '../format';
import { ActionDialog } from '../views/ActionDialog';
import { nothingServes, trafficSplit } from './split';

interface Props {
  profileId: string;
  service: string;
  instances: InstanceInfo[];
  /** The instance to weigh first; absent: every instance of the service. */
  instanceId?: string;
  onClose: () => void;
}

const MAX_WEIGHT = 10_000;

/**
 * Set-weight with the resulting traffic split shown live: pick an instance (or all), move the
 * slider, see each instance's share now → after as bars; then the usual blast radius, reason,
 * confirm, acks and undo of ActionDialog.
 */
export function WeightsDialog({ profileId, service, instances, instanceId, onClose }: Props) {
  const [scope, setScope] = useState<string>(instanceId ?? '');
  const current = instances.find((i) => i.instanceId === scope);
  const [weight, setWeight] = useState<number>(current?.weight ?? instances[0]?.weight ?? 100);
  const target = useMemo(() => (scope ? { service, instanceId: scope } : { service }), [service, scope]);
  const action = useMemo(() => ({ action: 'set-weight' as const, weight }), [weight]);
  const rows = trafficSplit(instances, { ...(scope ? { instanceId: scope } : {}), weight });
  const sliderMax = Math.min(MAX_WEIGHT, Math.max(200, ...instances.map((i) => i.weight * 4)));
  const invalid = !Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT ? `A weight is a whole number from 0 to ${MAX_WEIGHT}.` : null;

  const editor = (
    <div className="weights-editor" data-testid="weights-editor">
      <div className="field-row">
        <label className="field">
          <span className="field-label">Instance</span>
          <select
            name="weight-scope"
            value={scope}
            onChange={(e) => {
              setScope(e.target.value);
              setWeight(instances.find((i) => i.instanceId === e.target.value)?.weight ?? weight);
            }}
          >
            <option value="">every instance of {service}</option>
            {instances.map((i) => (
              <option key={i.instanceId} value={i.instanceId}>
                {i.instanceId} ({i.zone})
              </option>
            ))}
          </select>
        </label>
        <label className="field weight-number">
          <span className="field-label">Weight</span>
          <input name="weight" type="number" min={0} max={MAX_WEIGHT} value={weight} onChange={(e) => setWeight(Number(e.target.value))} />
        </label>
      </div>
      <input
        className="weight-slider"
        name="weight-slider"
        type="range"
        min={0}
        max={Math.max(sliderMax, weight)}
        step={1}
        value={weight}
        aria-label={`Weight of ${scope || `every instance of ${service}`}`}
        onChange={(e) => setWeight(Number(e.target.value))}
      />
      <table className="grid compact split-table" data-testid="traffic-split">
        <thead>
          <tr>
            <th>Instance</th>
            <th className="num">Weight</th>
            <th className="num">Now</th>
            <th className="split-bar-cell">After</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.instanceId} data-split={r.instanceId} data-share={r.shareAfter.toFixed(4)} className={r.changed ? 'split-changed' : undefined}>
              <td className="mono">
                {r.instanceId}
                {!r.serving && <span className="muted"> · no traffic</span>}
              </td>
              <td className="num">{r.changed ? `${r.weightBefore} → ${r.weightAfter}` : r.weightAfter}</td>
              <td className="num">{formatPercent(r.shareBefore)}</td>
              <td className="split-bar-cell">
                <span className="split-bar" aria-hidden="true">
                  <span className="split-fill" style={{ width: `${(r.shareAfter * 100).toFixed(1)}%` }} />
                </span>
                <span className="split-value">{formatPercent(r.shareAfter)}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="field-hint">Split by weight among instances that take traffic; callers still prefer their own zone.</p>
      {nothingServes(rows) && (
        <p className="warning" role="alert">
          ⚠ No instance of {service} would take traffic.
        </p>
      )}
    </div>
  );

  return (
    <ActionDialog
      profileId={profileId}
      target={target}
      action={action}
      title={`Weights of ${service}`}
      onClose={onClose}
      editor={editor}
      invalid={invalid}
    />
  );
}
