import { useCallback, useEffect, useMemo, useState } from 'react';
import type { InstanceInfo } from '../../../core/api/contract';
import { joinLive, type LiveMesh } from '../../../core/api/mesh-live';
import { useApi, useHashParam, type LivePair } from '../api/hooks';
import { edgeHealth, formatMs, formatPercent, formatRate } from '../format';
import { filterGraph, type GraphFilter } from '../graph/filter';
import { edgeId } from '../graph/edge-panel';
import { buildLiveGraph, countsHealth } from '../graph/model';
import { useThrottled } from '../graph/use-layout';
import { HEALTH_ICON, TopologyGraph } from './TopologyGraph';

interface Props {
  /** The live mesh: its topology and the newest traffic frame of that revision. */
  live: LivePair;
  selected: string | null;
  select: (service: string | null) => void;
  /** The selected edge's graph id, and how to select one (null clears). */
  selectedEdge: string | null;
  selectEdge: (id: string | null) => void;
}

/** A comma-separated set kept in the URL (e.g. expanded services). */
function useHashSet(name: string): [Set<string>, (id: string) => void] {
  const [raw, setRaw] = useHashParam(name);
  const set = useMemo(() => new Set((raw ?? '').split(',').filter(Boolean)), [raw]);
  const toggle = useCallback(
    (id: string) => {
      const next = new Set(set);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      setRaw(next.size ? [...next].sort().join(',') : null);
    },
    [set, setRaw],
  );
  return [set, toggle];
}

/**
 * The picture of the mesh: the graph (default) or its tables, with filters (zone, health, text),
 * focus on a node's neighbourhood and expanded services, all in the URL so a view can be shared.
 * Re-renders at most once a second whatever the topic rate.
 */
