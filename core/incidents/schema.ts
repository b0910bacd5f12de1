/**
 * The shapes of incidents as the API serves them (zod, environment-neutral: the API contract
 * and through it the renderer use these).
 */
import { z } from 'zod';

export const IncidentStatus = z.enum(['open', 'acknowledged', 'resolved']);
export type IncidentStatus = z.infer<typeof IncidentStatus>;
export const IncidentSeverity = z.enum(['degraded', 'failing']);
export type IncidentSeverity = z.infer<typeof IncidentSeverity>;

export const TimelineKind = z.enum(['opened', 'rule', 'severity', 'registry', 'failover', 'action', 'note', 'acknowledged', 'assigned', 'resolved']);
export type TimelineKind = z.infer<typeof TimelineKind>;

export const ActiveRule = z.object({
  rule: z.string(),
  subject: z.string(),
  severity: IncidentSeverity.nullable(),
  text: z.string(),
  onset: z.number().nullable(),
});
export type ActiveRule = z.infer<typeof ActiveRule>;

export const IncidentSummary = z.object({
  id: z.number().int(),
  mesh: z.string(),
  scope: z.string(),
  service: z.string().nullable(),
  title: z.string(),
  status: IncidentStatus,
  severity: IncidentSeverity,
  peakSeverity: IncidentSeverity,
  onsetAt: z.number(),
  openedAt: z.number(),
  updatedAt: z.number(),
  resolvedAt: z.number().nullable(),
  resolvedBy: z.string().nullable(),
  acknowledgedAt: z.number().nullable(),
  acknowledgedBy: z.string().nullable(),
  assignee: z.string().nullable(),
  rules: z.array(ActiveRule),
  /** The first suspect, for lists. */
  topSuspect: z.string().nullable(),
});
export type IncidentSummary = z.infer<typeof IncidentSummary>;

export const TimelineEntry = z.object({
  id: z.number().int(),
  at: z.number(),
  kind: TimelineKind,
  actor: z.string().nullable(),
  text: z.string(),
  evidence: z.unknown().nullable(),
});
export type TimelineEntry = z.infer<typeof TimelineEntry>;

export const SuspectInfo = z.object({
  rank: z.number().int(),
  kind: z.enum(['instance', 'dependency', 'caller', 'queue', 'consumer', 'publisher']),
  target: z.string(),
  service: z.string(),
  score: z.number(),
  reasoning: z.string(),
  evidence: z.record(z.string(), z.union([z.number(), z.string(), z.null()])),
});
export type SuspectInfo = z.infer<typeof SuspectInfo>;

export const IncidentDetail = IncidentSummary.extend({
  timeline: z.array(TimelineEntry),
  suspects: z.array(SuspectInfo),
  notes: z.array(TimelineEntry),
});
export type IncidentDetail = z.infer<typeof IncidentDetail>;

export const IncidentsView = z.object({
  profileId: z.string(),
  at: z.number(),
  /** Open and acknowledged incidents, failing first, then newest. */
  open: z.array(IncidentSummary),
  /** The newest incident that opened, for the banner (null: none since the core started). */
  lastOpened: z.number().int().nullable(),
  /**
   * The queue rules (backlog growing, consumer gone) run on the broker's own figures; `onHold`
   * with the reason while those are missing (no snapshot yet, management API unreachable,
   * statistics disabled, no permission), since when.
   */
  queueRules: z.object({ onHold: z.boolean(), reason: z.string().nullable(), since: z.number().nullable() }),
});
export type IncidentsView = z.infer<typeof IncidentsView>;
