import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { ControlCommand } from '../protocol/messages.js';
import { memorySecretStore, passphraseSecretStore } from '../secrets/secret-store.js';
import { openDatabase, type Db } from '../store/database.js';
import { CommandKeys } from './command-keys.js';
import { CommandVerifier, exportPrivateKey } from './signing.js';

let dir: string;
let path: string;
let db: Db;
let now: number;
const secrets = passphraseSecretStore('a long enough passphrase');
const keys = (store = secrets) => new CommandKeys({ db, mesh: 'm1', secrets: store, logger: silentLogger, now: () => now });
const command = () =>
  ControlCommand.parse({
    commandId: `cmd-${now}-${Math.random()}`,
    target: { service: 'orders' },
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 60_000).toISOString(),
    issuer: 'test',
    command: { action: 'drain' },
  });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-keys-'));
  path = join(dir, 'meshdeck.db');
  db = openDatabase({ path, logger: silentLogger });
  now = Date.parse('2026-11-27T12:00:00.000Z');
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CommandKeys', () => {
  it('creates one key on first need, keeps the private key only encrypted, and finds it again after a restart', () => {
    const first = keys().active();
    expect(keys().active().keyId).toBe(first.keyId);
    const secret = JSON.parse(exportPrivateKey(first)) as { d: string };
    db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(path).includes(Buffer.from(secret.d))).toBe(false);
    expect(keys().list()).toMatchObject([{ keyId: first.keyId, status: 'active', privateKey: 'secret-store' }]);
    expect(JSON.stringify(keys().list())).not.toContain(secret.d);
  });

  it('with a memory-only store, a restart creates a new key and retires the unreadable one', () => {
    const store = memorySecretStore('test');
    const first = keys(store).active();
    const restarted = keys(store);
    const second = restarted.active();
    expect(second.keyId).not.toBe(first.keyId);
    expect(restarted.list().map((k) => [k.keyId, k.status, k.privateKey])).toEqual([
      [second.keyId, 'active', 'memory'],
      [first.keyId, 'retired', 'unavailable'],
    ]);
  });

  it('rotates with a grace period: an agent trusting the old key follows, the old key expires', () => {
    const store = keys();
    const old = store.active();
    const verifier = new CommandVerifier({ trusted: [{ keyId: old.keyId, publicKey: old.publicKey }] });
    const oldSigned = store.sign(command());
    const { previous, active } = store.rotate('operator', 5000);
    expect(previous).toMatchObject({ keyId: old.keyId, status: 'retired', validUntil: now + 5000 });
    expect(store.chain().map((c) => [c.endorsedBy, c.keyId])).toEqual([[old.keyId, active.keyId]]);
    expect(verifier.verify(store.sign(command()), now)).toEqual({ ok: true, keyId: active.keyId });
    expect(verifier.verify(oldSigned, now + 5000).ok).toBe(true);
    now += 5001;
    const again = store.rotate('operator', 1000);
    expect(store.chain()).toHaveLength(2);
    expect(verifier.verify(store.sign(command()), now)).toEqual({ ok: true, keyId: again.active.keyId });
  });
});
