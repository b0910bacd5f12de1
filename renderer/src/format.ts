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
