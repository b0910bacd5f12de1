/**
 * The telemetry history's resolutions, their tables and retention defaults (shared by the
 * writer, core/telemetry/history.ts, and the reader, core/telemetry/queries.ts).
 */
export const RESOLUTIONS = ['1s', '10s', '1m'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

/** Window length of each resolution in seconds (rows store window starts in seconds since the epoch). */
export const RESOLUTION_SECONDS: Record<Resolution, number> = { '1s': 1, '10s': 10, '1m': 60 };

/** Series-major tables (PRIMARY KEY (series, t)). */
export const RESOLUTION_TABLE: Record<Resolution, string> = { '1s': 'telemetry_1s', '10s': 'telemetry_10s', '1m': 'telemetry_1m' };

export type Retention = Record<Resolution, number>;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** How long each resolution is kept (ms). */
export const DEFAULT_RETENTION: Retention = { '1s': 6 * HOUR, '10s': 3 * DAY, '1m': 30 * DAY };

export function resolveRetention(partial: Partial<Retention> = {}): Retention {
  const retention = { ...DEFAULT_RETENTION, ...partial };
  for (const r of RESOLUTIONS) {
    const ms = retention[r];
    if (!Number.isFinite(ms) || ms < 60_000) throw new RangeError(`retention of ${r} must be at least one minute (got ${ms} ms)`);
  }
  if (retention['1s'] > retention['10s'] || retention['10s'] > retention['1m']) {
    throw new RangeError('retention must not shrink with coarser resolutions (1s ≤ 10s ≤ 1m)');
  }
  return retention;
}

/** The stream consumer name under which the history stores its offset in stream_offsets. */
export function telemetryConsumer(mesh: string): string {
  return `telemetry:${mesh}`;
}
