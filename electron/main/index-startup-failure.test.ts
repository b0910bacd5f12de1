/**
 * A database written by a newer Meshdeck: the desktop app says so in a dialog (with where the log
 * is) and exits, and leaves the database as it was.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MIGRATIONS } from '../../core/store/migrations';

vi.mock('electron', async () => (await import('./fake-electron')).fakeElectron());
const { fake, loadEntry } = await import('./fake-electron');

const newer = (MIGRATIONS.at(-1)?.version ?? 0) + 1;
const cleanup = await loadEntry((userData) => {
  const db = new Database(join(userData, 'meshdeck.db'));
  db.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
  db.prepare('INSERT INTO schema_version VALUES (?, ?, ?)').run(newer, 'from the future', 1);
  db.close();
});
afterAll(() => cleanup());

describe('the desktop entry with a database from a newer Meshdeck', () => {
  it('shows why it cannot start, logs it and exits; the database is untouched', async () => {
    await vi.waitFor(() => expect(fake.app.gone).toBe(true), { timeout: 10_000 });
    expect(fake.errorBoxes).toHaveLength(1);
    expect(fake.errorBoxes[0]!.title).toBe('Meshdeck cannot start');
    expect(fake.errorBoxes[0]!.content).toContain(`schema version ${newer}, newer than this Meshdeck understands`);
    expect(fake.errorBoxes[0]!.content).toContain(join(fake.userData, 'logs', 'meshdeck.log'));
    const log = readFileSync(join(fake.userData, 'logs', 'meshdeck.log'), 'utf8');
    expect(log).toContain('"msg":"startup failed"');
    const db = new Database(join(fake.userData, 'meshdeck.db'), { readonly: true });
    expect(db.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: newer }]);
    db.close();
  });
});
