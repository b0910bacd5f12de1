/**
 * The durable outbox of control commands. Every command is written here first (SQLite, in the
 * caller's transaction), then published by the control plane's loop, and followed until every
 * expected agent has answered or it expires:
 *
 *   pending ──confirm──► published ──all acks──► acked | partially-acked | rejected
 *      │  └─(follower) confirm of the request to the leader──► forwarded ──all acks──► …
 *      └──────────── past expires_at (+ grace) without every ack ──────────► expired
 *
 * `pending` rows are exactly the ones no broker has confirmed yet: the loop (re)sends them after
 * every reconnect; agents deduplicate by commandId, so a resend after a lost confirm is answered
 * `duplicate` and never applied twice. An ack proves delivery, so a row can settle straight from
 * `pending` when the ack overtakes the confirm.
 *
 * This class is pure SQLite: no broker, no timers. The clock is passed in.
 */
import { EventEmitter } from 'node:events';
import { ConflictError, MeshdeckError, NotFoundError, ValidationError } from '../lib/errors.js';
import { ControlAction, type ControlAck, type ControlCommand } from '../protocol/messages.js';
import type { Db } from '../store/database.js';

export const COMMAND_STATES = ['pending', 'forwarded', 'published', 'acked', 'partially-acked', 'expired', 'rejected'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];
/** States in which a command is still waiting for a confirm or for acks. */
export const OPEN_STATES: readonly CommandState[] = ['pending', 'forwarded', 'published'];
export const isOpenState = (state: CommandState): boolean => OPEN_STATES.includes(state);

export type InstanceStatus = 'waiting' | 'applied' | 'duplicate' | 'rejected';

export interface CommandTarget {
  service: string;
  instanceId?: string;
}

export interface AckEntry {
  instanceId: string;
  status: ControlAck['status'];
  detail: string;
  /** How many acks with this status this instance sent (a resend is answered again). */
  count: number;
  firstAt: number;
  lastAt: number;
}

export interface InstanceProgress {
  instanceId: string;
  /** False for an instance that answered a service-wide command without being in the expected list (it joined later). */
  expected: boolean;
  status: InstanceStatus;
  detail: string;
  at: number | null;
}

export interface Progress {
  expected: number;
  /** Expected instances that answered applied or duplicate. */
  acked: number;
  rejected: number;
  waiting: number;
  instances: InstanceProgress[];
}

export interface NewCommand {
  commandId: string;
  actionId?: string | null;
  target: CommandTarget;
  action: ControlAction;
  issuer: string;
  reason: string;
  createdAt: number;
  expiresAt: number;
  /** Instances whose acks complete the command: the target instance, or the service's instances at send time. */
  expected: readonly string[];
}

export interface CommandRecord {
  commandId: string;
  actionId: string | null;
  target: CommandTarget;
  action: ControlAction;
  issuer: string;
  reason: string;
  createdAt: number;
  expiresAt: number;
  state: CommandState;
  expected: string[];
  attempts: number;
  /** Bumped by every explicit resend; a confirm counts only for the generation it was sent in. */
  generation: number;
  lastError: string | null;
  publishedAt: number | null;
  finishedAt: number | null;
  acks: AckEntry[];
  progress: Progress;
}

interface CommandRow {
  id: string;
  action_id: string | null;
  service: string;
  instance_id: string | null;
  action: string;
  issuer: string;
  reason: string;
  created_at: number;
  expires_at: number;
  state: CommandState;
  expected: string;
  attempts: number;
  generation: number;
  next_attempt_at: number;
  last_error: string | null;
  published_at: number | null;
  finished_at: number | null;
}

interface AckRow {
  command_id: string;
  instance_id: string;
  status: ControlAck['status'];
  detail: string;
  count: number;
  first_at: number;
  last_at: number;
}

export interface OutboxOptions {
  /** Most commands that may be open (not yet settled or expired) at once; beyond it enqueue refuses. */
  maxOpen?: number;
  /** Extra time after expires_at for acks already on their way before a command is declared expired. */
  expiryGraceMs?: number;
  /** Acks from instances outside the expected list that are recorded per service-wide command, at most. */
  maxUnexpectedAcks?: number;
}

export const DEFAULT_OUTBOX_OPTIONS: Required<OutboxOptions> = { maxOpen: 1000, expiryGraceMs: 2000, maxUnexpectedAcks: 100 };

