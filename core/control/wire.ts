/**
 * Messages between cores (never seen by agents): leader ticks, leader announcements, and
 * operator actions a follower forwards to the leader. JSON bodies with `kind` and `v`; a core
 * that cannot read one logs it (ticks, announcements) or dead-letters it (requests).
 */
import { z } from 'zod';
import { ControlAction, ControlCommand, InstanceId, ServiceName } from '../protocol/messages.js';

export const WIRE_VERSION = 1;
export const CORE_CONTENT_TYPE = 'application/json';

const CoreId = z.string().min(1).max(128);
const Millis = z.number().int().nonnegative();

export const Tick = z.object({ v: z.literal(1), kind: z.literal('tick'), coreId: CoreId, at: Millis }).strict();
export type Tick = z.infer<typeof Tick>;

export const LeaderAnnouncement = z
  .object({
    v: z.literal(1),
    kind: z.literal('leader'),
    coreId: CoreId,
    host: z.string().max(256),
    /** When it became leader (its clock). */
    since: Millis,
    at: Millis,
    leaseMs: z.number().int().positive(),
  })
  .strict();
export type LeaderAnnouncement = z.infer<typeof LeaderAnnouncement>;

export const CommandTargetSchema = z.object({ service: ServiceName, instanceId: InstanceId.optional() }).strict();

export const UndoPlan = z
  .object({
    /** Human summary, e.g. "restore" or "weights back to a-1 → 100, a-2 → 50". */
    summary: z.string().max(1024),
    commands: z.array(z.object({ target: CommandTargetSchema, action: ControlAction }).strict()).min(1).max(10_000),
  })
  .strict();
export type UndoPlan = z.infer<typeof UndoPlan>;

export const ActionOriginSchema = z.enum(['operator', 'automatic', 'undo']);

/** An operator action as the core that created it recorded it (forwarded so the leader records the same). */
export const ActionSnapshot = z
  .object({
    id: z.string().min(8).max(128),
    origin: ActionOriginSchema,
    actor: z.string().max(256),
    reason: z.string().max(1024),
    target: CommandTargetSchema,
    action: ControlAction,
    summary: z.string().max(1024),
    undo: UndoPlan.nullable(),
    undoOf: z.string().max(128).nullable(),
    evidence: z.unknown().optional(),
    createdAt: Millis,
    expiresAt: Millis,
    coreId: CoreId,
  })
  .strict();
export type ActionSnapshot = z.infer<typeof ActionSnapshot>;

export const ForwardedRequest = z
  .object({
    v: z.literal(1),
    kind: z.literal('request'),
    from: z.object({ coreId: CoreId, host: z.string().max(256) }).strict(),
    /** The command exactly as the agents are to receive it (same id, times, issuer). */
    command: ControlCommand,
    expected: z.array(InstanceId).min(1).max(10_000),
    action: ActionSnapshot.nullable(),
  })
  .strict();
export type ForwardedRequest = z.infer<typeof ForwardedRequest>;

export function encodeCoreMessage(message: Tick | LeaderAnnouncement | ForwardedRequest): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/** Parses a body with `schema`; never throws. */
export function decodeCoreMessage<S extends z.ZodType>(body: unknown, schema: S): { ok: true; value: z.output<S> } | { ok: false; reason: string } {
  let parsed: unknown = body;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    try {
      parsed = JSON.parse(body.toString());
    } catch (err) {
      return { ok: false, reason: `body is not valid JSON (${(err as Error).message.slice(0, 120)})` };
    }
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const reason = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; ');
    return { ok: false, reason };
  }
  return { ok: true, value: result.data };
}
