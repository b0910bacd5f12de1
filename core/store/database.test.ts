import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/log.js';
import { currentSchemaVersion, openDatabase, schemaHistory, type Db } from './database.js';
import { MIGRATIONS, type Migration } from './migrations.js';

let dir: string;
let open: Db[];
let logLines: Array<Record<string, unknown>>;
let logger: Logger;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-db-'));
  open = [];
  logLines = [];
  logger = createLogger({ level: 'debug', sink: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
});

afterEach(() => {
  for (const db of open) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

function openDb(path: string, migrations?: readonly Migration[]): Db {
  const db = openDatabase({ path, logger, ...(migrations ? { migrations } : {}) });
  open.push(db);
  return db;
}

function tables(db: Db): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map(
    (r) => r.name,
  );
}

function rawSchemaRows(path: string): Array<{ version: number; name: string; applied_at: number }> {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.prepare('SELECT version, name, applied_at FROM schema_version ORDER BY version').all() as Array<{
      version: number;
      name: string;
      applied_at: number;
    }>;
  } finally {
    raw.close();
  }
}

const migrationLines = () => logLines.filter((l) => l.msg === 'migration applied');

describe('MIGRATIONS', () => {
  it('are numbered 1, 2, 3... in order with unique names', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(new Set(MIGRATIONS.map((m) => m.name)).size).toBe(MIGRATIONS.length);
  });
});