/** The outbox refuses new commands: too many are still open. */
export class OutboxFullError extends MeshdeckError {
  constructor(open: number, limit: number) {
    super(
      'UNAVAILABLE',
      `The control outbox is full: ${open} commands are still waiting to be confirmed or acknowledged (limit ${limit}). ` +
        'Wait for them to settle or expire (is the broker reachable, is there a leader?) and try again.',
      { context: { open, limit } },
    );
    this.name = 'OutboxFullError';
  }
}

/** Per-instance status: applied wins over rejected, rejected over duplicate (a resend answers duplicate). */
export function progressOf(expected: readonly string[], acks: readonly AckEntry[]): Progress {
  const byInstance = new Map<string, AckEntry[]>();
  for (const ack of acks) {
    const list = byInstance.get(ack.instanceId) ?? [];
    list.push(ack);
    byInstance.set(ack.instanceId, list);
  }
  const statusOf = (instanceId: string, isExpected: boolean): InstanceProgress => {
    const list = byInstance.get(instanceId) ?? [];
    const pick = list.find((a) => a.status === 'applied') ?? list.find((a) => a.status === 'rejected') ?? list.find((a) => a.status === 'duplicate');
    return pick
      ? { instanceId, expected: isExpected, status: pick.status, detail: pick.detail, at: pick.firstAt }
      : { instanceId, expected: isExpected, status: 'waiting', detail: '', at: null };
  };
  const expectedSet = new Set(expected);
  const instances = [...expected.map((id) => statusOf(id, true)), ...[...byInstance.keys()].filter((id) => !expectedSet.has(id)).sort().map((id) => statusOf(id, false))];
  let acked = 0;
  let rejected = 0;
  let waiting = 0;
  for (const i of instances) {
    if (!i.expected) continue;
    if (i.status === 'waiting') waiting += 1;
    else if (i.status === 'rejected') rejected += 1;
    else acked += 1;
  }
  return { expected: expected.length, acked, rejected, waiting, instances };
}

/** The final state once every expected instance has answered; null while some are still waiting. */
export function settledState(progress: Progress): CommandState | null {
  if (progress.expected === 0 || progress.waiting > 0) return null;
  if (progress.rejected === 0) return 'acked';
  if (progress.acked === 0) return 'rejected';
  return 'partially-acked';
}

/** The command as agents receive it. */
export function wireCommand(record: Pick<CommandRecord, 'commandId' | 'target' | 'createdAt' | 'expiresAt' | 'issuer' | 'reason' | 'action'>): ControlCommand {
  return {
    commandId: record.commandId,
    target: { service: record.target.service, ...(record.target.instanceId ? { instanceId: record.target.instanceId } : {}) },
    issuedAt: new Date(record.createdAt).toISOString(),
    expiresAt: new Date(record.expiresAt).toISOString(),
    issuer: record.issuer,
    reason: record.reason,
    command: record.action,
  };
}

export class Outbox extends EventEmitter<{ changed: [CommandRecord] }> {
  private readonly options: Required<OutboxOptions>;
  private readonly settledHooks: Array<(record: CommandRecord) => void> = [];
  private readonly stmt;

