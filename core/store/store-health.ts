/**
 * What the console knows about its database's health: the last write that failed (disk full,
 * read-only, locked by another process, I/O error), until a write succeeds again. API calls that
 * fail on the database report here, and so do background writers (telemetry history), so the UI
 * can say plainly that something is not being saved, and why.
 */
import { EventEmitter } from 'node:events';
import { StoreError } from '../lib/errors.js';

export type StoreProblem = 'full' | 'read-only' | 'locked' | 'io' | 'corrupt' | 'other';

export interface StoreHealthState {
  state: 'ok' | 'failing';
  problem: StoreProblem | null;
  /** A sentence for the operator: what failed, why, what to do. */
  message: string | null;
  /** What was being saved when it failed. */
  operation: string | null;
  since: number | null;
  failures: number;
}

const PROBLEMS: Array<[RegExp, StoreProblem, string]> = [
  [/^SQLITE_FULL/, 'full', 'the disk is full; free space on the disk that holds it'],
  [/^SQLITE_READONLY/, 'read-only', 'the file or its file system is read-only; check its permissions and the mount'],
  [/^SQLITE_CANTOPEN/, 'read-only', 'the file or its directory cannot be opened for writing; check their permissions and that the disk is mounted read-write'],
  [/^SQLITE_(BUSY|LOCKED)/, 'locked', 'another process holds a lock on it; close other programs using the file'],
  [/^SQLITE_IOERR/, 'io', 'the disk reported an I/O error'],
  [/^SQLITE_(CORRUPT|NOTADB)/, 'corrupt', 'the file is damaged; restore it from a backup or move it aside to start afresh'],
];

/** The SQLite error code of `err` (better-sqlite3's SqliteError), if it is one. */
export function sqliteCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : null;
}

/** What a SQLite error means for the operator, or null for other errors. */
export function describeSqliteProblem(err: unknown): { code: string; problem: StoreProblem; why: string } | null {
  const code = sqliteCode(err);
  if (!code) return null;
  const [, problem, why] = PROBLEMS.find(([pattern]) => pattern.test(code)) ?? [null, 'other' as StoreProblem, `SQLite reported ${code}`];
  return { code, problem, why };
}

/** A typed, explained StoreError for a failed database operation; other errors are returned as they are. */
export function explainStoreError(err: unknown, operation: string, databasePath: string): unknown {
  const described = describeSqliteProblem(err);
  if (!described) return err;
  const { code, problem, why } = described;
  return new StoreError(`Could not save ${operation}: the database ${databasePath} failed (${why}).`, { code, problem, operation, databasePath }, err);
}

export class StoreHealth extends EventEmitter<{ change: [StoreHealthState] }> {
  private current: StoreHealthState = { state: 'ok', problem: null, message: null, operation: null, since: null, failures: 0 };

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  get state(): StoreHealthState {
    return this.current;
  }

  /** Records a failed write (a StoreError from `explainStoreError`); other errors are ignored. */
  failed(err: unknown): void {
    if (!(err instanceof StoreError) || typeof err.context.problem !== 'string') return;
    const problem = err.context.problem as StoreProblem;
    const changed = this.current.state !== 'failing' || this.current.problem !== problem;
    this.current = {
      state: 'failing',
      problem,
      message: err.message,
      operation: String(err.context.operation ?? ''),
      since: this.current.state === 'failing' ? this.current.since : this.now(),
      failures: this.current.failures + 1,
    };
    if (changed) this.emit('change', this.current);
  }

  /** A write went through: the database is healthy again. */
  succeeded(): void {
    if (this.current.state === 'ok') return;
    this.current = { state: 'ok', problem: null, message: null, operation: null, since: null, failures: 0 };
    this.emit('change', this.current);
  }
}
