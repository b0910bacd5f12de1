/**
 * Persistence of the registry: instances (upserted on change, last-seen flushed in batches),
 * the history of state changes, and stream offsets.
 */
import type { Db } from '../store/database.js';
import type { Instance, RegistryChange } from './registry.js';

interface InstanceRow {
  service: string;
  instance_id: string;
  zone: string;
  address: string;
  weight: number;
  version: string;
  metadata: string;
  capacity: number;
  agent: string;
  heartbeat_interval_ms: number;
  state: string;
  first_seen: number;
  last_seen: number;
}

export interface RegistryEvent {
  id: number;
  at: number;
  service: string;
  instanceId: string;
  kind: string;
  from: string | null;
  to: string | null;
  detail: string;
}

export class RegistryStore {
  private readonly upsert;
  private readonly touch;
  private readonly insertEvent;
  private readonly getOffset;
  private readonly putOffset;

  constructor(
    private readonly db: Db,
    private readonly mesh: string,
  ) {
    this.upsert = db.prepare(
      `INSERT INTO mesh_instances (mesh, service, instance_id, zone, address, weight, version, metadata, capacity, agent,
         heartbeat_interval_ms, state, first_seen, last_seen)
       VALUES (@mesh, @service, @instanceId, @zone, @address, @weight, @version, @metadata, @capacity, @agent,
         @heartbeatIntervalMs, @state, @firstSeen, @lastSeen)
       ON CONFLICT (mesh, service, instance_id) DO UPDATE SET zone = excluded.zone, address = excluded.address,
         weight = excluded.weight, version = excluded.version, metadata = excluded.metadata, capacity = excluded.capacity,
         agent = excluded.agent, heartbeat_interval_ms = excluded.heartbeat_interval_ms, state = excluded.state,
         last_seen = excluded.last_seen`,
    );
    this.touch = db.prepare('UPDATE mesh_instances SET last_seen = ? WHERE mesh = ? AND service = ? AND instance_id = ?');
    this.insertEvent = db.prepare(
      `INSERT INTO mesh_events (mesh, at, service, instance_id, kind, from_state, to_state, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.getOffset = db.prepare('SELECT offset FROM stream_offsets WHERE consumer = ?');
    this.putOffset = db.prepare(
      `INSERT INTO stream_offsets (consumer, stream, offset, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (consumer) DO UPDATE SET offset = excluded.offset, updated_at = excluded.updated_at`,
    );
  }

  loadInstances(): Instance[] {
    const rows = this.db.prepare('SELECT * FROM mesh_instances WHERE mesh = ?').all(this.mesh) as InstanceRow[];
    return rows.map((r) => ({
      service: r.service,
      instanceId: r.instance_id,
      zone: r.zone,
      address: r.address,
      weight: r.weight,
      version: r.version,
      metadata: JSON.parse(r.metadata) as Record<string, string>,
      capacity: r.capacity,
      agent: r.agent as Instance['agent'],
      heartbeatIntervalMs: r.heartbeat_interval_ms,
      state: r.state as Instance['state'],
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
      seq: 0,
      inflight: 0,
    }));
  }

  /** Writes changed instances, their history, last-seen times and a stream offset in one transaction. */
  /**
   * Writes instances, state changes, last-seen times and the stream offset in one transaction.
   * With `wait: false` it does not wait for another connection's write in progress (the
   * telemetry history's worker thread holds the database's one write lock for up to a few
   * hundred ms at a large mesh's size): it returns false at once, nothing written, and the
   * caller tries again later. Otherwise it waits (busy_timeout) and returns true.
   */
  commit(batch: { instances: Instance[]; changes: RegistryChange[]; touched: Instance[]; offset?: { consumer: string; stream: string; offset: number } }, options: { wait?: boolean } = {}): boolean {
    if (options.wait ?? true) {
      this.write(batch);
      return true;
    }
    const previous = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 0');
    try {
      this.write(batch);
      return true;
    } catch (err) {
      if (String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return false;
      throw err;
    } finally {
      this.db.pragma(`busy_timeout = ${previous}`);
    }
  }

  private write(batch: Parameters<RegistryStore['commit']>[0]): void {
    this.db.transaction(() => {
      for (const i of batch.instances) {
        this.upsert.run({ ...i, mesh: this.mesh, metadata: JSON.stringify(i.metadata) });
      }
      for (const c of batch.changes) {
        this.insertEvent.run(this.mesh, c.at, c.service, c.instanceId, c.kind, c.from, c.to, c.detail);
      }
      for (const i of batch.touched) this.touch.run(i.lastSeen, this.mesh, i.service, i.instanceId);
      if (batch.offset) this.putOffset.run(batch.offset.consumer, batch.offset.stream, batch.offset.offset, Date.now());
    })();
  }

  offset(consumer: string): number | null {
    const row = this.getOffset.get(consumer) as { offset: number } | undefined;
    return row ? row.offset : null;
  }

  events(filter: { service?: string; instanceId?: string; since?: number; limit: number }): RegistryEvent[] {
    const where = ['mesh = @mesh'];
    if (filter.service) where.push('service = @service');
    if (filter.instanceId) where.push('instance_id = @instanceId');
    if (filter.since !== undefined) where.push('at >= @since');
    return this.db
      .prepare(
        `SELECT id, at, service, instance_id AS instanceId, kind, from_state AS "from", to_state AS "to", detail
         FROM mesh_events WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT @limit`,
      )
      .all({ mesh: this.mesh, ...filter }) as RegistryEvent[];
  }
}