  constructor(
    private readonly db: Db,
    private readonly mesh: string,
    options: OutboxOptions = {},
  ) {
    super();
    this.options = { ...DEFAULT_OUTBOX_OPTIONS, ...options };
    this.stmt = {
      insert: db.prepare(
        `INSERT INTO control_commands (mesh, id, action_id, service, instance_id, action, issuer, reason, created_at, expires_at, state, expected)
         VALUES (@mesh, @id, @actionId, @service, @instanceId, @action, @issuer, @reason, @createdAt, @expiresAt, 'pending', @expected)`,
      ),
      get: db.prepare('SELECT * FROM control_commands WHERE mesh = ? AND id = ?'),
      acks: db.prepare('SELECT * FROM control_acks WHERE mesh = ? AND command_id = ? ORDER BY first_at, instance_id, status'),
      openCount: db.prepare(`SELECT COUNT(*) AS n FROM control_commands WHERE mesh = ? AND state IN ('pending', 'forwarded', 'published')`),
      setState: db.prepare('UPDATE control_commands SET state = ?, finished_at = COALESCE(finished_at, ?) WHERE mesh = ? AND id = ?'),
      published: db.prepare(
        `UPDATE control_commands SET state = ?, published_at = COALESCE(published_at, ?), last_error = NULL, finished_at = COALESCE(finished_at, ?)
         WHERE mesh = ? AND id = ?`,
      ),
      publishedAt: db.prepare('UPDATE control_commands SET published_at = COALESCE(published_at, ?), last_error = NULL WHERE mesh = ? AND id = ?'),
      failed: db.prepare('UPDATE control_commands SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE mesh = ? AND id = ?'),
      attempted: db.prepare('UPDATE control_commands SET attempts = attempts + 1 WHERE mesh = ? AND id = ?'),
      resend: db.prepare(`UPDATE control_commands SET state = 'pending', next_attempt_at = 0, generation = generation + 1 WHERE mesh = ? AND id = ?`),
      retryNow: db.prepare(`UPDATE control_commands SET next_attempt_at = 0 WHERE mesh = ? AND state IN ('pending', 'forwarded') AND next_attempt_at > 0`),
      toSend: db.prepare(
        `SELECT * FROM control_commands
         WHERE mesh = @mesh AND state IN ('pending', @alsoState) AND next_attempt_at <= @now AND expires_at > @now
         ORDER BY created_at, id LIMIT @limit`,
      ),
      due: db.prepare(
        `SELECT * FROM control_commands WHERE mesh = ? AND state IN ('pending', 'forwarded', 'published') AND expires_at + ? <= ? ORDER BY created_at LIMIT 500`,
      ),
      upsertAck: db.prepare(
        `INSERT INTO control_acks (mesh, command_id, instance_id, status, detail, count, first_at, last_at)
         VALUES (@mesh, @commandId, @instanceId, @status, @detail, 1, @at, @at)
         ON CONFLICT (mesh, command_id, instance_id, status) DO UPDATE SET count = count + 1, last_at = excluded.last_at`,
      ),
      unexpectedCount: db.prepare('SELECT COUNT(DISTINCT instance_id) AS n FROM control_acks WHERE mesh = ? AND command_id = ? AND instance_id NOT IN (SELECT value FROM json_each(?))'),
      byAction: db.prepare('SELECT * FROM control_commands WHERE mesh = ? AND action_id = ? ORDER BY created_at, service, instance_id, id'),
      recent: db.prepare('SELECT * FROM control_commands WHERE mesh = ? ORDER BY created_at DESC, id DESC LIMIT ?'),
      pruneAcks: db.prepare(
        `DELETE FROM control_acks WHERE mesh = @mesh AND command_id IN (
           SELECT id FROM control_commands WHERE mesh = @mesh AND finished_at IS NOT NULL AND finished_at < @before AND state NOT IN ('pending', 'forwarded', 'published'))`,
      ),
      pruneCommands: db.prepare(
        `DELETE FROM control_commands WHERE mesh = @mesh AND finished_at IS NOT NULL AND finished_at < @before AND state NOT IN ('pending', 'forwarded', 'published')`,
      ),
    };
  }

  get limit(): number {
    return this.options.maxOpen;
  }

  /** Runs inside the transaction that settles or expires a command (the audit log hooks in here). */
  onSettled(hook: (record: CommandRecord) => void): void {
    this.settledHooks.push(hook);
  }

  openCount(): number {
    return (this.stmt.openCount.get(this.mesh) as { n: number }).n;
  }

  /** Refuses (OutboxFullError) when `count` more would exceed the limit of open commands. */
  assertRoom(count = 1): void {
    const open = this.openCount();
    if (open + count > this.options.maxOpen) throw new OutboxFullError(open, this.options.maxOpen);
  }

  /** Writes a new command (state pending). Call inside the caller's transaction to make it atomic with the rest. */
  enqueue(command: NewCommand): CommandRecord {
    return this.db.transaction(() => {
      this.validate(command);
      if (this.stmt.get.get(this.mesh, command.commandId)) {
        throw new ConflictError(`A control command with id "${command.commandId}" already exists`, { commandId: command.commandId });
      }
      this.assertRoom(1);
      this.insert(command);
      const record = this.require(command.commandId);
      this.emitLater(record);
      return record;
    })();
  }

  /** Like enqueue, but an id already present is left as it is (a forwarded request delivered twice). */
  enqueueIfAbsent(command: NewCommand): { record: CommandRecord; created: boolean } {
    return this.db.transaction(() => {
      const existing = this.get(command.commandId);
      if (existing) return { record: existing, created: false };
      return { record: this.enqueue(command), created: true };
    })();
  }

  /**
   * Sends a command again (agents answer `duplicate` if they applied it): back to pending. An
   * expired command is not resent: agents would refuse it.
   */
  resend(commandId: string, now: number): CommandRecord {
    return this.db.transaction(() => {
      const record = this.get(commandId);
      if (!record) throw new NotFoundError('Control command', commandId);
      if (record.state === 'expired' || record.expiresAt <= now) {
        throw new ConflictError(`Control command "${commandId}" has expired; agents would refuse it. Send a new one.`, { commandId });
      }
      this.stmt.resend.run(this.mesh, commandId);
      const next = this.require(commandId);
      this.emitLater(next);
      return next;
    })();
  }

