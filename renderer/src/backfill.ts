import type { TelemetryIngest } from '../../core/api/contract';
import { formatRate } from './format';

/** "3 min 20 s", "45 s", "2 h 5 min": the time left to catch up. */
export function formatEta(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** One line on a backfill in progress: messages behind, how old the data being read is, the time left. */
export function backfillText(ingest: TelemetryIngest): string {
  const parts = [`${(ingest.behind ?? 0).toLocaleString('en-US')} messages behind`];
  if (ingest.lagMs !== null) parts.push(`reading data from ${formatEta(ingest.lagMs / 1000)} ago`);
  if (ingest.processedPerSecond > 0) parts.push(formatRate(ingest.processedPerSecond));
  parts.push(ingest.etaSeconds === null ? 'not gaining yet' : `about ${formatEta(ingest.etaSeconds)} left`);
  return `Telemetry backfill: ${parts.join(' · ')}`;
}
