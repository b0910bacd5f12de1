import { describe, expect, it } from 'vitest';
import { StoreError } from '../lib/errors.js';
import { describeSqliteProblem, explainStoreError, StoreHealth } from './store-health.js';

const sqliteError = (code: string) => Object.assign(new Error(`sqlite says ${code}`), { code });

describe('explainStoreError', () => {
  it.each([
    ['SQLITE_FULL', 'full', /the disk is full/],
    ['SQLITE_READONLY', 'read-only', /read-only/],
    ['SQLITE_READONLY_DBMOVED', 'read-only', /read-only/],
    ['SQLITE_CANTOPEN', 'read-only', /cannot be opened for writing/],
    ['SQLITE_BUSY', 'locked', /another process holds a lock/],
    ['SQLITE_LOCKED', 'locked', /another process holds a lock/],
    ['SQLITE_IOERR_WRITE', 'io', /I\/O error/],
    ['SQLITE_CORRUPT', 'corrupt', /damaged/],
    ['SQLITE_NOTADB', 'corrupt', /damaged/],
    ['SQLITE_MISMATCH', 'other', /SQLite reported SQLITE_MISMATCH/],
  ])('%s is %s, explained', (code, problem, why) => {
    const err = explainStoreError(sqliteError(code), 'the change (x)', '/data/m.db');
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).message).toMatch(/^Could not save the change \(x\): the database \/data\/m\.db failed \(/);
    expect((err as StoreError).message).toMatch(why);
    expect((err as StoreError).context).toMatchObject({ code, problem, operation: 'the change (x)' });
    expect(describeSqliteProblem(sqliteError(code))?.problem).toBe(problem);
  });

  it('leaves other errors as they are', () => {
    const other = new Error('boom');
    expect(explainStoreError(other, 'x', '/d')).toBe(other);
    expect(explainStoreError(Object.assign(new Error('x'), { code: 'ENOENT' }), 'x', '/d')).not.toBeInstanceOf(StoreError);
  });
});

describe('StoreHealth', () => {
  it('fails on an explained error, counts, reports changes of problem only, and recovers on success', () => {
    let now = 1000;
    const health = new StoreHealth(() => now);
    const changes: string[] = [];
    health.on('change', (s) => changes.push(`${s.state}:${s.problem ?? ''}`));
    health.succeeded();
    health.failed(new Error('not a store error'));
    expect(health.state.state).toBe('ok');
    health.failed(explainStoreError(sqliteError('SQLITE_FULL'), 'telemetry history', '/d'));
    now = 2000;
    health.failed(explainStoreError(sqliteError('SQLITE_FULL'), 'registry changes', '/d'));
    expect(health.state).toMatchObject({ state: 'failing', problem: 'full', operation: 'registry changes', since: 1000, failures: 2 });
    health.failed(explainStoreError(sqliteError('SQLITE_BUSY'), 'x', '/d'));
    health.succeeded();
    expect(health.state).toEqual({ state: 'ok', problem: null, message: null, operation: null, since: null, failures: 0 });
    expect(changes).toEqual(['failing:full', 'failing:locked', 'ok:']);
  });
});