  get(commandId: string): CommandRecord | null {
    const row = this.stmt.get.get(this.mesh, commandId) as CommandRow | undefined;
    return row ? this.toRecord(row) : null;
  }

  byAction(actionId: string): CommandRecord[] {
    return (this.stmt.byAction.all(this.mesh, actionId) as CommandRow[]).map((r) => this.toRecord(r));
  }

  recent(limit: number): CommandRecord[] {
    return (this.stmt.recent.all(this.mesh, limit) as CommandRow[]).map((r) => this.toRecord(r));
  }

  /**
   * Rows to publish now: pending ones (and forwarded ones when `includeForwarded`: a core that
   * became leader resends what it had forwarded, since it cannot know whether the old leader
   * published it). Skips rows in back-off and rows already past their expiry.
   */
  toSend(now: number, options: { includeForwarded: boolean; limit: number }): CommandRecord[] {
    if (options.limit <= 0) return [];
    const rows = this.stmt.toSend.all({ mesh: this.mesh, alsoState: options.includeForwarded ? 'forwarded' : 'pending', now, limit: options.limit }) as CommandRow[];
    return rows.map((r) => this.toRecord(r));
  }

  /** Clears back-off, so the next loop resends every unconfirmed row (after a reconnect, on becoming leader). */
  retryNow(): void {
    this.stmt.retryNow.run(this.mesh);
  }

  /**
   * The broker confirmed the command (published to the agents). `generation` is the record's
   * generation when it was sent: the confirm of a copy sent before a resend does not confirm the
   * resend (it only records that the command reached the broker).
   */
  markPublished(commandId: string, at: number, generation?: number): CommandRecord | null {
    return this.transition(commandId, (record) => {
      const current = generation === undefined || generation === record.generation;
      if (current && (record.state === 'pending' || record.state === 'forwarded')) {
        const settled = settledState(record.progress);
        this.stmt.published.run(settled ?? 'published', at, settled ? at : null, this.mesh, commandId);
        return settled;
      }
      this.stmt.publishedAt.run(at, this.mesh, commandId);
      return null;
    });
  }

  /** The broker confirmed the forwarded request (a follower handed the command to the leader). */
  markForwarded(commandId: string, _at: number, generation?: number): CommandRecord | null {
    return this.transition(commandId, (record) => {
      this.stmt.attempted.run(this.mesh, commandId);
      const current = generation === undefined || generation === record.generation;
      if (current && record.state === 'pending') this.stmt.setState.run('forwarded', null, this.mesh, commandId);
      return null;
    });
  }

  /** A publish failed (no connection, returned as unroutable, nacked): retried after a back-off. */
  markAttemptFailed(commandId: string, error: string, at: number): CommandRecord | null {
    return this.transition(commandId, (record) => {
      const backoff = Math.min(10_000, 250 * 2 ** Math.min(record.attempts, 6));
      this.stmt.failed.run(error.slice(0, 512), at + backoff, this.mesh, commandId);
      return null;
    });
  }

  /**
   * Records an ack. Returns the updated record, or null when the ack is not for a command of
   * this outbox (another console's, or pruned) or does not match its target.
   */
  recordAck(ack: ControlAck, at: number): CommandRecord | null {
    return this.db.transaction(() => {
      const record = this.get(ack.commandId);
      if (!record || record.target.service !== ack.service) return null;
      const isExpected = record.expected.includes(ack.instanceId);
      if (!isExpected) {
        if (record.target.instanceId) return null; // an instance command answered by someone else
        const known = record.acks.some((a) => a.instanceId === ack.instanceId);
        const extras = (this.stmt.unexpectedCount.get(this.mesh, ack.commandId, JSON.stringify(record.expected)) as { n: number }).n;
        if (!known && extras >= this.options.maxUnexpectedAcks) return null;
      }
      this.stmt.upsertAck.run({ mesh: this.mesh, commandId: ack.commandId, instanceId: ack.instanceId, status: ack.status, detail: ack.detail.slice(0, 1024), at });
      return this.transition(ack.commandId, (updated) => {
        if (!isOpenState(updated.state)) return null; // late ack after expiry: recorded, state stays
        // An explicitly resent row settles on the resend's confirm, not on an ack of the earlier copy.
        if (updated.state === 'pending' && updated.generation > 0) return null;
        const settled = settledState(updated.progress);
        if (!settled) return null;
        this.stmt.setState.run(settled, at, this.mesh, ack.commandId);
        // The ack overtook the confirm: it proves the broker delivered our copy. (A forwarded row
        // keeps publishedAt empty: the leader published it, not this core.)
        if (updated.state === 'pending') this.stmt.publishedAt.run(at, this.mesh, ack.commandId);
        return settled;
      });
    })();
  }