export function TopologyPicture({ live, selected, select, selectedEdge, selectEdge }: Props) {
  const api = useApi();
  const { topology, traffic } = useThrottled(live, 1000);
  const profileId = topology.profileId;
  const [mode, setMode] = useHashParam('view');
  const [zone, setZone] = useHashParam('zone');
  const [health, setHealth] = useHashParam('health');
  const [text, setText] = useHashParam('q');
  const [focus, setFocus] = useHashParam('focus');
  const [hideEvents, setHideEvents] = useHashParam('events');
  const [animate, setAnimate] = useState(false);
  const [expanded, toggleExpanded] = useHashSet('expand');
  const [instances, setInstances] = useState<ReadonlyMap<string, InstanceInfo[]>>(new Map());

  // Instances of expanded services, refreshed with the (throttled) summary.
  const expandedKey = [...expanded].sort().join(',');
  useEffect(() => {
    const names = expandedKey ? expandedKey.split(',') : [];
    let live = true;
    Promise.all(names.map((service) => api.call('mesh.instances', { profileId, service }).then((list) => [service, list] as const, () => null))).then(
      (pairs) => live && setInstances(new Map(pairs.filter((p): p is readonly [string, InstanceInfo[]] => p !== null))),
    );
    return () => {
      live = false;
    };
  }, [api, profileId, traffic.at, expandedKey]);

  const filter: GraphFilter = { zone, health: health === 'problems' ? 'problems' : 'all', text: text ?? '', focus, events: hideEvents !== 'off' };
  // One pass over the traffic columns per update; what the topology revision fixes is built once.
  const model = useMemo(() => buildLiveGraph(topology, traffic, instances), [topology, traffic, instances]);
  const shown = useMemo(() => filterGraph(model, filter), [model, filter.zone, filter.health, filter.text, filter.focus, filter.events]); // eslint-disable-line react-hooks/exhaustive-deps
  const zones = useMemo(() => [...new Set(topology.services.flatMap((s) => s.zones))].sort(), [topology]);
  const table = mode === 'table';
  // The tables need every edge as an object: joined only while they are shown.
  const mesh = useMemo(() => (table ? joinLive(topology, traffic) : null), [table, topology, traffic]);

  return (
    <>
      <div className="graph-toolbar" role="toolbar" aria-label="Topology view">
        <div className="segmented" role="group" aria-label="Show as">
          <button aria-pressed={!table} onClick={() => setMode(null)}>
            Graph
          </button>
          <button aria-pressed={table} onClick={() => setMode('table')}>
            Table
          </button>
        </div>
        <label>
          <span className="visually-hidden">Zone</span>
          <select name="zone" value={zone ?? ''} onChange={(e) => setZone(e.target.value || null)}>
            <option value="">All zones</option>
            {zones.map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="visually-hidden">Health</span>
          <select name="health" value={health ?? ''} onChange={(e) => setHealth(e.target.value || null)}>
            <option value="">Any health</option>
            <option value="problems">Problems only</option>
          </select>
        </label>
        <input name="filter" type="search" placeholder="Filter services…" value={text ?? ''} onChange={(e) => setText(e.target.value || null)} aria-label="Filter services by name" />
        {!table && (
          <>
            <label className="check">
              <input type="checkbox" checked={hideEvents !== 'off'} onChange={(e) => setHideEvents(e.target.checked ? null : 'off')} /> Events
            </label>
            <label className="check">
              <input type="checkbox" name="animate" checked={animate} onChange={(e) => setAnimate(e.target.checked)} /> Animate traffic
            </label>
          </>
        )}
        {focus ? (
          <span className="pill pill-unknown focus-chip" data-testid="focus">
            Neighbourhood of {focus}
            <button className="link" onClick={() => setFocus(null)} aria-label="Show the whole mesh">
              ✕
            </button>
          </span>
        ) : (
          selected && (
            <button onClick={() => setFocus(selected)} title="Show only this service and its direct neighbours">
              Focus on {selected}
            </button>
          )
        )}
      </div>
      {shown.nodes.length === 0 ? (
        <div className="empty-state" data-testid="filter-empty">
          <h2>Nothing matches these filters</h2>
          <p>
            {model.nodes.length} services are hidden by the zone, health, text or focus filter.{' '}
            <button
              className="link"
              onClick={() => {
                setZone(null);
                setHealth(null);
                setText(null);
                setFocus(null);
              }}
            >
              Clear the filters
            </button>
          </p>
        </div>
      ) : mesh ? (
        <TopologyTables mesh={mesh} shown={new Set(shown.nodes.map((n) => n.id))} selected={selected} select={select} selectedEdge={selectedEdge} selectEdge={selectEdge} />
      ) : (
        <>
          <TopologyGraph
            model={shown}
            selected={selected}
            selectedEdge={selectedEdge}
            expanded={expanded}
            animate={animate}
            fitKey={`${zone}|${health}|${text}|${focus}|${hideEvents}`}
            onSelect={select}
            onSelectEdge={selectEdge}
            onToggleExpand={toggleExpanded}
          />
          <Legend />
        </>
      )}
    </>
  );
}

function Legend() {
  return (
    <p className="graph-legend muted" aria-label="Legend">
      <span className="text-healthy">● healthy</span> <span className="text-degraded">▲ degraded</span> <span className="text-failing">✕ failing</span>{' '}
      <span>○ no data</span> · edge width: requests/s (log) · colour: error rate · label: rps · errors · p99 · <span className="legend-event">- - events</span> ·{' '}
      <span className="legend-break">‖</span> circuit open · ⇶ gateway · ⊘ ejected (struck through) · ◐ draining (dashed) · + expands instances · click a service or an
      edge for its panel (Esc closes) · drag to pan, wheel to zoom
    </p>
  );
}

/** The same mesh as tables: services by zone, HTTP edges and event flows (the filtered services only). */
function TopologyTables({
  mesh,
  shown,
  selected,
  select,
  selectedEdge,
  selectEdge,
}: {
  mesh: LiveMesh;
  shown: ReadonlySet<string>;
  selected: string | null;
  select: (s: string | null) => void;
  selectedEdge: string | null;
  selectEdge: (id: string | null) => void;
}) {
  const zones = [...new Set(mesh.services.flatMap((s) => s.zones))].sort();
  const edges = mesh.edges.filter((e) => shown.has(e.from) && shown.has(e.to));
  const events = mesh.events.filter((f) => [...f.producers, ...f.consumers].some((p) => shown.has(p.service)));
  return (
    <>
      <section className="zones" aria-label="Services by zone">
        {zones.map((zone) => (
          <div className="zone" key={zone} data-zone={zone}>
            <h2>{zone}</h2>
            {mesh.services.flatMap((s) => {
              const here = s.byZone.find((z) => z.zone === zone);
              if (!here || !shown.has(s.name)) return [];
              const health = countsHealth({ instances: here.instances, healthy: here.healthy, ejected: here.ejected ?? 0, probing: here.probing ?? 0 });
              return [
                <button
                  type="button"
                  className={`service-chip chip-${health}${selected === s.name ? ' selected' : ''}`}
                  key={s.name}
                  data-service={s.name}
                  data-health={health}
                  aria-pressed={selected === s.name}
                  onClick={() => select(selected === s.name ? null : s.name)}
                >
                  <span aria-hidden="true">{HEALTH_ICON[health]}</span> {s.name}
                  <span className="chip-count">
                    {here.healthy}/{here.instances}
                    {here.ejected ? ` · ${here.ejected} ejected` : ''}
                    {here.draining ? ` · ${here.draining} draining` : ''}
                    {here.down ? ` · ${here.down} down` : ''}
                  </span>
                </button>,
              ];
            })}
          </div>
        ))}
      </section>

      <section className="card" aria-label="HTTP traffic">
        <h2>Traffic (last 10 s)</h2>
        {edges.length === 0 ? (
          <p className="muted">No requests between services in the last 10 seconds.</p>
        ) : (
          <table className="grid" data-testid="edges">
            <thead>
              <tr>
                <th>From</th>
                <th>To</th>
                <th className="num">Requests</th>
                <th className="num">Errors</th>
                <th className="num">p50</th>
                <th className="num">p99</th>
                <th>
                  <span className="visually-hidden">Panel</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {edges.map((e) => {
                const health = edgeHealth(e.errorRate, e.requests);
                const id = edgeId('http', e.from, e.to);
                return (
                  <tr key={id} data-edge={id} className={selectedEdge === id ? 'selected' : undefined}>
                    <td>{e.from}</td>
                    <td>
                      {e.to}
                      {e.circuit && e.circuit.state !== 'closed' ? (
                        <span
                          className={`pill circuit-pill ${e.circuit.state === 'open' ? 'pill-failing' : 'pill-degraded'}`}
                          data-circuit={e.circuit.state}
                          title={e.circuit.instances.map((i) => `${i.instanceId}: ${i.state}${i.manual ? ' (tripped)' : ''} — ${i.reason}`).join('\n')}
                        >
                          circuit {e.circuit.state}
                          {e.refused ? ` · ${e.refused} refused` : ''}
                        </span>
                      ) : null}
                    </td>
                    <td className="num">{formatRate(e.rps)}</td>
                    <td className={`num text-${health}`}>
                      <span aria-hidden="true">{HEALTH_ICON[health]}</span> {formatPercent(e.errorRate)}
                    </td>
                    <td className="num">{formatMs(e.p50)}</td>
                    <td className="num">{formatMs(e.p99)}</td>
                    <td>
                      <button className="link" aria-pressed={selectedEdge === id} aria-label={`Open the edge ${e.from} → ${e.to}`} onClick={() => selectEdge(selectedEdge === id ? null : id)}>
                        Edge ›
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>

      <section className="card" aria-label="Domain events">
        <h2>Events (last 10 s)</h2>
        {events.length === 0 ? (
          <p className="muted">No domain events reported in the last 10 seconds.</p>
        ) : (
          <table className="grid" data-testid="event-flows">
            <thead>
              <tr>
                <th>Event type</th>
                <th>Published by</th>
                <th>Consumed by</th>
              </tr>
            </thead>
            <tbody>
              {events.map((f) => (
                <tr key={f.type}>
                  <td className="mono">{f.type}</td>
                  <td>{f.producers.map((p) => `${p.service} (${formatRate(p.perSecond)})`).join(', ') || '—'}</td>
                  <td>{f.consumers.map((c) => `${c.service} (${formatRate(c.perSecond)}${c.failed ? `, ${c.failed} failed` : ''})`).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
