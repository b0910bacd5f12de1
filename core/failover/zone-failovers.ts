/**
 * Zones an operator failed a service over away from (control action `failover-zone`), kept in
 * SQLite (`zone_failovers`) so a restarted core keeps them: callers get such a zone at admitted
 * health 0 until `restore-zone` (or the undo) removes it. Cached in memory: the endpoint push
 * reads it per service.
 */
import type { ControlAction } from '../protocol/messages.js';
import type { Db } from '../store/database.js';

export interface ZoneFailoverRecord {
  service: string;
  zone: string;
  actionId: string;
  createdAt: number;
}

export class ZoneFailovers {
  private cache: Map<string, ZoneFailoverRecord[]> | null = null;

  constructor(
    private readonly db: Db,
    private readonly mesh: string,
  ) {}

  /** Zones of `service` that are failed over. */
  zones(service: string): Set<string> {
    return new Set((this.load().get(service) ?? []).map((r) => r.zone));
  }

  all(): ZoneFailoverRecord[] {
    return [...this.load().values()].flat();
  }

  /**
   * Records the effect of an action (call it in the action's transaction): failover-zone adds
   * the zone, restore-zone removes it. Returns true when the service's failed-over zones changed.
   */
  apply(action: ControlAction, service: string, actionId: string, at: number): boolean {
    if (action.action === 'failover-zone') {
      const result = this.db
        .prepare('INSERT INTO zone_failovers (mesh, service, zone, action_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mesh, service, zone) DO NOTHING')
        .run(this.mesh, service, action.zone, actionId, at);
      this.cache = null;
      return result.changes > 0;
    }
    if (action.action === 'restore-zone') {
      const result = this.db.prepare('DELETE FROM zone_failovers WHERE mesh = ? AND service = ? AND zone = ?').run(this.mesh, service, action.zone);
      this.cache = null;
      return result.changes > 0;
    }
    return false;
  }

  private load(): Map<string, ZoneFailoverRecord[]> {
    if (this.cache) return this.cache;
    const rows = this.db
      .prepare('SELECT service, zone, action_id, created_at FROM zone_failovers WHERE mesh = ? ORDER BY service, zone')
      .all(this.mesh) as Array<{ service: string; zone: string; action_id: string; created_at: number }>;
    const cache = new Map<string, ZoneFailoverRecord[]>();
    for (const r of rows) {
      const list = cache.get(r.service) ?? [];
      list.push({ service: r.service, zone: r.zone, actionId: r.action_id, createdAt: r.created_at });
      cache.set(r.service, list);
    }
    this.cache = cache;
    return cache;
  }
}
