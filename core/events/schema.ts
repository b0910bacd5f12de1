/**
 * The shape of one entry of the events tail (`events.tail` topic): zod, environment-neutral
 * (the API contract and through it the renderer use it).
 */
import { z } from 'zod';

/** What kind of thing happened; the Events view filters on it. */
export const TailEventKind = z.enum([
  'registry', // an instance joined, left, changed state or weight
  'failover', // an automatic decision: eject, probe, restore, zone failover / fail-back
  'control', // an operator action (or its undo) requested, settled, refused
  'ack', // an agent's answer to a control command
  'signal', // direct evidence from a sidecar about a peer (connect refused, …)
  'incident', // an incident opened, changed severity, was acknowledged or resolved
  'leadership', // which console leads the mesh
  'flow', // a domain event type seen for the first time from a publisher or at a consumer
  'connection', // a broker connection changed state
  'storage', // the database's writes failed or recovered
]);
export type TailEventKind = z.infer<typeof TailEventKind>;

export const TailEventLevel = z.enum(['info', 'warning', 'critical']);
export type TailEventLevel = z.infer<typeof TailEventLevel>;

export const TailEvent = z.object({
  /** Increases by one per event this core recorded since it started (gaps mean events were missed). */
  seq: z.number().int().positive(),
  /** When it happened (ms since epoch). */
  at: z.number(),
  kind: TailEventKind,
  level: TailEventLevel,
  /** The mesh (profile id); null for what concerns the console itself (storage). */
  profileId: z.string().nullable(),
  service: z.string().nullable(),
  instanceId: z.string().nullable(),
  /** One line in words. */
  text: z.string(),
  /** Who did it, when someone did: an operator's transport, `meshdeck-core …`, an agent. */
  actor: z.string().nullable(),
});
export type TailEvent = z.infer<typeof TailEvent>;

export const TailBatch = z.object({
  at: z.number(),
  /**
   * `backlog`: the recent events a new subscriber starts with; `live`: what happened since the
   * previous batch (at most one batch a second).
   */
  mode: z.enum(['backlog', 'live']),
  /** Oldest first. */
  events: z.array(TailEvent),
});
export type TailBatch = z.infer<typeof TailBatch>;
