/** The outbox state machine on a real SQLite file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError, type MeshdeckError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import type { ControlAck } from '../protocol/messages.js';
import { openDatabase, type Db } from '../store/database.js';
import { Outbox, OutboxFullError, progressOf, settledState, wireCommand, type CommandRecord, type NewCommand } from './outbox.js';

let dir: string;
let path: string;
let db: Db;
let outbox: Outbox;
const T0 = 1_750_000_000_000;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-outbox-'));
  path = join(dir, 'meshdeck.db');
  db = openDatabase({ path, logger: silentLogger });
  outbox = new Outbox(db, 'mesh-a', { maxOpen: 5, expiryGraceMs: 1000 });
});

afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function command(overrides: Partial<NewCommand> = {}): NewCommand {
  seq += 1;
  return {
    commandId: `cmd-${String(seq).padStart(6, '0')}`,
    target: { service: 'checkout', instanceId: 'checkout-1' },
    action: { action: 'drain' },
    issuer: 'console:alice',
    reason: 'maintenance',
    createdAt: T0,
    expiresAt: T0 + 30_000,
    expected: ['checkout-1'],
    ...overrides,
  };
}

function ack(commandId: string, instanceId: string, status: ControlAck['status'], detail = ''): ControlAck {
  return { commandId, service: 'checkout', instanceId, status, detail };
}

describe('Outbox: writing', () => {
  it('writes a pending row that survives closing and reopening the database', () => {
    const c = command();
    const written = outbox.enqueue(c);
    expect(written).toMatchObject({ commandId: c.commandId, state: 'pending', expected: ['checkout-1'], attempts: 0, publishedAt: null, finishedAt: null });
    expect(written.progress).toMatchObject({ expected: 1, acked: 0, rejected: 0, waiting: 1 });
    db.close();

    db = openDatabase({ path, logger: silentLogger });
    const reopened = new Outbox(db, 'mesh-a');
    const row = reopened.get(c.commandId);
    expect(row).toMatchObject({ state: 'pending', action: { action: 'drain' }, issuer: 'console:alice', reason: 'maintenance', createdAt: T0, expiresAt: T0 + 30_000 });
    expect(reopened.toSend(T0 + 1, { includeForwarded: false, limit: 10 }).map((r) => r.commandId)).toEqual([c.commandId]);
  });

  it('keeps meshes apart', () => {
    const c = command();
    outbox.enqueue(c);
    const other = new Outbox(db, 'mesh-b');
    expect(other.get(c.commandId)).toBeNull();
    expect(other.openCount()).toBe(0);
    expect(outbox.openCount()).toBe(1);
  });

  it('refuses a duplicate id, an empty expected list and an invalid action', () => {
    const c = command();
    outbox.enqueue(c);
    expect(() => outbox.enqueue(c)).toThrow(ConflictError);
    const empty = (() => {
      try {
        outbox.enqueue(command({ expected: [] }));
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(empty).toBeInstanceOf(ValidationError);
    expect((empty as ValidationError).issues).toEqual([{ path: 'target', message: expect.stringContaining('no live instances') }]);
    expect(() => outbox.enqueue(command({ action: { action: 'set-weight', weight: 99_999 } }))).toThrow(ValidationError);
    expect(() => outbox.enqueue(command({ expiresAt: T0 }))).toThrow(/expiresAt/);
  });

  it('is bounded: beyond maxOpen open commands it refuses with a clear UNAVAILABLE error, and takes more once some settle', () => {
    const ids = [1, 2, 3, 4, 5].map(() => outbox.enqueue(command()).commandId);
    let err: unknown;
    try {
      outbox.enqueue(command());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OutboxFullError);
    expect((err as MeshdeckError).code).toBe('UNAVAILABLE');
    expect((err as Error).message).toMatch(/outbox is full: 5 commands .*limit 5/);
    expect(outbox.openCount()).toBe(5);

    outbox.recordAck(ack(ids[0]!, 'checkout-1', 'applied'), T0 + 10);
    expect(outbox.openCount()).toBe(4);
    expect(() => outbox.enqueue(command())).not.toThrow();
  });

  it('enqueueIfAbsent leaves an existing row alone', () => {
    const c = command();
    outbox.enqueue(c);
    outbox.markPublished(c.commandId, T0 + 5);
    const again = outbox.enqueueIfAbsent(c);
    expect(again.created).toBe(false);
    expect(again.record.state).toBe('published');
  });
});

describe('Outbox: publishing', () => {
  it('pending → published only on confirm; a failed attempt stays pending with a back-off and the error', () => {
    const c = command();
    outbox.enqueue(c);
    const failed = outbox.markAttemptFailed(c.commandId, 'connection closed', T0 + 100)!;
    expect(failed).toMatchObject({ state: 'pending', attempts: 1, lastError: 'connection closed' });
    // In back-off: not offered again until its time, unless retryNow (a reconnect) clears it.
    expect(outbox.toSend(T0 + 101, { includeForwarded: false, limit: 10 })).toEqual([]);
    expect(outbox.toSend(T0 + 100 + 250, { includeForwarded: false, limit: 10 })).toHaveLength(1);
    outbox.markAttemptFailed(c.commandId, 'again', T0 + 200);
    outbox.retryNow();
    expect(outbox.toSend(T0 + 201, { includeForwarded: false, limit: 10 })).toHaveLength(1);

    const published = outbox.markPublished(c.commandId, T0 + 300)!;
    expect(published).toMatchObject({ state: 'published', publishedAt: T0 + 300, lastError: null });
    expect(outbox.toSend(T0 + 301, { includeForwarded: true, limit: 10 })).toEqual([]);
  });

  it('a confirm of a copy sent before a resend does not confirm the resend', () => {
    const c = command();
    const first = outbox.enqueue(c);
    // The ack overtakes the first copy's confirm; then the command is resent.
    outbox.recordAck(ack(c.commandId, 'checkout-1', 'applied'), T0 + 1);
    const resent = outbox.resend(c.commandId, T0 + 2);
    expect(resent).toMatchObject({ state: 'pending', generation: first.generation + 1 });
    const late = outbox.markPublished(c.commandId, T0 + 3, first.generation)!;
    expect(late).toMatchObject({ state: 'pending', publishedAt: T0 + 1 }); // (the first ack proved the first copy's delivery)
    expect(outbox.toSend(T0 + 4, { includeForwarded: false, limit: 10 })).toHaveLength(1);
    expect(outbox.markPublished(c.commandId, T0 + 5, resent.generation)!.state).toBe('acked');
    expect(outbox.markForwarded(c.commandId, T0 + 6, first.generation)!.state).toBe('acked');
  });

  it('an ack of the earlier copy does not settle a resent row before the resend is confirmed', () => {
    const c = command();
    outbox.enqueue(c);
    outbox.markPublished(c.commandId, T0 + 1, 0);
    const resent = outbox.resend(c.commandId, T0 + 2);
    expect(outbox.recordAck(ack(c.commandId, 'checkout-1', 'applied'), T0 + 3)!.state).toBe('pending');
    expect(outbox.markPublished(c.commandId, T0 + 4, resent.generation)!.state).toBe('acked');
  });

  it('does not offer a row past its expiry', () => {
    const c = command();
    outbox.enqueue(c);
    expect(outbox.toSend(c.expiresAt, { includeForwarded: false, limit: 10 })).toEqual([]);
  });

  it('forwarded rows are offered again only to a leader (it cannot know whether the old leader published them)', () => {
    const c = command();
    outbox.enqueue(c);
    expect(outbox.markForwarded(c.commandId, T0 + 1)!.state).toBe('forwarded');
    expect(outbox.toSend(T0 + 2, { includeForwarded: false, limit: 10 })).toEqual([]);
    expect(outbox.toSend(T0 + 2, { includeForwarded: true, limit: 10 }).map((r) => r.commandId)).toEqual([c.commandId]);
    expect(outbox.markPublished(c.commandId, T0 + 3)!.state).toBe('published');
  });

  it('wireCommand is the command agents receive, with ISO times', () => {
    const record = outbox.enqueue(command({ target: { service: 'checkout' }, expected: ['a-1', 'a-2'], action: { action: 'set-weight', weight: 30 } }));
    expect(wireCommand(record)).toEqual({
      commandId: record.commandId,
      target: { service: 'checkout' },
      issuedAt: new Date(T0).toISOString(),
      expiresAt: new Date(T0 + 30_000).toISOString(),
      issuer: 'console:alice',
      reason: 'maintenance',
      command: { action: 'set-weight', weight: 30 },
    });
  });
});

describe('Outbox: acks', () => {
  it('acked once every expected instance answered applied or duplicate', () => {
    const c = command({ target: { service: 'checkout' }, expected: ['checkout-1', 'checkout-2'] });
    outbox.enqueue(c);
    outbox.markPublished(c.commandId, T0 + 1);
    const one = outbox.recordAck(ack(c.commandId, 'checkout-1', 'applied'), T0 + 2)!;
    expect(one.state).toBe('published');
    expect(one.progress).toMatchObject({ expected: 2, acked: 1, waiting: 1 });
    const both = outbox.recordAck(ack(c.commandId, 'checkout-2', 'duplicate', 'already applied'), T0 + 3)!;
    expect(both).toMatchObject({ state: 'acked', finishedAt: T0 + 3 });
    expect(both.progress.instances).toEqual([
      { instanceId: 'checkout-1', expected: true, status: 'applied', detail: '', at: T0 + 2 },
      { instanceId: 'checkout-2', expected: true, status: 'duplicate', detail: 'already applied', at: T0 + 3 },
    ]);
  });

  it('partially-acked when some applied and some rejected; rejected when all rejected', () => {
    const mixed = command({ target: { service: 'checkout' }, expected: ['checkout-1', 'checkout-2'] });
    outbox.enqueue(mixed);
    outbox.recordAck(ack(mixed.commandId, 'checkout-1', 'applied'), T0 + 1);
    expect(outbox.recordAck(ack(mixed.commandId, 'checkout-2', 'rejected', 'boom'), T0 + 2)!.state).toBe('partially-acked');

    const refused = command();
    outbox.enqueue(refused);
    const r = outbox.recordAck(ack(refused.commandId, 'checkout-1', 'rejected', 'expired'), T0 + 3)!;
    expect(r.state).toBe('rejected');
    expect(r.progress.instances[0]).toMatchObject({ status: 'rejected', detail: 'expired' });
  });

  it('an ack that overtakes the confirm settles the row and proves it was published', () => {
    const c = command();
    outbox.enqueue(c);
    expect(outbox.recordAck(ack(c.commandId, 'checkout-1', 'applied'), T0 + 5)!.state).toBe('acked');
    const after = outbox.markPublished(c.commandId, T0 + 6)!;
    expect(after).toMatchObject({ state: 'acked', publishedAt: T0 + 5, finishedAt: T0 + 5 });
  });

  it('counts a resend answered duplicate on the same instance without double-counting it', () => {
    const c = command();
    outbox.enqueue(c);
    outbox.recordAck(ack(c.commandId, 'checkout-1', 'applied'), T0 + 1);
    outbox.resend(c.commandId, T0 + 2);
    const record = outbox.recordAck(ack(c.commandId, 'checkout-1', 'duplicate'), T0 + 3)!;
    expect(record.acks.map((a) => [a.status, a.count])).toEqual([
      ['applied', 1],
      ['duplicate', 1],
    ]);
    expect(record.progress).toMatchObject({ expected: 1, acked: 1 });
    expect(record.progress.instances[0]!.status).toBe('applied');
    outbox.recordAck(ack(c.commandId, 'checkout-1', 'duplicate'), T0 + 4);
    expect(outbox.get(c.commandId)!.acks.find((a) => a.status === 'duplicate')!.count).toBe(2);
  });

  it('ignores acks for unknown commands, from another service, or from another instance of an instance command', () => {
    const c = command();
    outbox.enqueue(c);
    expect(outbox.recordAck(ack('cmd-unknown-1', 'checkout-1', 'applied'), T0)).toBeNull();
    expect(outbox.recordAck({ ...ack(c.commandId, 'checkout-1', 'applied'), service: 'payments' }, T0)).toBeNull();
    expect(outbox.recordAck(ack(c.commandId, 'checkout-9', 'applied'), T0)).toBeNull();
    expect(outbox.get(c.commandId)!.acks).toEqual([]);
  });

  it('records acks from instances that joined after a service-wide command was sent, without counting them (bounded)', () => {
    const small = new Outbox(db, 'mesh-a', { maxUnexpectedAcks: 2 });
    const c = command({ target: { service: 'checkout' }, expected: ['checkout-1'] });
    small.enqueue(c);
    small.recordAck(ack(c.commandId, 'late-1', 'applied'), T0 + 1);
    small.recordAck(ack(c.commandId, 'late-2', 'applied'), T0 + 2);
    expect(small.recordAck(ack(c.commandId, 'late-3', 'applied'), T0 + 3)).toBeNull();
    const record = small.get(c.commandId)!;
    expect(record.state).toBe('pending');
    expect(record.progress).toMatchObject({ expected: 1, acked: 0, waiting: 1 });
    expect(record.progress.instances.map((i) => [i.instanceId, i.expected])).toEqual([
      ['checkout-1', true],
      ['late-1', false],
      ['late-2', false],
    ]);
  });
});

describe('Outbox: expiry', () => {
  it('expires open rows past expires_at + grace, keeping the answers it got; settled rows are left alone', () => {
    const waiting = command({ target: { service: 'checkout' }, expected: ['checkout-1', 'checkout-2'] });
    const done = command();
    const unpublished = command();
    outbox.enqueue(waiting);
    outbox.enqueue(done);
    outbox.enqueue(unpublished);
    outbox.markPublished(waiting.commandId, T0 + 1);
    outbox.recordAck(ack(waiting.commandId, 'checkout-1', 'applied'), T0 + 2);
    outbox.recordAck(ack(done.commandId, 'checkout-1', 'applied'), T0 + 2);

    expect(outbox.expireDue(T0 + 30_000 + 999)).toEqual([]); // within the grace
    const expired = outbox.expireDue(T0 + 31_000);
    expect(expired.map((r) => r.commandId).sort()).toEqual([waiting.commandId, unpublished.commandId].sort());
    const w = outbox.get(waiting.commandId)!;
    expect(w).toMatchObject({ state: 'expired', finishedAt: T0 + 31_000 });
    expect(w.progress).toMatchObject({ acked: 1, waiting: 1 });
    expect(outbox.get(unpublished.commandId)).toMatchObject({ state: 'expired', publishedAt: null });
    expect(outbox.get(done.commandId)!.state).toBe('acked');
    expect(outbox.openCount()).toBe(0);

    // A late ack is recorded (visible per instance), the state stays expired.
    const late = outbox.recordAck(ack(waiting.commandId, 'checkout-2', 'applied'), T0 + 40_000)!;
    expect(late.state).toBe('expired');
    expect(late.progress.instances[1]).toMatchObject({ instanceId: 'checkout-2', status: 'applied' });
  });

  it('resend refuses an expired command and an unknown one', () => {
    const c = command();
    outbox.enqueue(c);
    expect(() => outbox.resend(c.commandId, c.expiresAt + 1)).toThrow(ConflictError);
    expect(() => outbox.resend('cmd-nope-000', T0)).toThrow(NotFoundError);
  });
});

describe('Outbox: settled hooks, events and pruning', () => {
  it('runs settled hooks once per command, inside the transaction, and emits changed', async () => {
    const settled: CommandRecord[] = [];
    const changed: string[] = [];
    outbox.onSettled((r) => settled.push(r));
    outbox.on('changed', (r) => changed.push(`${r.commandId}:${r.state}`));
    const c = command();
    outbox.enqueue(c);
    outbox.recordAck(ack(c.commandId, 'checkout-1', 'applied'), T0 + 1);
    outbox.resend(c.commandId, T0 + 2);
    outbox.markPublished(c.commandId, T0 + 3);
    outbox.recordAck(ack(c.commandId, 'checkout-1', 'duplicate'), T0 + 4);
    expect(settled.map((r) => r.state)).toEqual(['acked']);
    await Promise.resolve();
    expect(changed).toEqual([`${c.commandId}:pending`, `${c.commandId}:acked`, `${c.commandId}:pending`, `${c.commandId}:acked`, `${c.commandId}:acked`]);
  });

  it('a hook that throws rolls the transition back', () => {
    const c = command();
    outbox.enqueue(c);
    outbox.onSettled(() => {
      throw new Error('audit failed');
    });
    expect(() => outbox.recordAck(ack(c.commandId, 'checkout-1', 'applied'), T0 + 1)).toThrow('audit failed');
    expect(outbox.get(c.commandId)).toMatchObject({ state: 'pending', acks: [] });
  });

  it('prunes settled rows (and their acks) finished before a time, never open ones', () => {
    const old = command();
    const open = command();
    outbox.enqueue(old);
    outbox.enqueue(open);
    outbox.recordAck(ack(old.commandId, 'checkout-1', 'applied'), T0 + 1);
    expect(outbox.prune(T0 + 2)).toBe(1);
    expect(outbox.get(old.commandId)).toBeNull();
    expect(outbox.get(open.commandId)).not.toBeNull();
    expect(db.prepare('SELECT COUNT(*) AS n FROM control_acks').get()).toEqual({ n: 0 });
  });
});

describe('progressOf / settledState', () => {
  it('prefers applied over rejected over duplicate per instance', () => {
    const at = { count: 1, firstAt: 1, lastAt: 1, detail: '' };
    const p = progressOf(['a', 'b', 'c'], [
      { instanceId: 'a', status: 'duplicate', ...at },
      { instanceId: 'a', status: 'applied', ...at },
      { instanceId: 'b', status: 'duplicate', ...at },
      { instanceId: 'b', status: 'rejected', ...at },
    ]);
    expect(p.instances.map((i) => i.status)).toEqual(['applied', 'rejected', 'waiting']);
    expect(settledState(p)).toBeNull();
    expect(settledState({ ...p, waiting: 0 })).toBe('partially-acked');
    expect(settledState(progressOf([], []))).toBeNull();
  });
});
