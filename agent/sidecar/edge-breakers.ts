/**
 * Circuit breakers in the data plane: one `CircuitBreaker` (core/failover) per edge from this
 * agent's service to each service it calls, enforced on every outbound try.
 *
 *  - `acquire` before a request: refused at once when the breaker is open (or tripped by an
 *    operator), when a half-open breaker has let all its probes through, or when maxPending
 *    requests already wait; with maxInflight requests in flight a request waits (FIFO, up to
 *    `waitMs`) for a slot. The ticket it returns is settled exactly once: `done(ok)` records the
 *    outcome (5xx, connect error, timeout = failure), `cancel()` releases the slot without one.
 *  - Settings come from the callee's endpoint set (`circuitBreaker`), Meshdeck's defaults when
 *    the set has none; new settings keep the breaker's state.
 *  - `report` gives the state per callee for telemetry: open and half-open ones always, closed
 *    ones for a minute after a transition (a breaker that never changed is not reported).
 */
import { CircuitBreaker, sameBreakerSettings, type Admission, type BreakerSettings, type BreakerState, type BreakerTransition } from '../../core/failover/circuit-breaker.js';
import { DEFAULT_OUTLIER_POLICY } from '../../core/failover/policy.js';
import type { Logger } from '../../core/lib/log.js';
import type { CircuitReport, ControlCommand, DiscoveryEndpoints } from '../../core/protocol/messages.js';
import type { CommandOutcome, MeshAgent } from '../sdk/mesh-agent.js';

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = DEFAULT_OUTLIER_POLICY.circuitBreaker;

/** A closed breaker's state is reported this long after its last transition even without traffic. */
const REPORT_RECENT_MS = 60_000;

export interface EdgeTicket {
  /** Records the try's outcome and frees the slot. Later calls do nothing. */
  done(ok: boolean): void;
  /** Frees the slot without an outcome (the request was not sent, or its answer says nothing about the callee). */
  cancel(): void;
}

export interface EdgeRefusal {
  state: BreakerState;
  reason: Admission['reason'];
  detail: string;
}

export type EdgeAdmission = { allowed: true; ticket: EdgeTicket } | { allowed: false; refusal: EdgeRefusal };

export type BreakerTransitionListener = (transition: BreakerTransition) => void;

interface EdgeState {
  breaker: CircuitBreaker;
  settings: BreakerSettings;
  inflight: number;
  waiters: Array<() => void>;
  since: number;
}

export class EdgeBreakers {
  private readonly edges = new Map<string, EdgeState>();
  private readonly settingsByCallee = new Map<string, BreakerSettings>();
  private readonly listeners = new Set<BreakerTransitionListener>();

  constructor(
    readonly caller: string,
    private readonly clock: () => number = Date.now,
  ) {}

