/**
 * The console's SQLite database: one file, WAL, numbered migrations applied at open.
 */
import { describeSqliteProblem } from './store-health.js';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

export interface OpenDatabaseOptions {
  path: string;
  logger: Logger;
  migrations?: readonly Migration[];
  readonly?: boolean;
  /**
   * The connection's page cache (KiB). Default: better-sqlite3's build, 16 000 KiB, which a
   * connection writing telemetry fills within minutes and keeps.
   */
  cacheKiB?: number;
}

export interface SchemaVersion {
  version: number;
  name: string;
  appliedAt: number;
}

export function openDatabase({ path, logger, migrations = MIGRATIONS, readonly = false, cacheKiB }: OpenDatabaseOptions): Db {
  if (cacheKiB !== undefined && !(Number.isInteger(cacheKiB) && cacheKiB > 0)) {
    throw new StoreError(`The page cache of the database at ${path} must be a whole number of KiB above 0, not ${cacheKiB}`, { path, cacheKiB });
  }
  let db: Db;
  try {
    if (path !== ':memory:' && !readonly) mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { readonly, fileMustExist: readonly });
  } catch (err) {
    throw new StoreError(`Cannot open the database at ${path}: ${errorMessage(err)}`, { path }, err);
  }
  try {
    if (cacheKiB !== undefined) db.pragma(`cache_size = -${cacheKiB}`);
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      applyMigrations(db, migrations, logger);
    }
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    const described = describeSqliteProblem(err);
    throw new StoreError(`Cannot prepare the database at ${path}: ${errorMessage(err)}${described ? ` (${described.why})` : ''}`, { path, ...(described ? { problem: described.problem } : {}) }, err);
  }
  return db;
}

export function applyMigrations(db: Db, migrations: readonly Migration[], logger: Logger): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const current = currentSchemaVersion(db);
  const known = migrations.at(-1)?.version ?? 0;
  if (current > known) {
    throw new StoreError(
      `The database is at schema version ${current}, newer than this Meshdeck understands (${known}); upgrade Meshdeck or use another --db`,
      { current, known },
    );
  }
  const insert = db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    const apply = db.transaction(() => {
      db.exec(migration.sql);
      insert.run(migration.version, migration.name, Date.now());
    });
    try {
      apply();
    } catch (err) {
      throw new StoreError(
        `Migration ${migration.version} (${migration.name}) failed: ${errorMessage(err)}`,
        { version: migration.version },
        err,
      );
    }
    logger.info('migration applied', { version: migration.version, name: migration.name });
  }
}

export function currentSchemaVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

export function schemaHistory(db: Db): SchemaVersion[] {
  return (
    db.prepare('SELECT version, name, applied_at AS appliedAt FROM schema_version ORDER BY version').all() as SchemaVersion[]
  );
}
