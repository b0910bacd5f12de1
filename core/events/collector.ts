/**
 * Feeds the events tail from the core's parts: registry changes, health signals, acks and
 * leadership as they happen; the audit log (operator actions, automatic failover and zone
 * decisions), open incidents and first-seen event flows once a second; connection and storage
 * changes from their emitters.
 */
import type { ConnectionState } from '../api/contract.js';
import type { Logger } from '../lib/log.js';
import type { MeshRuntime } from '../mesh/mesh-runtime.js';
import type { StoreHealthState } from '../store/store-health.js';
import { ackEvent, auditEvent, connectionEvents, flowEvents, incidentEvents, leadershipEvent, registryEvent, signalEvent, storageEvent } from './describe.js';
import type { EventTail } from './tail.js';

interface Watched {
  profileId: string;
  mesh: MeshRuntime;
  lastAuditId: number;
  incidents: Map<number, { id: number; title: string; severity: 'degraded' | 'failing'; status: 'open' | 'acknowledged' | 'resolved'; service: string | null }>;
  flows: Set<string>;
  leader: string;
}

export class EventCollector {
  private readonly watched = new Map<string, Watched>();
  private connections = new Map<string, ConnectionState>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly tail: EventTail,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /** Follows one mesh; returns a function that stops following it. */
  watchMesh(profileId: string, mesh: MeshRuntime): () => void {
    const newest = mesh.control.audit.query({ limit: 1 }).entries[0];
    const w: Watched = { profileId, mesh, lastAuditId: newest?.id ?? 0, incidents: new Map(), flows: new Set(), leader: '' };
    for (const i of mesh.incidents.view().open) w.incidents.set(i.id, i);
    this.watched.set(profileId, w);
    const onRegistry = (changes: readonly Parameters<typeof registryEvent>[1][]) => {
      for (const c of changes) this.tail.record(registryEvent(profileId, c));
    };
    const onSignal = (signal: Parameters<typeof signalEvent>[1]) => this.tail.record(signalEvent(profileId, signal, this.now()));
    const onAck = (ack: Parameters<typeof ackEvent>[1]) => this.tail.record(ackEvent(profileId, ack, this.now()));
    const onLeadership = (state: Parameters<typeof leadershipEvent>[1]) => {
      const key = state.isLeader ? `self ${state.self.coreId}` : (state.leader?.coreId ?? '');
      if (key === w.leader) return;
      w.leader = key;
      this.tail.record(leadershipEvent(profileId, state, this.now()));
    };
    // Coalesced: a burst of incident changes within one turn of the event loop reads the open
    // incidents once (a read per change made a sweep of 10 000 instances block for seconds).
    let pending: NodeJS.Immediate | null = null;
    const onIncidents = () => {
      pending ??= setImmediate(() => {
        pending = null;
        if (!this.closed && this.watched.get(profileId) === w) this.incidents(w);
      });
    };
    mesh.on('registry', onRegistry);
    mesh.on('signal', onSignal);
    mesh.on('ack', onAck);
    mesh.control.on('leadership', onLeadership);
    mesh.incidents.on('changed', onIncidents);
    return () => {
      mesh.off('registry', onRegistry);
      mesh.off('signal', onSignal);
      mesh.off('ack', onAck);
      mesh.control.off('leadership', onLeadership);
      mesh.incidents.off('changed', onIncidents);
      if (pending) clearImmediate(pending);
      pending = null;
      this.watched.delete(profileId);
    };
  }

  connectionStates(states: readonly ConnectionState[]): void {
    for (const e of connectionEvents(this.connections, states, this.now())) this.tail.record(e);
    this.connections = new Map(states.map((s) => [s.profileId, s]));
  }

  storage(state: StoreHealthState): void {
    this.tail.record(storageEvent(state, this.now()));
  }

  /** Once a second: new audit entries, incident changes missed by events, new event flows. */
  tick(): void {
    const at = this.now();
    for (const w of this.watched.values()) {
      try {
        const fresh = w.mesh.control.audit
          .query({ since: at - 60_000, limit: 500 })
          .entries.filter((e) => e.id > w.lastAuditId)
          .reverse();
        for (const e of fresh) {
          w.lastAuditId = e.id;
          this.tail.record(auditEvent(w.profileId, e));
        }
        for (const e of flowEvents(w.profileId, w.flows, w.mesh.events.summaries(at), at)) this.tail.record(e);
      } catch (err) {
        this.logger.warn('events tail: could not read the audit log or flows this second', { err, mesh: w.profileId });
      }
    }
  }

  private incidents(w: Watched): void {
    try {
      const open = w.mesh.incidents.view().open;
      for (const e of incidentEvents(w.profileId, w.incidents, open, this.now())) this.tail.record(e);
      w.incidents = new Map(open.map((i) => [i.id, i]));
    } catch (err) {
      this.logger.warn('events tail: could not read incidents', { err, mesh: w.profileId });
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.tail.close();
  }
}
