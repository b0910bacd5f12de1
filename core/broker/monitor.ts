/**
 * Polls one profile's broker through the management API while someone looks: never faster than
 * the broker's statistics interval (`collect_statistics_interval`, 5 s by default; the broker
 * only refreshes its figures that often), slower while its statistics database has a backlog
 * or the API cannot be reached. A query between polls gets the last snapshot, not a new read.
 */
import { EventEmitter } from 'node:events';
import type { BrokerSnapshot } from '../api/contract.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { ManagementAccess } from '../bus/profiles.js';
import type { EventTypeFlow } from '../telemetry/live-events.js';
import { buildFlows } from './flows.js';
import { ManagementClient } from './management-client.js';
import { emptyReading, readBroker, type BrokerReading } from './read-snapshot.js';

export const DEFAULT_STATS_INTERVAL_MS = 5000;
const MAX_INTERVAL_MS = 60_000;
/** How long a query keeps the poller going without a subscriber. */
const DEMAND_MS = 60_000;

export interface BrokerMonitorOptions {
  profileId: string;
  /** Read on every poll, so an edited profile takes effect at the next one. */
  access: () => ManagementAccess;
  /** What the agents report of domain events (merged into the flow graph). */
  events: () => EventTypeFlow[];
  /** Services registered in the mesh (to mark flow nodes that are mesh services). */
  meshServices: () => ReadonlySet<string>;
  /** True while a subscriber wants snapshots pushed. */
  subscribed: () => boolean;
  logger: Logger;
  /** The broker's `collect_statistics_interval` (ms); the poll interval never goes below it. */
  statsIntervalMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class BrokerMonitor extends EventEmitter<{ snapshot: [BrokerSnapshot] }> {
  private last: BrokerSnapshot;
  private lastReading: BrokerReading | null = null;
  private inflight: Promise<BrokerSnapshot> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private demandUntil = 0;
  private intervalMs: number;
  private readonly statsIntervalMs: number;
  private closed = false;

  constructor(private readonly options: BrokerMonitorOptions) {
    super();
    this.statsIntervalMs = Math.max(1000, options.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS);
    this.intervalMs = this.statsIntervalMs;
    this.last = this.emptySnapshot();
  }

  /** The last snapshot (at: 0 before the first read). */
  current(): BrokerSnapshot {
    return this.last;
  }

  /** A snapshot no older than the poll interval: reads now only when the last read is that old. */
  async snapshot(): Promise<BrokerSnapshot> {
    this.demandUntil = Date.now() + DEMAND_MS;
    this.ensureLoop();
    if (this.inflight) return this.inflight;
    if (this.last.at > 0 && Date.now() - this.last.at < this.intervalMs) return this.last;
    return this.read();
  }

  /** Starts polling if someone wants it (a subscriber or a recent query). */
  ensureLoop(): void {
    if (this.closed || this.timer || this.inflight) return;
    if (!this.wanted()) return;
    const due = this.last.at === 0 ? 0 : Math.max(0, this.last.at + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.wanted()) return;
      void this.read().finally(() => this.ensureLoop());
    }, due);
    this.timer.unref();
  }

  /** Rebuilds the flow graph from the last reading (new agent telemetry), without a broker read. */
  reflow(): BrokerSnapshot {
    if (this.lastReading) this.last = this.compose(this.lastReading);
    return this.last;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  // -------------------------------------------------------------------------------------------

  private wanted(): boolean {
    return this.options.subscribed() || Date.now() < this.demandUntil;
  }

  private read(): Promise<BrokerSnapshot> {
    this.inflight ??= (async () => {
      try {
        const access = this.options.access();
        let reading: BrokerReading;
        if (!access.baseUrl) {
          reading = emptyReading(null, access.vhost, [
            {
              area: 'config',
              message: 'No management API URL is set on this profile and the broker is not on this machine: set one (e.g. http://broker:15672) in the profile',
            },
          ]);
        } else {
          const client = new ManagementClient({
            baseUrl: access.baseUrl,
            username: access.username,
            password: access.password,
            timeoutMs: this.options.timeoutMs ?? 5000,
            ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
          });
          reading = await readBroker(client, access.vhost, access.username);
        }
        // Never faster than the stats interval; back off while the broker's stats DB lags or the API is away.
        const slow = !reading.available || reading.statsBacklog > 0;
        this.intervalMs = slow ? Math.min(MAX_INTERVAL_MS, this.intervalMs * 2) : this.statsIntervalMs;
        this.lastReading = reading;
        this.last = this.compose(reading);
      } catch (err) {
        // Not the broker's refusal (readBroker reports those): e.g. a password that cannot be decrypted.
        this.options.logger.warn('broker snapshot failed', { profileId: this.options.profileId, err });
        this.lastReading = null;
        this.last = this.compose(emptyReading(null, '/', [{ area: 'config', message: `Cannot read the broker: ${errorMessage(err)}` }]), false);
        this.intervalMs = Math.min(MAX_INTERVAL_MS, this.intervalMs * 2);
      } finally {
        this.inflight = null;
      }
      this.emit('snapshot', this.last);
      return this.last;
    })();
    return this.inflight;
  }

  private compose(reading: BrokerReading, withFlows = true): BrokerSnapshot {
    const { statsBacklog: _backlog, ...rest } = reading;
    return {
      ...rest,
      profileId: this.options.profileId,
      pollIntervalMs: this.intervalMs,
      flows: withFlows ? buildFlows(reading, this.options.events(), this.options.meshServices()) : { nodes: [], edges: [] },
    };
  }

  private emptySnapshot(): BrokerSnapshot {
    let vhost = '/';
    let managementUrl: string | null = null;
    try {
      ({ vhost, baseUrl: managementUrl } = this.options.access());
    } catch {
      // the profile is gone; the next read says so
    }
    return this.compose({ ...emptyReading(managementUrl, vhost, []), at: 0 }, false);
  }
}
