import { useEffect, useState } from 'react';
import type { FailoverTransitionInfo, InstanceInfo } from '../../../core/api/contract';
import { useApi } from '../api/hooks';
import {
  auditTransition,
  evidenceFacts,
  instanceTimeline,
  localClock,
  sparedSentence,
  transitionSentence,
  type InstanceCondition,
  type TimelineEntry,
} from '../failover-words';

interface Props {
  profileId: string;
  instance: InstanceInfo;
  condition: InstanceCondition;
  probe: { share: number; successesRequired: number } | null;
  /** The time the panel's data speaks for (the mesh summary's), so "back in 20 s" stays true. */
  now: number;
}

/**
 * Why an instance is in its state: the last automatic decision in one sentence, its raw evidence
 * (samples and thresholds) on demand, and the instance's registry and failover history.
 */
export function InstanceEvidence({ profileId, instance, condition, probe, now }: Props) {
  const t = instance.lastTransition ?? null;
  const options = { now, ...(probe ? { probeShare: probe.share, successesRequired: probe.successesRequired } : {}) };
  let sentence: string | null = null;
  if ((condition === 'ejected' || condition === 'probing') && t && t.to === condition) sentence = transitionSentence(t, options);
  else if (condition === 'down') sentence = `down — no heartbeat since ${localClock(instance.lastSeen)}; the registry takes it out of every endpoint set until it heartbeats again`;
  else if (condition === 'draining') sentence = 'draining — an operator took it out of rotation; in-flight requests finish, no new ones arrive';
  else if (t && t.to === 'healthy') sentence = transitionSentence(t, options);
  // Down and also held out by failover: both are true, say both.
  const also = condition === 'down' && t && t.to !== 'healthy' ? transitionSentence(t, options) : null;

  return (
    <div className={`instance-evidence evidence-${condition}`} data-testid="instance-evidence">
      {sentence && <p className="evidence-sentence">{sentence}</p>}
      {also && <p className="evidence-sentence">{also}</p>}
      {instance.spared && (
        <p className="evidence-sentence evidence-spared" data-testid="instance-spared">
          {sparedSentence(instance.spared)}
        </p>
      )}
      <div className="evidence-more">
        {t && <EvidenceDetails transition={t} />}
        <InstanceHistory profileId={profileId} instance={instance} now={now} />
        <a className="evidence-link" href={`#/traffic?service=${encodeURIComponent(instance.service)}&instance=${encodeURIComponent(instance.instanceId)}&range=15m`}>
          Traffic ›
        </a>
      </div>
    </div>
  );
}

function EvidenceDetails({ transition }: { transition: FailoverTransitionInfo }) {
  return (
    <details className="evidence-details" data-testid="evidence-details">
      <summary>Evidence</summary>
      <p className="muted">{transition.reason}</p>
      <dl className="facts compact-facts">
        {evidenceFacts(transition.evidence).map(([k, v]) => (
          <div key={k} className="fact">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <pre className="evidence-raw">{JSON.stringify(transition.evidence, null, 2)}</pre>
    </details>
  );
}

/** Loads only when opened: registry changes and automatic decisions of this instance. */
function InstanceHistory({ profileId, instance, now }: { profileId: string; instance: InstanceInfo; now: number }) {
  const api = useApi();
  const [open, setOpen] = useState(false);
  const [rows, setRows] = useState<TimelineEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { service, instanceId } = instance;
  const lastAt = instance.lastTransition?.at ?? 0;

  useEffect(() => {
    if (!open) return;
    let live = true;
    Promise.all([
      api.call('mesh.history', { profileId, service, instanceId, limit: 50 }),
      api.call('control.audit', { profileId, service, instanceId, origin: 'automatic', limit: 50 }),
    ]).then(
      ([registry, audit]) => {
        if (!live) return;
        const transitions = audit.entries.map(auditTransition).filter((x): x is FailoverTransitionInfo => x !== null);
        setRows(instanceTimeline(registry, transitions, { now }));
        setError(null);
      },
      (err: Error) => live && setError(err.message),
    );
    return () => {
      live = false;
    };
    // Reloaded when a new decision arrives, not on every tick of `now`.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, open, profileId, service, instanceId, lastAt, instance.state]);

  return (
    <details className="evidence-details" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)} data-testid="instance-history">
      <summary>History</summary>
      {error ? (
        <p className="error-box" role="alert">
          Could not load the history: {error}
        </p>
      ) : !rows ? (
        <p className="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="muted">Nothing recorded for this instance yet.</p>
      ) : (
        <ol className="history">
          {rows.map((r, n) => (
            <li key={`${r.at}-${n}`} data-source={r.source}>
              <span className={`history-source source-${r.source}`}>{r.source === 'failover' ? 'failover' : 'registry'}</span> {r.text}
            </li>
          ))}
        </ol>
      )}
    </details>
  );
}