  /** Open commands past expires_at + grace become expired. Returns them. */
  expireDue(now: number): CommandRecord[] {
    return this.db.transaction(() => {
      const rows = this.stmt.due.all(this.mesh, this.options.expiryGraceMs, now) as CommandRow[];
      const expired: CommandRecord[] = [];
      for (const row of rows) {
        const record = this.transition(row.id, () => {
          this.stmt.setState.run('expired', now, this.mesh, row.id);
          return 'expired';
        });
        if (record) expired.push(record);
      }
      return expired;
    })();
  }

  /** Deletes settled commands (and their acks) that finished before `before`. */
  prune(before: number): number {
    return this.db.transaction(() => {
      this.stmt.pruneAcks.run({ mesh: this.mesh, before });
      return this.stmt.pruneCommands.run({ mesh: this.mesh, before }).changes;
    })();
  }

  // -------------------------------------------------------------------------------------------

  private validate(command: NewCommand): void {
    const issues: Array<{ path: string; message: string }> = [];
    if (command.commandId.length < 8 || command.commandId.length > 128) issues.push({ path: 'commandId', message: '8-128 characters' });
    if (command.expected.length === 0) issues.push({ path: 'target', message: 'no instance to send the command to: the service has no live instances' });
    if (command.expected.length > 10_000) issues.push({ path: 'target', message: 'more than 10 000 instances' });
    if (!(command.expiresAt > command.createdAt)) issues.push({ path: 'expiresAt', message: 'must be after createdAt' });
    if (command.issuer.length > 128) issues.push({ path: 'issuer', message: 'at most 128 characters' });
    if (command.reason.length > 1024) issues.push({ path: 'reason', message: 'at most 1024 characters' });
    if (!ControlAction.safeParse(command.action).success) issues.push({ path: 'action', message: 'not a valid control action' });
    if (issues.length) throw new ValidationError(`Invalid control command: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }

  private insert(command: NewCommand): void {
    this.stmt.insert.run({
      mesh: this.mesh,
      id: command.commandId,
      actionId: command.actionId ?? null,
      service: command.target.service,
      instanceId: command.target.instanceId ?? null,
      action: JSON.stringify(command.action),
      issuer: command.issuer,
      reason: command.reason,
      createdAt: command.createdAt,
      expiresAt: command.expiresAt,
      expected: JSON.stringify([...new Set(command.expected)]),
    });
  }

  /**
   * Runs `change` on the current record in a transaction; when it returns a final state, the
   * settled hooks run in the same transaction (once per command: a resent, already settled
   * command does not report again). Emits `changed` after.
   */
  private transition(commandId: string, change: (record: CommandRecord) => CommandState | null): CommandRecord | null {
    return this.db.transaction(() => {
      const before = this.get(commandId);
      if (!before) return null;
      const final = change(before);
      const after = this.require(commandId);
      if (final && before.finishedAt === null) for (const hook of this.settledHooks) hook(after);
      this.emitLater(after);
      return after;
    })();
  }

  private require(commandId: string): CommandRecord {
    const record = this.get(commandId);
    if (!record) throw new NotFoundError('Control command', commandId);
    return record;
  }

  private toRecord(row: CommandRow): CommandRecord {
    const expected = JSON.parse(row.expected) as string[];
    const acks = (this.stmt.acks.all(this.mesh, row.id) as AckRow[]).map((a) => ({
      instanceId: a.instance_id,
      status: a.status,
      detail: a.detail,
      count: a.count,
      firstAt: a.first_at,
      lastAt: a.last_at,
    }));
    return {
      commandId: row.id,
      actionId: row.action_id,
      target: { service: row.service, ...(row.instance_id ? { instanceId: row.instance_id } : {}) },
      action: JSON.parse(row.action) as ControlAction,
      issuer: row.issuer,
      reason: row.reason,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      state: row.state,
      expected,
      attempts: row.attempts,
      generation: row.generation,
      lastError: row.last_error,
      publishedAt: row.published_at,
      finishedAt: row.finished_at,
      acks,
      progress: progressOf(expected, acks),
    };
  }

  /** `changed` listeners run after the current (outermost) transaction: they may read, and their errors cannot roll it back. */
  private emitLater(record: CommandRecord): void {
    queueMicrotask(() => this.emit('changed', record));
  }
}
