/**
 * Suspect ranking, pure: which instance, edge or queue best explains an incident's symptom.
 * Every candidate gets a score in [0, 1] from named parts, and the reasoning says which parts
 * counted and with what numbers (core/incidents/README.md explains the weights).
 */
import type { RuleName } from './rules.js';
import type { ServiceBreakdown, Totals } from './signals.js';

export type SuspectKind = 'instance' | 'dependency' | 'caller' | 'queue' | 'consumer' | 'publisher';

export interface Suspect {
  kind: SuspectKind;
  /** instance id, `from → to` for edges, the queue name. */
  target: string;
  service: string;
  score: number;
  reasoning: string;
  evidence: Record<string, number | string | null>;
}

/** A change on a candidate near the onset: a registry change, an ejection, an operator action. */
export interface ChangeEvent {
  at: number;
  service: string;
  instanceId: string | null;
  /** What happened, as the timeline says it ("down", "ejected", "drain by alice", …). */
  what: string;
  /** How strongly such a change explains a symptom, 0..1 (see CHANGE_WEIGHT). */
  weight: number;
}

/** How much a change on an instance points at it, by kind. */
export const CHANGE_WEIGHT = { down: 1, ejected: 0.8, fault: 0.9, drain: 0.5, registered: 0.7, updated: 0.6, other: 0.3 } as const;

/** Queue incidents: the queue always first, then its consumers, then its publishers. */
export const QUEUE_SCORES = { queueGone: 0.9, queueBacklog: 0.7, consumerGone: 0.6, consumerBacklog: 0.5, publisherBacklog: 0.4, publisherGone: 0.2 } as const;

export const SCORE_WEIGHTS = { share: 0.55, concentration: 0.25, change: 0.2 } as const;
/** A change counts fully at the onset and half as much this long before or after it. */
export const CHANGE_HALF_LIFE_MS = 30_000;

export interface RankInput {
  service: string;
  onset: number;
  /** The symptom: which rules are active (their kind decides errors vs latency vs lost). */
  rules: RuleName[];
  /** Traffic since the onset. */
  since: ServiceBreakdown;
  changes: ChangeEvent[];
  p99SloMs: number;
  /** Queue incidents: the queues involved, with their last snapshot. */
  queues?: Array<{
    queue: string;
    depth: number;
    consumers: number;
    rule: RuleName;
    /** Services consuming it (or last seen consuming it), and publishing into it (broker snapshot and flow graph). */
    consumerServices?: string[];
    publisherServices?: string[];
    /** The adapter's words for the depth trend. */
    trend?: string | null;
  }>;
  limit?: number;
}

const pct = (x: number) => `${Math.round(x * 100)} %`;
const round = (x: number) => Math.round(x * 1000) / 1000;
const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);

function proximity(at: number, onset: number): number {
  return Math.pow(0.5, Math.abs(at - onset) / CHANGE_HALF_LIFE_MS);
}

function changeScore(changes: ChangeEvent[], onset: number): { score: number; text: string | null } {
  let best: { score: number; c: ChangeEvent } | null = null;
  for (const c of changes) {
    const s = c.weight * proximity(c.at, onset);
    if (!best || s > best.score) best = { score: s, c };
  }
  if (!best) return { score: 0, text: null };
  const dt = Math.round((best.c.at - onset) / 1000);
  return { score: best.score, text: `${best.c.what} at ${time(best.c.at)} (${dt === 0 ? 'at the onset' : dt > 0 ? `${dt} s after the onset` : `${-dt} s before the onset`})` };
}

/** "Badness" of a slice of traffic for the symptom: failures, or requests × excess latency. */
function badness(t: Totals, latency: boolean, sloMs: number): number {
  if (!latency) return t.failed;
  return t.p99 === null ? 0 : t.requests * Math.max(0, t.p99 - sloMs);
}