describe('openDatabase', () => {
  it('creates the file (and missing folders) and applies every migration once', () => {
    const path = join(dir, 'nested', 'deeper', 'meshdeck.db');
    const before = Date.now();
    const db = openDb(path);
    expect(existsSync(path)).toBe(true);

    expect(currentSchemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version);
    const history = schemaHistory(db);
    expect(history.map((h) => ({ version: h.version, name: h.name }))).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
    );
    for (const h of history) {
      expect(h.appliedAt).toBeGreaterThanOrEqual(before);
      expect(h.appliedAt).toBeLessThanOrEqual(Date.now());
    }
    expect(tables(db)).toEqual([
      'broker_profiles',
      'command_keys',
      'control_acks',
      'control_actions',
      'control_audit',
      'control_commands',
      'failover_policies',
      'incident_rules',
      'incident_suspects',
      'incident_timeline',
      'incidents',
      'mesh_events',
      'mesh_instances',
      'schema_version',
      'sqlite_sequence',
      'stream_offsets',
      'telemetry_10s',
      'telemetry_1m',
      'telemetry_1s',
      'telemetry_marks',
      'telemetry_recent',
      'telemetry_series',
      'zone_failovers',
    ]);
    expect(migrationLines().map((l) => l.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('creates broker_profiles with the expected columns', () => {
    const db = openDb(join(dir, 'a.db'));
    const columns = (db.prepare('PRAGMA table_info(broker_profiles)').all() as Array<{ name: string }>).map((c) => c.name);
    expect(columns).toEqual([
      'id',
      'name',
      'url',
      'vhost',
      'username',
      'password_cipher',
      'heartbeat_s',
      'tls_ca_file',
      'tls_cert_file',
      'tls_key_file',
      'tls_servername',
      'tls_verify',
      'management_url',
      'auto_connect',
      'created_at',
      'updated_at',
      'management_username',
      'management_password_cipher',
    ]);
  });

  it('applies nothing on re-open and keeps the original history', () => {
    const path = join(dir, 'reopen.db');
    openDb(path).close();
    const firstRows = rawSchemaRows(path);
    logLines.length = 0;

    const db = openDb(path);
    expect(migrationLines()).toEqual([]);
    expect(rawSchemaRows(path)).toEqual(firstRows);
    expect(currentSchemaVersion(db)).toBe(MIGRATIONS.length);
  });

  it('applies only the new migrations when the code knows more than the file', () => {
    const path = join(dir, 'upgrade.db');
    openDb(path).close();
    logLines.length = 0;

    const next: Migration = { version: MIGRATIONS.length + 1, name: 'notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY) STRICT;' };
    const db = openDb(path, [...MIGRATIONS, next]);
    expect(migrationLines().map((l) => l.version)).toEqual([next.version]);
    expect(currentSchemaVersion(db)).toBe(next.version);
    expect(tables(db)).toContain('notes');
  });

  it('turns on WAL, foreign keys and a busy timeout', () => {
    const db = openDb(join(dir, 'wal.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    // WAL is a property of the file: a plain connection sees it too.
    db.close();
    const raw = new Database(join(dir, 'wal.db'));
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('sizes the page cache when asked, and refuses a size that is not a positive whole number of KiB', () => {
    const plain = openDb(join(dir, 'cache.db'));
    expect(plain.pragma('cache_size', { simple: true })).toBe(-16000);
    const small = openDatabase({ path: join(dir, 'cache.db'), logger, cacheKiB: 2048 });
    open.push(small);
    expect(small.pragma('cache_size', { simple: true })).toBe(-2048);
    for (const bad of [0, -5, 1.5, Number.NaN]) {
      expect(() => openDatabase({ path: join(dir, 'cache.db'), logger, cacheKiB: bad })).toThrow(StoreError);
    }
  });

  it('refuses a database newer than this code knows, with a StoreError, and leaves it untouched', () => {
    const path = join(dir, 'newer.db');
    const future: Migration = { version: MIGRATIONS.length + 1, name: 'from the future', sql: 'CREATE TABLE future (x INTEGER);' };
    openDb(path, [...MIGRATIONS, future]).close();
    const rows = rawSchemaRows(path);

    let thrown: unknown;
    try {
      openDb(path);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    const err = thrown as StoreError;
    expect(err.code).toBe('STORE_ERROR');
    expect(err.message).toContain(`schema version ${future.version}`);
    expect(err.message).toContain(`(${MIGRATIONS.length})`);
    expect(err.context).toEqual({ current: future.version, known: MIGRATIONS.length });
    expect(rawSchemaRows(path)).toEqual(rows);
  });

  it('rolls back a failing migration and names it in the StoreError', () => {
    const path = join(dir, 'broken.db');
    const broken: Migration = {
      version: MIGRATIONS.length + 1,
      name: 'half done',
      sql: 'CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);',
    };

    let thrown: unknown;
    try {
      openDb(path, [...MIGRATIONS, broken]);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    const err = thrown as StoreError;
    expect(err.message).toContain(`Migration ${broken.version} (half done) failed`);
    expect(err.message).toContain('no_such_table');
    expect(err.context).toEqual({ version: broken.version });
    expect(err.cause).toBeInstanceOf(Error);

    // The earlier migrations committed; the broken one left nothing behind.
    expect(rawSchemaRows(path).map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    const raw = new Database(path, { readonly: true });
    try {
      const names = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
      expect(names).not.toContain('half_done');
      expect(names).toContain('broker_profiles');
    } finally {
      raw.close();
    }

    // Fixing the migration and opening again applies it.
    const fixed = { ...broken, sql: 'CREATE TABLE half_done (x INTEGER);' };
    const db = openDb(path, [...MIGRATIONS, fixed]);
    expect(currentSchemaVersion(db)).toBe(fixed.version);
    expect(tables(db)).toContain('half_done');
  });

  it('does not run later migrations after one fails', () => {
    const path = join(dir, 'stop.db');
    const migrations: Migration[] = [
      { version: 1, name: 'one', sql: 'CREATE TABLE one (x INTEGER);' },
      { version: 2, name: 'two', sql: 'THIS IS NOT SQL;' },
      { version: 3, name: 'three', sql: 'CREATE TABLE three (x INTEGER);' },
    ];
    expect(() => openDb(path, migrations)).toThrow(/Migration 2 \(two\) failed/);
    expect(rawSchemaRows(path).map((r) => r.name)).toEqual(['one']);
  });

  it('wraps an unopenable path in a StoreError carrying the path', () => {
    const path = join(dir, 'missing', 'nope.db');
    let thrown: unknown;
    try {
      openDatabase({ path, logger, readonly: true });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    expect((thrown as StoreError).context).toEqual({ path });
    expect((thrown as StoreError).message).toContain(path);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('opens an existing database read-only without migrating it', () => {
    const path = join(dir, 'ro.db');
    openDb(path).close();
    logLines.length = 0;
    const db = openDatabase({ path, logger, readonly: true, migrations: [...MIGRATIONS, { version: 99, name: 'x', sql: 'CREATE TABLE x (y);' }] });
    open.push(db);
    expect(db.readonly).toBe(true);
    expect(currentSchemaVersion(db)).toBe(MIGRATIONS.length);
    expect(migrationLines()).toEqual([]);
  });

  it('reports version 0 for an empty schema_version table', () => {
    const db = openDb(join(dir, 'empty.db'), []);
    expect(currentSchemaVersion(db)).toBe(0);
    expect(schemaHistory(db)).toEqual([]);
    expect(tables(db)).toEqual(['schema_version']);
  });
});
