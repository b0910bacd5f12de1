import { useEffect, useMemo, useState } from 'react';
import { Area, AreaChart, Brush, CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { MethodOutput } from '../../../core/api/contract';
import { useApi } from '../api/hooks';
import { formatMs, formatRate } from '../format';
import { brushWindow, chartState, seriesQuery, summarize, targetLabel, tickFormatter, timeWindow, type RangeId, type TrafficTarget } from '../traffic/series';

type Series = MethodOutput<'telemetry.series'>;
type Query = { state: 'loading' } | { state: 'error'; error: Error } | { state: 'ready'; data: Series };

interface Props {
  profileId: string;
  target: TrafficTarget;
  range: RangeId;
  /** A zoomed or shared window; wins over the range. */
  window?: { start: number | null; end: number | null };
  /** Smaller, for the side panel: no brush. */
  compact?: boolean;
  onZoom?: (window: { start: number; end: number }) => void;
}

const COLORS = { rps: '#4f86e8', errors: '#e05555', p50: '#3aa86b', p95: '#d99a2b', p99: '#d9534f' };
const LIVE_REFRESH_MS = 1000;

/**
 * Requests/s, error % and p50/p95/p99 of a service, an edge or an instance. Live: the last five
 * minutes, refreshed every second, never animated. Past windows: queried once; brush to select
 * and zoom. Loading, error and no-data states say what is going on and what to do.
 */
export function TrafficChart({ profileId, target, range, window: explicit, compact = false, onZoom }: Props) {
  const api = useApi();
  const [query, setQuery] = useState<Query>({ state: 'loading' });
  const [generation, setGeneration] = useState(0);
  const live = range === 'live' && !(explicit?.start != null && explicit.end != null);
  const targetKey = JSON.stringify(target);
  const explicitStart = explicit?.start ?? null;
  const explicitEnd = explicit?.end ?? null;
  // A brush selection belongs to one query: a new target or window starts without one.
  const queryKey = `${targetKey}|${range}|${explicitStart}|${explicitEnd}|${generation}`;
  const [brushed, setBrushed] = useState<{ key: string; startIndex: number; endIndex: number } | null>(null);
  const brush = brushed?.key === queryKey ? brushed : null;

  useEffect(() => {
    let active = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const parsed = JSON.parse(targetKey) as TrafficTarget;
    const load = (first: boolean) => {
      if (first) setQuery({ state: 'loading' });
      const now = Date.now();
      const w = timeWindow(range, now, { start: explicitStart, end: explicitEnd });
      api.call('telemetry.series', seriesQuery(profileId, parsed, w, now)).then(
        (data) => active && setQuery({ state: 'ready', data }),
        (error: Error) => active && setQuery({ state: 'error', error }),
      );
      if (live) timer = setTimeout(() => active && load(false), LIVE_REFRESH_MS);
    };
    load(true);
    return () => {
      active = false;
      if (timer) clearTimeout(timer);
    };
  }, [api, profileId, targetKey, range, explicitStart, explicitEnd, live, generation]);

  const state = useMemo(() => chartState(query), [query]);
  const label = targetLabel(target);

  if (state.state !== 'ready') {
    return (
      <div className={`chart-state${compact ? ' compact' : ''}`} data-testid="chart-state" data-state={state.state} role={state.state === 'error' ? 'alert' : 'status'}>
        {state.state === 'loading' ? (
          <p className="muted">Loading traffic of {label}…</p>
        ) : state.state === 'error' ? (
          <>
            <p className="error-box">Could not load the traffic of {label}: {state.message}</p>
            <button onClick={() => setGeneration((g) => g + 1)}>Try again</button>
          </>
        ) : state.reason === 'never' ? (
          <>
            <p>
              <strong>No traffic recorded for {label}.</strong>
            </p>
            <p className="muted">Meshdeck records telemetry from the moment this console sees it. Send requests through the mesh, or pick another service or edge.</p>
          </>
        ) : (
          <>
            <p>
              <strong>No requests to {label} in this window.</strong>
            </p>
            <p className="muted">Traffic was recorded at other times: pick a longer range{live ? '' : ' or go live'}.</p>
          </>
        )}
      </div>
    );
  }

  const rows = state.rows;
  const span = rows.length ? rows[rows.length - 1]!.t - rows[0]!.t + state.stepMs : 0;
  const tick = tickFormatter(span);
  const shown = brush && !compact ? rows.slice(Math.min(brush.startIndex, brush.endIndex), Math.max(brush.startIndex, brush.endIndex) + 1) : rows;
  const sum = summarize(shown);
  const zoom = brush ? brushWindow(rows, brush.startIndex, brush.endIndex, state.stepMs) : null;
  const height = compact ? 90 : 150;
  const common = { data: shown, syncId: `traffic-${compact ? 'c' : 'm'}`, margin: { top: 6, right: 12, bottom: 0, left: 0 } };
  const xAxis = <XAxis dataKey="t" type="number" domain={['dataMin', 'dataMax']} scale="time" tickFormatter={tick} minTickGap={40} />;
  const tooltipLabel = (t: unknown) => new Date(Number(t)).toLocaleString();

  return (
    <div className={`traffic-chart${compact ? ' compact' : ''}`} data-testid="traffic-chart" data-state="ready" data-resolution={state.resolution} data-points={rows.length}>
      <p className="chart-summary">
        <span>
          <strong>{formatRate(sum.rps)}</strong> <span className="muted">mean</span>
        </span>
        <span>
          <strong>{sum.errorPct === null ? '—' : `${sum.errorPct.toFixed(sum.errorPct < 10 ? 1 : 0)} %`}</strong> <span className="muted">errors</span>
        </span>
        <span>
          <strong>{formatMs(sum.p99)}</strong> <span className="muted">worst p99</span>
        </span>
        <span className="muted">
          {live ? 'live · ' : ''}
          {state.resolution} points
        </span>
        {zoom && onZoom && (
          <button className="link" onClick={() => onZoom(zoom)}>
            Zoom to {tick(zoom.start)}–{tick(zoom.end)}
          </button>
        )}
      </p>
      <h3 className="chart-title">Requests/s</h3>
      <ResponsiveContainer width="100%" height={height}>
        <AreaChart {...common}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          {xAxis}
          <YAxis width={48} tickFormatter={(v: number) => formatRate(v).replace('/s', '')} />
          <Tooltip labelFormatter={tooltipLabel} formatter={(v) => formatRate(Number(v))} isAnimationActive={false} />
          <Area type="monotone" dataKey="rps" name="requests/s" stroke={COLORS.rps} fill={COLORS.rps} fillOpacity={0.18} isAnimationActive={false} dot={false} />
        </AreaChart>
      </ResponsiveContainer>
      <h3 className="chart-title">Errors %</h3>
      <ResponsiveContainer width="100%" height={height}>
        <LineChart {...common}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          {xAxis}
          <YAxis width={48} domain={[0, (max: number) => Math.max(1, Math.ceil(max))]} unit=" %" />
          <Tooltip labelFormatter={tooltipLabel} formatter={(v) => (v == null ? '—' : `${Number(v).toFixed(2)} %`)} isAnimationActive={false} />
          <Line type="monotone" dataKey="errorPct" name="errors" stroke={COLORS.errors} isAnimationActive={false} dot={false} connectNulls={false} />
        </LineChart>
      </ResponsiveContainer>
      <h3 className="chart-title">Latency p50 / p95 / p99</h3>
      <ResponsiveContainer width="100%" height={height + (compact ? 0 : 40)}>
        <LineChart {...common} data={compact ? shown : rows}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          {xAxis}
          <YAxis width={52} tickFormatter={(v: number) => (v >= 1000 ? `${+(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`)} />
          <Tooltip labelFormatter={tooltipLabel} formatter={(v) => (v == null ? '—' : formatMs(Number(v)))} isAnimationActive={false} />
          <Line type="monotone" dataKey="p50" name="p50" stroke={COLORS.p50} isAnimationActive={false} dot={false} />
          <Line type="monotone" dataKey="p95" name="p95" stroke={COLORS.p95} isAnimationActive={false} dot={false} />
          <Line type="monotone" dataKey="p99" name="p99" stroke={COLORS.p99} isAnimationActive={false} dot={false} />
          {!compact && (
            <Brush
              dataKey="t"
              height={26}
              travellerWidth={8}
              tickFormatter={tick}
              startIndex={brush?.startIndex}
              endIndex={brush?.endIndex}
              onChange={(r: { startIndex?: number; endIndex?: number }) => {
                if (r.startIndex !== undefined && r.endIndex !== undefined) setBrushed({ key: queryKey, startIndex: r.startIndex, endIndex: r.endIndex });
              }}
            />
          )}
        </LineChart>
      </ResponsiveContainer>
      <p className="chart-legend muted">
        <span style={{ color: COLORS.p50 }}>— p50</span> <span style={{ color: COLORS.p95 }}>— p95</span> <span style={{ color: COLORS.p99 }}>— p99</span>
        {!compact && ' · drag the handles under the latency chart to select a window'}
      </p>
    </div>
  );
}