export function rankSuspects(input: RankInput): Suspect[] {
  const { service, onset, since } = input;
  const errors = input.rules.includes('error-rate') || since.service.failed > 0;
  const latency = !errors && input.rules.includes('latency-p99');
  const total = since.service;
  const totalBad = [...since.instances.values()].reduce((s, t) => s + badness(t, latency, input.p99SloMs), 0);
  const out: Suspect[] = [];

  // Instances of the service: their share of the symptom, whether it is concentrated on them, changes on them.
  const ids = new Set([...since.instances.keys(), ...input.changes.filter((c) => c.service === service && c.instanceId).map((c) => c.instanceId!)]);
  for (const id of ids) {
    const t = since.instances.get(id) ?? { requests: 0, failed: 0, p99: null };
    const share = totalBad > 0 ? badness(t, latency, input.p99SloMs) / totalBad : 0;
    const trafficShare = total.requests > 0 ? t.requests / total.requests : 0;
    const concentration = Math.max(0, share - trafficShare);
    const change = changeScore(
      input.changes.filter((c) => c.service === service && c.instanceId === id),
      onset,
    );
    const score = SCORE_WEIGHTS.share * share + SCORE_WEIGHTS.concentration * concentration + SCORE_WEIGHTS.change * change.score;
    const parts: string[] = [];
    if (totalBad > 0 && !latency) {
      const rate = t.requests ? t.failed / t.requests : 0;
      const othersReq = total.requests - t.requests;
      const othersRate = othersReq > 0 ? (total.failed - t.failed) / othersReq : 0;
      parts.push(`${t.failed} of ${total.failed} failures of ${service} since the onset (${pct(share)}) on ${pct(trafficShare)} of its requests`);
      parts.push(`error rate ${pct(rate)} against ${pct(othersRate)} on the other instances`);
    } else if (latency && totalBad > 0) {
      parts.push(`p99 ${t.p99 === null ? '—' : `${Math.round(t.p99)} ms`} (SLO ${input.p99SloMs} ms): ${pct(share)} of the excess latency on ${pct(trafficShare)} of the requests`);
    } else if (t.requests === 0) parts.push('no traffic since the onset');
    if (change.text) parts.push(change.text);
    out.push({
      kind: 'instance',
      target: id,
      service,
      score: round(score),
      reasoning: parts.join('; '),
      evidence: { share: round(share), trafficShare: round(trafficShare), concentration: round(concentration), change: round(change.score), requests: t.requests, failed: t.failed, p99: t.p99 },
    });
  }

  // The service's own calls: a failing dependency explains the service's failures.
  if (total.failed > 0 && !latency) {
    for (const [to, t] of since.dependencies) {
      if (t.failed === 0) continue;
      const share = Math.min(1, t.failed / total.failed);
      const rate = t.requests ? t.failed / t.requests : 0;
      out.push({
        kind: 'dependency',
        target: `${service} → ${to}`,
        service: to,
        score: round(0.9 * share * Math.min(1, rate * 10)),
        reasoning: `${service}’s calls to ${to} failed ${t.failed} times (${pct(rate)} of ${t.requests}), as many as ${pct(share)} of ${service}’s own failures`,
        evidence: { share: round(share), rate: round(rate), requests: t.requests, failed: t.failed },
      });
    }
  }

  // Callers: failures concentrated on one caller point at what it sends.
  if (total.failed > 0 && !latency && since.callers.size > 1) {
    for (const [from, t] of since.callers) {
      const share = t.failed / total.failed;
      const trafficShare = total.requests ? t.requests / total.requests : 0;
      const concentration = Math.max(0, share - trafficShare);
      if (concentration <= 0) continue;
      out.push({
        kind: 'caller',
        target: `${from} → ${service}`,
        service: from,
        score: round(0.5 * concentration),
        reasoning: `${pct(share)} of the failures come from ${from}, which sends ${pct(trafficShare)} of the requests`,
        evidence: { share: round(share), trafficShare: round(trafficShare), failed: t.failed, requests: t.requests },
      });
    }
  }

  // Queue rules: the queue first, then who consumes it (gone or too slow), then who fills it.
  for (const q of input.queues ?? []) {
    const gone = q.rule === 'consumer-gone';
    const trend = q.trend ? `; ${q.trend}` : '';
    out.push({
      kind: 'queue',
      target: q.queue,
      service,
      score: gone ? QUEUE_SCORES.queueGone : QUEUE_SCORES.queueBacklog,
      reasoning: gone ? `no consumer on ${q.queue}; ${q.depth} messages waiting` : `${q.queue} holds ${q.depth} messages and is growing (${q.consumers} consumers)${trend}`,
      evidence: { depth: q.depth, consumers: q.consumers },
    });
    const peers = (kind: 'consumer' | 'publisher', services: string[] | undefined, score: number, reasoning: (service: string) => string) => {
      for (const peer of services ?? []) {
        out.push({ kind, target: peer, service: peer, score, reasoning: reasoning(peer), evidence: { queue: q.queue, depth: q.depth, consumers: q.consumers } });
      }
    };
    peers('consumer', q.consumerServices, gone ? QUEUE_SCORES.consumerGone : QUEUE_SCORES.consumerBacklog, (c) =>
      gone ? `${c} consumed ${q.queue} and no longer does (0 consumers, ${q.depth} messages waiting)` : `${c} consumes ${q.queue} (${q.consumers} consumers) and does not keep up: ${q.depth} messages ready`,
    );
    peers('publisher', q.publisherServices, gone ? QUEUE_SCORES.publisherGone : QUEUE_SCORES.publisherBacklog, (p) =>
      gone ? `${p} keeps publishing into ${q.queue}, which no one consumes` : `${p} publishes into ${q.queue}, which grows${trend}`,
    );
  }

  // One row per candidate (a queue can be the subject of both queue rules): the highest score.
  const best = new Map<string, Suspect>();
  for (const s of out) {
    const key = `${s.kind}\u0000${s.target}`;
    const seen = best.get(key);
    if (!seen || s.score > seen.score) best.set(key, s);
  }
  return [...best.values()]
    .filter((s) => s.score > 0 || s.kind === 'queue')
    .sort((a, b) => b.score - a.score || a.target.localeCompare(b.target))
    .slice(0, input.limit ?? 5);
}
