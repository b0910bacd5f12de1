/**
 * The database in trouble, on a real file system: locked by another process, on a full disk (a
 * 2 MiB tmpfs), on a read-only file system. Each time the API answers STORE_ERROR with
 * a sentence that says what is wrong, `system.storage` says so too, nothing is half-written, and
 * once the cause is gone writes go through again and `PRAGMA integrity_check` is ok. A database
 * on a read-only file system is refused at start with a clear error and left untouched.
 * Needs root (mount), as CI has.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageHealth } from '../../core/api/contract.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { MeshdeckError } from '../../core/lib/errors.js';
import { silentLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';

const ctx = { transport: 'internal' as const, actor: 'chaos' };
let dir: string;
let dbPath: string;
let core: MeshCore;
let mounted = false;
const storage: StorageHealth[] = [];
let created = 0;

const profile = (name: string) => ({ name, url: 'amqp://127.0.0.1:5672', username: 'guest', password: 'guest' });

async function create(name: string): Promise<MeshdeckError | null> {
  try {
    await core.router.call('profiles.create', profile(name), ctx);
    created += 1;
    return null;
  } catch (err) {
    if (err instanceof MeshdeckError) return err;
    throw err;
  }
}

async function storageNow(): Promise<StorageHealth> {
  return ((await core.router.call('system.info', {}, ctx)) as { storage: StorageHealth }).storage;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-storage-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
  mounted = true;
  dbPath = join(dir, 'meshdeck.db');
  core = createMeshCore({ databasePath: dbPath, secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless' });
  core.router.subscribe('system.storage', (value) => storage.push(value as StorageHealth));
});

afterAll(async () => {
  await core?.close();
  if (mounted) execFileSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
});

function integrity(): string {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

async function profileNames(): Promise<string[]> {
  return ((await core.router.call('profiles.list', {}, ctx)) as Array<{ name: string }>).map((p) => p.name);
}

describe('chaos: the database cannot be written', () => {
  it('locked by another process: a clear error, then writes resume', async () => {
    expect(await create('before-lock')).toBeNull();
    const other = new Database(dbPath);
    other.exec('BEGIN EXCLUSIVE');
    try {
      const err = await create('while-locked');
      expect(err?.code).toBe('STORE_ERROR');
      expect(err?.message).toMatch(/^Could not save the change \(profiles\.create\): the database .*meshdeck\.db failed \(another process holds a lock on it/);
      expect(await storageNow()).toMatchObject({ state: 'failing', problem: 'locked', operation: 'the change (profiles.create)' });
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    expect(await create('after-lock')).toBeNull();
    expect((await storageNow()).state).toBe('ok');
    expect(await profileNames()).toEqual(expect.arrayContaining(['before-lock', 'after-lock']));
    expect(await profileNames()).not.toContain('while-locked');
  }, 30_000);

  it('on a full disk: a clear error, nothing half-written, writes resume once there is space', async () => {
    // Fill the file system.
    const filler = join(dir, 'filler');
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    // Writes that fit in pages the database already has may still succeed; keep writing until one cannot.
    let failure: MeshdeckError | null = null;
    for (let i = 0; i < 3000 && !failure; i++) failure = await create(`full-${i}`);
    expect(failure?.code).toBe('STORE_ERROR');
    expect(failure?.message).toMatch(/the disk is full; free space on the disk that holds it/);
    expect(await storageNow()).toMatchObject({ state: 'failing', problem: 'full' });
    const before = created;

    rmSync(filler);
    expect(await create('after-full')).toBeNull();
    expect((await storageNow()).state).toBe('ok');
    expect(integrity()).toBe('ok');
    // Every write that was answered OK is there; the refused one is not.
    const names = await profileNames();
    expect(names.filter((n) => n.startsWith('full-'))).toHaveLength(before - 2);
    expect(names).toContain('after-full');
  }, 60_000);

  it('on a read-only file system: refused at start with a clear error, the file untouched', async () => {
    await core.close();
    const view = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-storage-ro-'));
    execFileSync('mount', ['--bind', dir, view]);
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', view]);
      let thrown: unknown;
      try {
        createMeshCore({ databasePath: join(view, 'meshdeck.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless' }).close();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(MeshdeckError);
      expect((thrown as MeshdeckError).code).toBe('STORE_ERROR');
      expect((thrown as MeshdeckError).message).toMatch(/^Cannot prepare the database at .*meshdeck\.db: .* \(the file or its (file system is read-only|directory cannot be opened for writing); check .*\)$/);
    } finally {
      execFileSync('umount', [view]);
      rmSync(view, { recursive: true, force: true });
    }
    expect(integrity()).toBe('ok');
    // Back on the writable path, everything saved before is there.
    core = createMeshCore({ databasePath: dbPath, secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless' });
    expect(await profileNames()).toEqual(expect.arrayContaining(['before-lock', 'after-lock', 'after-full']));
    // The topic told every change, in order.
    expect(storage.map((s) => s.problem ?? 'ok')).toEqual(['ok', 'locked', 'ok', 'full', 'ok']);
  }, 30_000);
});
