import { useMemo, useSyncExternalStore } from 'react';
import type { TailEvent, TailEventKind, TailEventLevel } from '../../../core/api/contract';
import type { ApiClient } from '../api/client';
import { useApi, useHashParam } from '../api/hooks';
import { TailStore, filterEvents } from './tail-store';

/** Every kind, labelled (the Record keeps this list complete when the contract grows). */
export const KIND_LABELS: Record<TailEventKind, string> = {
  registry: 'Registry',
  failover: 'Failover',
  control: 'Actions',
  ack: 'Acks',
  signal: 'Signals',
  incident: 'Incidents',
  leadership: 'Leadership',
  flow: 'Flows',
  connection: 'Broker',
  storage: 'Storage',
};
const KINDS = Object.keys(KIND_LABELS) as TailEventKind[];
const LEVEL_META: Record<TailEventLevel, { icon: string; label: string; className: string }> = {
  info: { icon: '●', label: 'info', className: 'text-unknown' },
  warning: { icon: '▲', label: 'warning', className: 'text-degraded' },
  critical: { icon: '✖', label: 'critical', className: 'text-failing' },
};
/** Rows drawn at once; the ring keeps more, the filters reach them. */
const MAX_ROWS = 500;

const stores = new WeakMap<ApiClient, TailStore>();

/** The tail of this console session: subscribed on first use and kept while the console is open. */
export function tailStoreFor(api: ApiClient): TailStore {
  let store = stores.get(api);
  if (!store) {
    const created = new TailStore();
    api.subscribe('events.tail', (batch) => created.ingest(batch));
    stores.set(api, created);
    store = created;
  }
  return store;
}

export function useTail(): TailStore {
  return tailStoreFor(useApi());
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
function clock(at: number): string {
  const d = new Date(at);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function EventsView() {
  const store = useTail();
  const snap = useSyncExternalStore(
    (onChange) => store.onChange(onChange),
    () => store.read(),
  );
  const [kindParam, setKindParam] = useHashParam('kind');
  const [service, setService] = useHashParam('service');
  const [text, setText] = useHashParam('q');
  const kinds = useMemo(() => new Set((kindParam ?? '').split(',').filter((k): k is TailEventKind => k in KIND_LABELS)), [kindParam]);
  const shown = useMemo(() => filterEvents(snap.events, { kinds, service: service ?? '', text: text ?? '' }), [snap.events, kinds, service, text]);
  const services = useMemo(() => [...new Set(snap.events.flatMap((e) => (e.service ? [e.service] : [])).concat(service ? [service] : []))].sort(), [snap.events, service]);
  const filtered = kinds.size > 0 || Boolean(service) || Boolean(text);

  const toggleKind = (kind: TailEventKind) => {
    const next = new Set(kinds);
    if (next.has(kind)) next.delete(kind);
    else next.add(kind);
    setKindParam(next.size ? KINDS.filter((k) => next.has(k)).join(',') : null);
  };
  const clearFilters = () => {
    setKindParam(null);
    setService(null);
    setText(null);
  };

  return (
    <section className="events-view" data-testid="events-view" aria-labelledby="events-title">
      <div className="view-header">
        <h1 id="events-title">Events</h1>
        {snap.paused ? (
          <span className="pill pill-degraded" data-testid="events-status" role="status">
            <span className="pill-icon" aria-hidden="true">
              ❚❚
            </span>
            Paused · <span data-testid="events-held">{snap.held.toLocaleString()}</span> held back
          </span>
        ) : (
          <span className="pill pill-healthy" data-testid="events-status" role="status">
            <span className="pill-icon" aria-hidden="true">
              ▸
            </span>
            Live
          </span>
        )}
        <span className="muted">
          {snap.events.length.toLocaleString()} kept (newest {store.capacity.toLocaleString()} at most)
        </span>
        <span className="spacer" />
        <button onClick={() => (snap.paused ? store.resume() : store.pause())}>
          {snap.paused ? 'Resume' : 'Pause'}
        </button>
        <button onClick={() => store.clear()}>Clear</button>
      </div>
      <div className="events-toolbar">
        <div className="kind-filters" role="group" aria-label="Kinds">
          {KINDS.map((kind) => (
            <button key={kind} className="kind-chip" aria-pressed={kinds.has(kind)} data-kind={kind} onClick={() => toggleKind(kind)}>
              {KIND_LABELS[kind]}
            </button>
          ))}
        </div>
        <select aria-label="Service" value={service ?? ''} onChange={(e) => setService(e.target.value || null)}>
          <option value="">All services</option>
          {services.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <input type="search" aria-label="Filter events" placeholder="Filter: text, instance, actor…" value={text ?? ''} onChange={(e) => setText(e.target.value || null)} />
        {filtered && (
          <button className="link" onClick={clearFilters}>
            Clear filters
          </button>
        )}
      </div>
      {snap.missed > 0 && (
        <p className="warning" role="status">
          ⚠ {snap.missed.toLocaleString()} events were not received (the console link fell behind, or more arrived while paused than can be held).
        </p>
      )}
      {snap.events.length === 0 ? (
        <div className="empty-state" data-testid="events-empty">
          <h2>{snap.received === 0 ? 'Waiting for events' : 'Cleared'}</h2>
          <p>
            Registry changes, failover decisions, operator actions and their acknowledgements, incidents, new event flows and broker or
            storage changes appear here as they happen, newest first.
          </p>
          <p className="muted">Nothing yet? Connect a broker profile, start services behind a sidecar, or run the demo (`meshdeck demo`).</p>
        </div>
      ) : shown.length === 0 ? (
        <div className="empty-state" data-testid="events-none-match">
          <h2>No events match these filters</h2>
          <p>
            {snap.events.length.toLocaleString()} events are kept. <button className="link" onClick={clearFilters}>Clear filters</button>
          </p>
        </div>
      ) : (
        <>
          <table className="grid compact events-table" aria-label="Events, newest first">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Level</th>
                <th scope="col">Kind</th>
                <th scope="col">Service / instance</th>
                <th scope="col">What happened</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {shown.slice(0, MAX_ROWS).map((e) => (
                <EventRow key={e.seq} event={e} />
              ))}
            </tbody>
          </table>
          {shown.length > MAX_ROWS && (
            <p className="muted">
              Showing the newest {MAX_ROWS} of {shown.length.toLocaleString()} matching events; narrow the filters to see older ones.
            </p>
          )}
        </>
      )}
    </section>
  );
}

function EventRow({ event: e }: { event: TailEvent }) {
  const level = LEVEL_META[e.level];
  return (
    <tr data-kind={e.kind} data-seq={e.seq} data-level={e.level}>
      <td className="mono nowrap" title={new Date(e.at).toISOString()}>
        {clock(e.at)}
      </td>
      <td className={`nowrap ${level.className}`}>
        <span aria-hidden="true">{level.icon}</span> {level.label}
      </td>
      <td className="nowrap">{KIND_LABELS[e.kind]}</td>
      <td className="mono">
        {e.service ?? <span className="muted">—</span>}
        {e.instanceId && e.instanceId !== e.service ? <span className="muted"> / {e.instanceId}</span> : null}
      </td>
      <td className="event-text">{e.text}</td>
      <td className="muted">{e.actor ?? ''}</td>
    </tr>
  );
}