  onTransition(listener: BreakerTransitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The callee's settings from its endpoint set (undefined: the defaults). State is kept. */
  configure(callee: string, settings: BreakerSettings | undefined): void {
    const next = settings ?? DEFAULT_BREAKER_SETTINGS;
    this.settingsByCallee.set(callee, next);
    const edge = this.edges.get(callee);
    if (!edge || sameBreakerSettings(edge.settings, next)) return;
    edge.settings = next;
    edge.breaker.configure(next);
    this.wake(edge, true);
  }

  settings(callee: string): BreakerSettings {
    return this.settingsByCallee.get(callee) ?? DEFAULT_BREAKER_SETTINGS;
  }

  state(callee: string): BreakerState {
    const edge = this.edges.get(callee);
    if (!edge) return 'closed';
    this.emit(edge.breaker.poll(this.clock()));
    return edge.breaker.state;
  }

  /** Callees this agent keeps a breaker for. */
  callees(): string[] {
    return [...this.edges.keys()];
  }

  inflight(callee: string): { inflight: number; pending: number } {
    const edge = this.edges.get(callee);
    return { inflight: edge?.inflight ?? 0, pending: edge?.waiters.length ?? 0 };
  }

  /**
   * One try to `callee` may go out? With maxInflight in flight, waits up to `waitMs` for a slot
   * (0: refuse at once), unless maxPending requests are already waiting.
   */
  async acquire(callee: string, waitMs: number): Promise<EdgeAdmission> {
    const edge = this.edge(callee);
    const deadline = this.clock() + waitMs;
    for (;;) {
      const admission = edge.breaker.admit(this.clock(), { inflight: edge.inflight, pending: 0 });
      this.emit(admission.transition);
      if (admission.allowed) {
        edge.inflight += 1;
        return { allowed: true, ticket: this.ticket(edge) };
      }
      if (admission.reason !== 'max-inflight') return { allowed: false, refusal: refusal(admission) };
      // A full edge whose circuit is open: refused for the circuit, not queued for a slot.
      if (admission.state === 'open') {
        const until = edge.breaker.snapshot(this.clock()).until;
        return { allowed: false, refusal: { state: 'open', reason: 'open', detail: until === null ? 'open until reset' : `open until ${until}` } };
      }
      const s = edge.settings;
      if (edge.waiters.length >= s.maxPending) {
        return {
          allowed: false,
          refusal: { state: admission.state, reason: 'max-pending', detail: `${edge.inflight} in flight (max ${s.maxInflight}) and ${edge.waiters.length} waiting >= max pending ${s.maxPending}` },
        };
      }
      const left = deadline - this.clock();
      if (left <= 0 || !(await this.waitForSlot(edge, left))) {
        return { allowed: false, refusal: { state: edge.breaker.state, reason: 'max-inflight', detail: `${edge.inflight} in flight >= max ${s.maxInflight}; no slot within ${waitMs} ms` } };
      }
    }
  }

  /** Operator trip: open until reset, or for durationMs (then half-open). */
  trip(callee: string, durationMs: number | null, reason: string): BreakerTransition {
    const edge = this.edge(callee);
    const t = edge.breaker.trip(this.clock(), durationMs, reason);
    this.emit(t);
    this.wake(edge, true);
    return t;
  }

  /** Operator reset: closed, counters cleared. */
  reset(callee: string, reason: string): BreakerTransition {
    const edge = this.edge(callee);
    const t = edge.breaker.reset(this.clock(), reason);
    this.emit(t);
    this.wake(edge, true);
    return t;
  }

  /** Breaker state per callee for this telemetry window. */
  report(): Map<string, CircuitReport> {
    const now = this.clock();
    const out = new Map<string, CircuitReport>();
    for (const [callee, edge] of this.edges) {
      this.emit(edge.breaker.poll(now));
      const snap = edge.breaker.snapshot(now);
      const recent = snap.last !== null && now - snap.last.at < REPORT_RECENT_MS;
      if (snap.state === 'closed' && !recent) continue;
      out.set(callee, {
        state: snap.state,
        since: snap.last?.at ?? edge.since,
        ...(snap.state === 'open' && snap.until !== null ? { until: snap.until } : {}),
        manual: snap.manual,
        rule: snap.last?.evidence.rule ?? '',
        reason: (snap.last?.reason ?? '').slice(0, 512),
      });
    }
    return out;
  }

  private edge(callee: string): EdgeState {
    let edge = this.edges.get(callee);
    if (!edge) {
      const settings = this.settings(callee);
      edge = { breaker: new CircuitBreaker({ from: this.caller, to: callee }, settings), settings, inflight: 0, waiters: [], since: this.clock() };
      this.edges.set(callee, edge);
    }
    return edge;
  }

  private ticket(edge: EdgeState): EdgeTicket {
    let settled = false;
    const release = () => {
      settled = true;
      edge.inflight -= 1;
      this.wake(edge);
    };
    return {
      done: (ok) => {
        if (settled) return;
        release();
        this.emit(edge.breaker.record(this.clock(), ok));
      },
      cancel: () => {
        if (settled) return;
        release();
        edge.breaker.abandon();
      },
    };
  }

  private waitForSlot(edge: EdgeState, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = edge.waiters.indexOf(wake);
        if (i >= 0) edge.waiters.splice(i, 1);
        resolve(false);
      }, ms);
      edge.waiters.push(wake);
    });
  }

  /** Lets waiters try again: as many as there are free slots (at least one), or all. */
  private wake(edge: EdgeState, all = false): void {
    const free = all ? edge.waiters.length : Math.max(1, edge.settings.maxInflight - edge.inflight);
    for (let i = 0; i < free && edge.waiters.length > 0; i++) edge.waiters.shift()!();
  }

  private emit(transition: BreakerTransition | null): void {
    if (!transition) return;
    for (const listener of this.listeners) listener(transition);
  }
}

function refusal(admission: Admission): EdgeRefusal {
  return { state: admission.state, reason: admission.reason, detail: admission.detail };
}

/**
 * Wires `breakers` to `agent` (sidecar or gateway): settings from every endpoint set, breaker
 * state in every telemetry batch, transitions logged. Returns the handler of the circuit
 * commands (trip-circuit, reset-circuit); other commands give null.
 */
export function bindBreakersToAgent(breakers: EdgeBreakers, agent: MeshAgent, logger: Logger): (command: ControlCommand) => CommandOutcome | null {
  agent.on('endpoints', (set: DiscoveryEndpoints) => breakers.configure(set.service, set.circuitBreaker));
  agent.telemetry.reportCircuits(() => breakers.report());
  breakers.onTransition((t) =>
    logger.warn('circuit breaker', { from: t.edge.from, to: t.edge.to, was: t.from, now: t.to, until: t.until, reason: t.reason, rule: t.evidence.rule }),
  );
  /** The trip command in force per callee: reported active in heartbeats until reset or elapsed. */
  const trips = new Map<string, { commandId: string; timer: NodeJS.Timeout | null }>();
  const endTrip = (callee: string) => {
    const trip = trips.get(callee);
    if (!trip) return;
    if (trip.timer) clearTimeout(trip.timer);
    agent.setCommandActive(trip.commandId, false);
    trips.delete(callee);
  };
  return (command) => {
    const action = command.command;
    if (action.action === 'trip-circuit') {
      endTrip(action.callee);
      const duration = action.durationMs ?? null;
      breakers.trip(action.callee, duration, `tripped by ${command.issuer}${command.reason ? `: ${command.reason}` : ''}`);
      const timer = duration === null ? null : setTimeout(() => endTrip(action.callee), duration);
      timer?.unref();
      trips.set(action.callee, { commandId: command.commandId, timer });
      agent.setCommandActive(command.commandId, true);
      return { status: 'applied', detail: `circuit to ${action.callee} open ${duration === null ? 'until reset' : `for ${duration} ms`}` };
    }
    if (action.action === 'reset-circuit') {
      endTrip(action.callee);
      breakers.reset(action.callee, `reset by ${command.issuer}${command.reason ? `: ${command.reason}` : ''}`);
      return { status: 'applied', detail: `circuit to ${action.callee} closed` };
    }
    return null;
  };
}
