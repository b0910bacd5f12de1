import { useMemo, useState } from 'react';
import { ActionDialog } from '../views/ActionDialog';

interface Props {
  profileId: string;
  service: string;
  onClose: () => void;
}

/** A fault drill: delay or abort a share of the service's requests for a while; undo clears it. */
export function FaultDialog({ profileId, service, onClose }: Props) {
  const [mode, setMode] = useState<'abort' | 'delay'>('abort');
  const [percent, setPercent] = useState(10);
  const [seconds, setSeconds] = useState(60);
  const [status, setStatus] = useState(503);
  const [delayMs, setDelayMs] = useState(500);
  const target = useMemo(() => ({ service }), [service]);
  const action = useMemo(
    () => ({
      action: 'fault' as const,
      fault: { share: percent / 100, durationMs: Math.round(seconds * 1000), ...(mode === 'abort' ? { abortStatus: status, delayMs: 0 } : { delayMs }) },
    }),
    [mode, percent, seconds, status, delayMs],
  );
  const invalid =
    !(percent > 0 && percent <= 100)
      ? 'The share is a percentage above 0 and at most 100.'
      : !(seconds >= 1 && seconds <= 3600)
        ? 'The duration is 1 to 3 600 seconds.'
        : mode === 'abort' && !(Number.isInteger(status) && status >= 400 && status <= 599)
          ? 'An abort answers with an HTTP status from 400 to 599.'
          : mode === 'delay' && !(delayMs > 0)
            ? 'A delay is more than 0 ms.'
            : null;

  const editor = (
    <div className="fault-editor" data-testid="fault-editor">
      <div className="field-row">
        <label className="field">
          <span className="field-label">Fault</span>
          <select name="fault-mode" value={mode} onChange={(e) => setMode(e.target.value as 'abort' | 'delay')}>
            <option value="abort">abort with a status</option>
            <option value="delay">delay</option>
          </select>
        </label>
        {mode === 'abort' ? (
          <label className="field">
            <span className="field-label">Status</span>
            <input name="fault-status" type="number" min={400} max={599} value={status} onChange={(e) => setStatus(Number(e.target.value))} />
          </label>
        ) : (
          <label className="field">
            <span className="field-label">Delay (ms)</span>
            <input name="fault-delay" type="number" min={1} value={delayMs} onChange={(e) => setDelayMs(Number(e.target.value))} />
          </label>
        )}
      </div>
      <div className="field-row">
        <label className="field">
          <span className="field-label">Share of requests (%)</span>
          <input name="fault-share" type="number" min={1} max={100} value={percent} onChange={(e) => setPercent(Number(e.target.value))} />
        </label>
        <label className="field">
          <span className="field-label">Duration (s)</span>
          <input name="fault-duration" type="number" min={1} max={3600} value={seconds} onChange={(e) => setSeconds(Number(e.target.value))} />
        </label>
      </div>
    </div>
  );

  return <ActionDialog profileId={profileId} target={target} action={action} title={`Fault drill on ${service}`} onClose={onClose} editor={editor} invalid={invalid} />;
}
