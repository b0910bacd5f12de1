import type { ConnectionState, ConnectionStatus } from '../../core/api/contract';

export type Health = 'healthy' | 'degraded' | 'failing' | 'unknown';

export const STATUS_META: Record<ConnectionStatus, { label: string; health: Health; icon: string }> = {
  idle: { label: 'Not connected', health: 'unknown', icon: '○' },
  connecting: { label: 'Connecting', health: 'degraded', icon: '◌' },
  connected: { label: 'Connected', health: 'healthy', icon: '●' },
  blocked: { label: 'Blocked by broker', health: 'degraded', icon: '⏸' },
  reconnecting: { label: 'Reconnecting', health: 'degraded', icon: '↻' },
  failed: { label: 'Failed', health: 'failing', icon: '✕' },
  disconnected: { label: 'Disconnected', health: 'unknown', icon: '○' },
};

export function statusText(state: ConnectionState): string {
  const meta = STATUS_META[state.status];
  if (state.status === 'reconnecting') return `${meta.label} · attempt ${state.attempt}`;
  return meta.label;
}

export function ago(ms: number, now = Date.now()): string {
  if (!ms) return '';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(1)}k/s`;
  if (perSecond >= 10) return `${Math.round(perSecond)}/s`;
  return `${perSecond.toFixed(1)}/s`;
}

export function formatPercent(share: number): string {
  const pct = share * 100;
  if (pct === 0) return '0 %';
  if (pct < 0.1) return '<0.1 %';
  return `${pct < 10 ? pct.toFixed(1) : Math.round(pct)} %`;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Kiali's defaults: ≥ 0.1 % failing requests is degraded, ≥ 10 % is failing. */
export function edgeHealth(errorRate: number, requests: number): Health {
  if (requests === 0) return 'unknown';
  if (errorRate >= 0.1) return 'failing';
  if (errorRate >= 0.001) return 'degraded';
  return 'healthy';
}
