import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProfileInput, methods, type Profile } from '../api/contract.js';
import { ConflictError, NotFoundError, SecretsUnavailableError, ValidationError, type MeshdeckError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/log.js';
import { memorySecretStore, passphraseSecretStore, type SecretStore } from '../secrets/secret-store.js';
import { openDatabase, type Db } from '../store/database.js';
import { CLI_PROFILE_ID, ProfileService } from './profiles.js';

// One passphrase store for the whole file: scrypt is deliberately slow.
const passphraseStore = passphraseSecretStore('unit-test passphrase, not a real one');
const PASSWORD = 'S3cr3t-p@ss-phrase!';

let dir: string;
let db: Db;
let logLines: string[];
let logger: Logger;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-profiles-'));
  logLines = [];
  logger = createLogger({ level: 'debug', sink: (line) => logLines.push(line) });
  db = openDatabase({ path: join(dir, 'meshdeck.db'), logger });
});

afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

function service(secrets: SecretStore = passphraseStore): ProfileService {
  return new ProfileService(db, secrets, logger);
}

/** What the router hands the service: the contract-parsed input (defaults applied). */
const input = (raw: ProfileInput) => ProfileInput.parse(raw);

function rawRow(id: string): Record<string, unknown> {
  const row = db.prepare('SELECT * FROM broker_profiles WHERE id = ?').get(id) as Record<string, unknown> | undefined;
  if (!row) throw new Error(`no row ${id}`);
  return row;
}

function thrown<E extends MeshdeckError>(type: new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected ${type.name}`);
}

function writeFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('ProfileService: create, list, get', () => {
  it('creates a profile with defaults and returns the contract shape', () => {
    const profiles = service();
    const before = Date.now();
    const created = profiles.create(input({ name: 'local', url: 'amqp://127.0.0.1' }));
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'local',
      url: 'amqp://127.0.0.1:5672',
      vhost: '/',
      username: '',
      passwordStorage: 'none',
      heartbeatSeconds: 30,
      tls: { enabled: false, caFile: null, certFile: null, keyFile: null, servername: null, verify: true },
      managementUrl: null,
      autoConnect: false,
      managementUsername: null,
      managementPasswordStorage: 'none',
      source: 'saved',
      warnings: [],
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
    });
    expect(created.createdAt).toBeGreaterThanOrEqual(before);
    expect(created.updatedAt).toBe(created.createdAt);
    expect(profiles.get(created.id)).toEqual(created);
  });

  it('keeps every field it is given', () => {
    const profiles = service();
    const ca = writeFile('ca.pem', 'CA');
    const created = profiles.create(
      input({
        name: 'prod',
        url: 'amqps://rabbit.prod:5671',
        vhost: 'orders',
        username: 'ops',
        heartbeatSeconds: 10,
        tls: { caFile: ca, servername: 'rabbit.internal', verify: false },
        managementUrl: 'https://rabbit.prod:15671',
        autoConnect: true,
      }),
    );
    expect(profiles.get(created.id)).toMatchObject({
      url: 'amqps://rabbit.prod:5671',
      vhost: 'orders',
      username: 'ops',
      heartbeatSeconds: 10,
      tls: { enabled: true, caFile: ca, certFile: null, keyFile: null, servername: 'rabbit.internal', verify: false },
      managementUrl: 'https://rabbit.prod:15671',
      autoConnect: true,
    });
  });

  it('survives a new service instance over the same database (it is really stored)', () => {
    const created = service().create(input({ name: 'kept', url: 'amqp://h/v', password: PASSWORD }));
    const again = service();
    expect(again.get(created.id)).toEqual(created);
    expect(again.connectOptions(created.id).password).toBe(PASSWORD);
  });

  it('lists saved profiles by name, case-insensitively', () => {
    const profiles = service();
    for (const name of ['beta', 'Alpha', 'gamma']) profiles.create(input({ name, url: 'amqp://h' }));
    expect(profiles.list().map((p) => p.name)).toEqual(['Alpha', 'beta', 'gamma']);
  });

  it('throws NotFoundError for an unknown id', () => {
    const profiles = service();
    const err = thrown(NotFoundError, () => profiles.get('no-such-id'));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.context).toEqual({ what: 'Profile', id: 'no-such-id' });
    expect(() => profiles.connectOptions('no-such-id')).toThrow(NotFoundError);
  });

  it('refuses duplicate names, also differing only in case, and stores nothing', () => {
    const profiles = service();
    profiles.create(input({ name: 'Local', url: 'amqp://h' }));
    const err = thrown(ConflictError, () => profiles.create(input({ name: 'local', url: 'amqp://other' })));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain('"local"');
    expect(profiles.list()).toHaveLength(1);
  });

  it('moves credentials from the URL to username and password', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'creds', url: 'amqp://alice:p%40ss@rabbit:5673/%2Fstaging' }));
    expect(created.url).toBe('amqp://rabbit:5673');
    expect(created.username).toBe('alice');
    expect(created.vhost).toBe('/staging');
    expect(created.passwordStorage).toBe('encrypted');
    expect(rawRow(created.id).url).toBe('amqp://rabbit:5673');
    expect(profiles.connectOptions(created.id)).toMatchObject({ username: 'alice', password: 'p@ss', vhost: '/staging', port: 5673 });
  });

  it('prefers explicit username, password and vhost over the URL parts', () => {
    const profiles = service();
    const created = profiles.create(
      input({ name: 'explicit', url: 'amqp://urluser:urlpass@h/urlvhost', username: 'bob', password: 'bobpass', vhost: 'v2' }),
    );
    expect(created).toMatchObject({ username: 'bob', vhost: 'v2' });
    expect(profiles.connectOptions(created.id)).toMatchObject({ username: 'bob', password: 'bobpass', vhost: 'v2' });
  });

  it('treats an empty password as "no password"', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'empty', url: 'amqp://h', password: '' }));
    expect(created.passwordStorage).toBe('none');
    expect(rawRow(created.id).password_cipher).toBeNull();
    expect(profiles.connectOptions(created.id).password).toBe('');
  });
});

describe('ProfileService: passwords at rest', () => {
  it('stores only ciphertext, which the secret store decrypts back', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'secure', url: 'amqp://h', username: 'u', password: PASSWORD }));
    expect(created.passwordStorage).toBe('encrypted');

    const cipher = rawRow(created.id).password_cipher;
    expect(Buffer.isBuffer(cipher)).toBe(true);
    const blob = cipher as Buffer;
    expect(blob.includes(Buffer.from(PASSWORD, 'utf8'))).toBe(false);
    expect(blob.toString('latin1')).not.toContain(PASSWORD);
    expect(passphraseStore.decrypt(blob)).toBe(PASSWORD);
    expect(profiles.connectOptions(created.id).password).toBe(PASSWORD);
  });

  it('never writes the password to the database files or the log', () => {
    const profiles = service();
    profiles.create(input({ name: 'a', url: `amqp://u:${encodeURIComponent(PASSWORD)}@h` }));
    const b = profiles.create(input({ name: 'b', url: 'amqp://h', password: PASSWORD }));
    profiles.update(b.id, { password: `${PASSWORD}-2` });
    db.close();
    const needle = Buffer.from(PASSWORD, 'utf8');
    for (const file of ['meshdeck.db', 'meshdeck.db-wal']) {
      const path = join(dir, file);
      if (existsSync(path)) expect(readFileSync(path).includes(needle), file).toBe(false);
    }
    expect(logLines.join('\n')).not.toContain(PASSWORD);
    expect(logLines.join('\n')).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('keeps the password in memory only with a memory secret store', () => {
    const profiles = service(memorySecretStore('no keychain'));
    const created = profiles.create(input({ name: 'session', url: 'amqp://h', username: 'u', password: PASSWORD }));
    expect(created.passwordStorage).toBe('session');
    expect(profiles.get(created.id).passwordStorage).toBe('session');
    expect(rawRow(created.id).password_cipher).toBeNull();
    expect(profiles.connectOptions(created.id).password).toBe(PASSWORD);
    expect(logLines.some((l) => l.includes('password kept in memory only') && l.includes('no keychain'))).toBe(true);

    // A restart (new service over the same file) has forgotten it.
    const restarted = service(memorySecretStore('no keychain'));
    expect(restarted.get(created.id).passwordStorage).toBe('none');
    expect(restarted.connectOptions(created.id).password).toBe('');
  });

  it('also keeps URL credentials in memory only with a memory secret store', () => {
    const profiles = service(memorySecretStore('no keychain'));
    const created = profiles.create(input({ name: 'url-session', url: 'amqp://bob:pw@h' }));
    expect(created).toMatchObject({ username: 'bob', passwordStorage: 'session' });
    expect(rawRow(created.id).password_cipher).toBeNull();
    expect(profiles.connectOptions(created.id).password).toBe('pw');
  });

  it('reports a password saved with another passphrase as SecretsUnavailableError when connecting', () => {
    const created = service().create(input({ name: 'x', url: 'amqp://h', password: PASSWORD }));
    const other = service(passphraseSecretStore('another passphrase entirely'));
    expect(other.get(created.id).passwordStorage).toBe('encrypted');
    expect(() => other.connectOptions(created.id)).toThrow(SecretsUnavailableError);
  });

  it('wraps a store that fails to encrypt in SecretsUnavailableError and saves nothing', () => {
    const broken: SecretStore = {
      kind: 'safeStorage',
      persistent: true,
      detail: 'broken keychain',
      encrypt: () => {
        throw new Error('keychain locked');
      },
      decrypt: () => '',
    };
    const profiles = service(broken);
    const err = thrown(SecretsUnavailableError, () => profiles.create(input({ name: 'x', url: 'amqp://h', password: 'pw' })));
    expect(err.message).toContain('keychain locked');
    expect(profiles.list()).toEqual([]);
  });
});

describe('ProfileService: update', () => {
  it('changes the given fields and keeps the others (including createdAt)', () => {
    const profiles = service();
    const created = profiles.create(
      input({ name: 'orig', url: 'amqp://h:5672', vhost: 'v', username: 'u', heartbeatSeconds: 15, autoConnect: true, managementUrl: 'http://h:15672' }),
    );
    const updated = profiles.update(created.id, { name: 'renamed' });
    expect(updated).toEqual({ ...created, name: 'renamed', updatedAt: updated.updatedAt });
    expect(updated.updatedAt).toBeGreaterThanOrEqual(created.updatedAt);
    expect(profiles.get(created.id)).toEqual(updated);
  });

  it('keeps heartbeat and autoConnect when a patch parsed by the API contract omits them', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'orig', url: 'amqp://h', heartbeatSeconds: 15, autoConnect: true }));
    const parsed = methods['profiles.update'].input.parse({ id: created.id, patch: { name: 'renamed' } });
    const updated = profiles.update(parsed.id, parsed.patch);
    expect(updated).toMatchObject({ name: 'renamed', heartbeatSeconds: 15, autoConnect: true });
  });

  it('keeps the saved password when the patch has none', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'p', url: 'amqp://h', password: PASSWORD }));
    const cipherBefore = rawRow(created.id).password_cipher as Buffer;
    const updated = profiles.update(created.id, { heartbeatSeconds: 5 });
    expect(updated.passwordStorage).toBe('encrypted');
    expect((rawRow(created.id).password_cipher as Buffer).equals(cipherBefore)).toBe(true);
    expect(profiles.connectOptions(created.id).password).toBe(PASSWORD);
  });

  it('replaces the password when a new one is given', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'p', url: 'amqp://h', password: PASSWORD }));
    profiles.update(created.id, { password: 'new-password' });
    expect(profiles.connectOptions(created.id).password).toBe('new-password');
    expect(passphraseStore.decrypt(rawRow(created.id).password_cipher as Buffer)).toBe('new-password');
  });

  it('clears the password with an empty string', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'p', url: 'amqp://h', password: PASSWORD }));
    const updated = profiles.update(created.id, { password: '' });
    expect(updated.passwordStorage).toBe('none');
    expect(rawRow(created.id).password_cipher).toBeNull();
    expect(profiles.connectOptions(created.id).password).toBe('');
  });

  it('keeps, replaces and clears a session-only password the same way', () => {
    const profiles = service(memorySecretStore('no keychain'));
    const created = profiles.create(input({ name: 's', url: 'amqp://h', password: 'first' }));
    expect(profiles.update(created.id, { vhost: 'v' }).passwordStorage).toBe('session');
    expect(profiles.connectOptions(created.id).password).toBe('first');
    profiles.update(created.id, { password: 'second' });
    expect(profiles.connectOptions(created.id).password).toBe('second');
    expect(profiles.update(created.id, { password: '' }).passwordStorage).toBe('none');
    expect(profiles.connectOptions(created.id).password).toBe('');
  });

  it('takes new credentials and vhost from a new URL', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'p', url: 'amqp://old@h/oldv', password: 'old' }));
    const updated = profiles.update(created.id, { url: 'amqp://new:newpw@h2/newv' });
    expect(updated).toMatchObject({ url: 'amqp://h2:5672', username: 'new', vhost: 'newv', passwordStorage: 'encrypted' });
    expect(profiles.connectOptions(created.id)).toMatchObject({ hostname: 'h2', username: 'new', password: 'newpw', vhost: 'newv' });
  });

  it('keeps the saved username and vhost when the new URL has none', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'p', url: 'amqp://h', username: 'bob', vhost: 'v1' }));
    expect(profiles.update(created.id, { url: 'amqp://h2:5680' })).toMatchObject({ url: 'amqp://h2:5680', username: 'bob', vhost: 'v1' });
  });

  it('refuses renaming onto another profile’s name, but allows a case change of its own', () => {
    const profiles = service();
    profiles.create(input({ name: 'one', url: 'amqp://h' }));
    const two = profiles.create(input({ name: 'two', url: 'amqp://h' }));
    expect(() => profiles.update(two.id, { name: 'ONE' })).toThrow(ConflictError);
    expect(profiles.get(two.id).name).toBe('two');
    expect(profiles.update(two.id, { name: 'Two' }).name).toBe('Two');
  });

  it('throws NotFoundError for an unknown id', () => {
    expect(() => service().update('missing', { name: 'x' })).toThrow(NotFoundError);
  });

  it('replaces the TLS settings as a whole', () => {
    const profiles = service();
    const ca = writeFile('ca.pem', 'CA');
    const created = profiles.create(input({ name: 't', url: 'amqps://h', tls: { caFile: ca, servername: 'sni', verify: false } }));
    const updated = profiles.update(created.id, { tls: { servername: 'other', verify: true } });
    expect(updated.tls).toEqual({ enabled: true, caFile: null, certFile: null, keyFile: null, servername: 'other', verify: true });
    // Without a tls patch the saved TLS settings stay.
    expect(profiles.update(created.id, { name: 't2' }).tls).toEqual(updated.tls);
  });
});

describe('ProfileService: delete', () => {
  it('deletes a saved profile', () => {
    const profiles = service();
    const a = profiles.create(input({ name: 'a', url: 'amqp://h' }));
    const b = profiles.create(input({ name: 'b', url: 'amqp://h' }));
    profiles.delete(a.id);
    expect(profiles.list().map((p) => p.id)).toEqual([b.id]);
    expect(() => profiles.get(a.id)).toThrow(NotFoundError);
    expect(db.prepare('SELECT COUNT(*) AS n FROM broker_profiles WHERE id = ?').get(a.id)).toEqual({ n: 0 });
  });

  it('forgets a session password with the profile', () => {
    const profiles = service(memorySecretStore('none'));
    const a = profiles.create(input({ name: 'a', url: 'amqp://h', password: 'pw' }));
    profiles.delete(a.id);
    // Re-inserting the same id directly (as a restore would) must not resurrect the password.
    db.prepare(
      "INSERT INTO broker_profiles (id, name, url, created_at, updated_at) VALUES (?, 'a', 'amqp://h:5672', 1, 1)",
    ).run(a.id);
    expect(profiles.get(a.id).passwordStorage).toBe('none');
    expect(profiles.connectOptions(a.id).password).toBe('');
  });

  it('throws NotFoundError for an unknown id', () => {
    const err = thrown(NotFoundError, () => service().delete('missing'));
    expect(err.context).toEqual({ what: 'Profile', id: 'missing' });
  });
});

describe('ProfileService: command-line profile', () => {
  it('is listed first, read-only, and marked as cli', () => {
    const profiles = service();
    profiles.create(input({ name: 'aaa first by name', url: 'amqp://h' }));
    const cli = profiles.setCommandLineProfile('amqp://ops:pw@rabbit.local:5673/prod');
    expect(cli).toMatchObject({
      id: CLI_PROFILE_ID,
      name: 'rabbit.local:5673 (command line)',
      url: 'amqp://rabbit.local:5673',
      vhost: 'prod',
      username: 'ops',
      passwordStorage: 'session',
      autoConnect: true,
      source: 'cli',
    });
    expect(profiles.list().map((p) => p.id)[0]).toBe(CLI_PROFILE_ID);
    expect(profiles.list().map((p) => p.source)).toEqual(['cli', 'saved']);
    expect(profiles.get(CLI_PROFILE_ID)).toEqual(cli);
    // Never written to the database.
    expect(db.prepare('SELECT COUNT(*) AS n FROM broker_profiles').get()).toEqual({ n: 1 });
  });

  it('refuses update and delete with ConflictError', () => {
    const profiles = service();
    profiles.setCommandLineProfile('amqp://h');
    const update = thrown(ConflictError, () => profiles.update(CLI_PROFILE_ID, { name: 'mine now' }));
    expect(update.context).toEqual({ id: CLI_PROFILE_ID });
    thrown(ConflictError, () => profiles.delete(CLI_PROFILE_ID));
    expect(profiles.get(CLI_PROFILE_ID).name).toBe('h:5672 (command line)');
  });

  it('connects with the URL password, or guest/guest when the URL has no user', () => {
    const profiles = service();
    profiles.setCommandLineProfile('amqp://ops:p%2Fw@h/v');
    expect(profiles.connectOptions(CLI_PROFILE_ID)).toMatchObject({ username: 'ops', password: 'p/w', vhost: 'v' });
    profiles.setCommandLineProfile('amqp://h');
    expect(profiles.connectOptions(CLI_PROFILE_ID)).toMatchObject({ username: 'guest', password: 'guest', vhost: '/' });
    profiles.setCommandLineProfile('amqp://nopass@h');
    expect(profiles.connectOptions(CLI_PROFILE_ID)).toMatchObject({ username: 'nopass', password: '' });
    expect(profiles.list().filter((p) => p.source === 'cli')).toHaveLength(1);
  });

  it('works with a non-persistent secret store too (nothing to encrypt)', () => {
    const profiles = service(memorySecretStore('none'));
    profiles.setCommandLineProfile('amqp://u:pw@h');
    expect(profiles.connectOptions(CLI_PROFILE_ID).password).toBe('pw');
  });

  it('takes the management API URL given with the broker, and refuses one that is not http(s) on the "management" field', () => {
    const profiles = service();
    expect(profiles.setCommandLineProfile('amqp://u:pw@rabbit.example:5672', { managementUrl: 'https://rabbit.example:15671' }).managementUrl).toBe('https://rabbit.example:15671');
    expect(profiles.managementAccess(CLI_PROFILE_ID).baseUrl).toBe('https://rabbit.example:15671');
    const err = thrown(ValidationError, () => service().setCommandLineProfile('amqp://h', { managementUrl: 'ftp://h' }));
    expect(err.issues[0]?.path).toBe('management');
  });

  it('reports a bad --broker URL on the "broker" field', () => {
    const err = thrown(ValidationError, () => service().setCommandLineProfile('http://h'));
    expect(err.issues[0]?.path).toBe('broker');
  });

  it('is unknown while no command-line broker was given', () => {
    expect(() => service().get(CLI_PROFILE_ID)).toThrow(NotFoundError);
  });
});

describe('ProfileService: TLS validation', () => {
  it('refuses TLS files on an amqp:// URL', () => {
    const profiles = service();
    const ca = writeFile('ca.pem', 'CA');
    const err = thrown(ValidationError, () => profiles.create(input({ name: 't', url: 'amqp://h', tls: { caFile: ca } })));
    expect(err.issues).toEqual([{ path: 'url', message: 'use amqps:// with TLS files' }]);
    expect(profiles.list()).toEqual([]);
  });

  it('allows TLS options without files on amqp:// (they are simply unused)', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 't', url: 'amqp://h', tls: { verify: false } }));
    expect(created.tls.enabled).toBe(false);
    expect(profiles.connectOptions(created.id).tls).toBe(false);
  });

  it('refuses a certificate without its key, and a key without its certificate', () => {
    const profiles = service();
    const cert = writeFile('client.crt', 'CERT');
    const key = writeFile('client.key', 'KEY');
    const noKey = thrown(ValidationError, () => profiles.create(input({ name: 'a', url: 'amqps://h', tls: { certFile: cert } })));
    expect(noKey.issues.map((i) => i.path)).toEqual(['tls.keyFile']);
    const noCert = thrown(ValidationError, () => profiles.create(input({ name: 'b', url: 'amqps://h', tls: { keyFile: key } })));
    expect(noCert.issues.map((i) => i.path)).toEqual(['tls.certFile']);
    expect(profiles.list()).toEqual([]);
  });

  it('refuses switching a profile with TLS files to amqp:// in an update', () => {
    const profiles = service();
    const ca = writeFile('ca.pem', 'CA');
    const created = profiles.create(input({ name: 't', url: 'amqps://h', tls: { caFile: ca } }));
    expect(() => profiles.update(created.id, { url: 'amqp://h' })).toThrow(ValidationError);
    expect(profiles.get(created.id).url).toBe('amqps://h:5671');
  });
});

describe('ProfileService: connectOptions', () => {
  it('builds plain AMQP options', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'plain', url: 'amqp://u:pw@[::1]:5680/v', heartbeatSeconds: 12 }));
    expect(profiles.connectOptions(created.id)).toEqual({
      hostname: '::1',
      port: 5680,
      vhost: 'v',
      username: 'u',
      password: 'pw',
      heartbeat: 12,
      tls: false,
      connectionName: 'meshdeck-console:plain',
    });
  });

  it('reads the CA, certificate and key files for amqps and verifies by default', () => {
    const profiles = service();
    const ca = writeFile('ca.pem', '-----BEGIN CERTIFICATE-----\nCA\n');
    const cert = writeFile('client.crt', '-----BEGIN CERTIFICATE-----\nCLIENT CERT');
    const key = writeFile('client.key', '-----BEGIN PRIVATE KEY-----\nCLIENT KEY');
    const created = profiles.create(input({ name: 'tls', url: 'amqps://rabbit.prod', tls: { caFile: ca, certFile: cert, keyFile: key } }));
    const opts = profiles.connectOptions(created.id);
    expect(opts.port).toBe(5671);
    expect(opts.tls).not.toBe(false);
    if (opts.tls === false) return;
    expect(Buffer.isBuffer(opts.tls.ca)).toBe(true);
    expect(String(opts.tls.ca)).toBe('-----BEGIN CERTIFICATE-----\nCA\n');
    expect(String(opts.tls.cert)).toBe('-----BEGIN CERTIFICATE-----\nCLIENT CERT');
    expect(String(opts.tls.key)).toBe('-----BEGIN PRIVATE KEY-----\nCLIENT KEY');
    expect(opts.tls.rejectUnauthorized).toBe(true);
    expect(opts.tls.servername).toBe('rabbit.prod');
  });

  it('turns verification off only when asked, and honours a servername override', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'tls', url: 'amqps://10.0.0.5', tls: { verify: false, servername: 'rabbit.internal' } }));
    const opts = profiles.connectOptions(created.id);
    if (opts.tls === false) throw new Error('expected TLS options');
    expect(opts.tls.rejectUnauthorized).toBe(false);
    expect(opts.tls.servername).toBe('rabbit.internal');
    expect(opts.tls.ca).toBeUndefined();
    expect(opts.tls.cert).toBeUndefined();
    expect(opts.tls.key).toBeUndefined();
  });

  it('reports a missing CA file as a ValidationError on tls.caFile', () => {
    const profiles = service();
    const missing = join(dir, 'gone.pem');
    const created = profiles.create(input({ name: 'tls', url: 'amqps://h', tls: { caFile: missing } }));
    const err = thrown(ValidationError, () => profiles.connectOptions(created.id));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.path).toBe('tls.caFile');
    expect(err.issues[0]?.message).toContain('ENOENT');
    expect(err.message).toContain(missing);
  });

  it('reports a missing key file on tls.keyFile', () => {
    const profiles = service();
    const cert = writeFile('client.crt', '-----BEGIN CERTIFICATE-----\nCERT');
    const created = profiles.create(input({ name: 'tls', url: 'amqps://h', tls: { certFile: cert, keyFile: join(dir, 'nokey') } }));
    expect(thrown(ValidationError, () => profiles.connectOptions(created.id)).issues[0]?.path).toBe('tls.keyFile');
  });

  it('takes TLS settings from a pasted URL\u2019s query where the form leaves them empty', () => {
    const profiles = service();
    const created = profiles.create(input({ name: 'q', url: 'amqps://h/v?cacertfile=/etc/ca.pem&server_name_indication=rabbit.prod&verify=verify_none' }));
    expect(created.url).toBe('amqps://h:5671');
    expect(created.tls).toMatchObject({ caFile: '/etc/ca.pem', servername: 'rabbit.prod', verify: false });
    const form = profiles.create(input({ name: 'f', url: 'amqps://h?cacertfile=/etc/ca.pem', tls: { caFile: '/mine.pem' } }));
    expect(form.tls).toMatchObject({ caFile: '/mine.pem', verify: true });
  });

  it('refuses a file that is not PEM, naming it', () => {
    const profiles = service();
    const ca = writeFile('ca.der', 'binary stuff');
    const created = profiles.create(input({ name: 'tls', url: 'amqps://h', tls: { caFile: ca } }));
    const err = thrown(ValidationError, () => profiles.connectOptions(created.id));
    expect(err.issues[0]?.path).toBe('tls.caFile');
    expect(err.message).toBe(`The TLS CA file ${ca} is not a PEM file (no "-----BEGIN" line)`);
  });

  it('warns about verification off and about plain AMQP to a remote host, not otherwise', () => {
    const profiles = service();
    const w = (url: string, tls?: { verify: boolean }) => profiles.create(input({ name: url, url, ...(tls ? { tls } : {}) })).warnings;
    expect(w('amqps://rabbit.prod')).toEqual([]);
    expect(w('amqp://127.0.0.1')).toEqual([]);
    expect(w('amqps://rabbit.test', { verify: false })).toEqual([expect.stringMatching(/^TLS server verification is off/)]);
    expect(w('amqp://rabbit.remote')).toEqual([expect.stringMatching(/^Plain AMQP to a remote host/)]);
  });

  it('builds options for unsaved settings (the Test button) without storing anything', () => {
    const profiles = service();
    const opts = profiles.connectOptionsForInput(input({ name: 'draft', url: 'amqp://u:pw@h:5999/v' }));
    expect(opts).toMatchObject({ hostname: 'h', port: 5999, username: 'u', password: 'pw', vhost: 'v', connectionName: 'meshdeck-console:draft' });
    expect(profiles.connectOptionsForInput(input({ name: 'draft', url: 'amqp://h' })).password).toBe('');
    expect(profiles.list()).toEqual([]);
  });
});

describe('ProfileService: changed event', () => {
  function recordChanges(profiles: ProfileService): Profile[][] {
    const events: Profile[][] = [];
    profiles.on('changed', (list) => events.push(list));
    return events;
  }

  it('emits the whole list on create, update and delete', () => {
    const profiles = service();
    const events = recordChanges(profiles);
    const a = profiles.create(input({ name: 'a', url: 'amqp://h' }));
    expect(events).toEqual([[a]]);
    const renamed = profiles.update(a.id, { name: 'b' });
    expect(events).toHaveLength(2);
    expect(events[1]).toEqual([renamed]);
    profiles.delete(a.id);
    expect(events).toHaveLength(3);
    expect(events[2]).toEqual([]);
  });

  it('emits when the command-line profile is set', () => {
    const profiles = service();
    const events = recordChanges(profiles);
    profiles.setCommandLineProfile('amqp://h');
    expect(events).toHaveLength(1);
    expect(events[0]?.map((p) => p.id)).toEqual([CLI_PROFILE_ID]);
  });

  it('does not emit when an operation is refused', () => {
    const profiles = service();
    const a = profiles.create(input({ name: 'a', url: 'amqp://h' }));
    const events = recordChanges(profiles);
    expect(() => profiles.create(input({ name: 'A', url: 'amqp://h' }))).toThrow(ConflictError);
    expect(() => profiles.update('missing', { name: 'x' })).toThrow(NotFoundError);
    expect(() => profiles.delete('missing')).toThrow(NotFoundError);
    expect(() => profiles.update(a.id, { tls: { certFile: '/x', verify: true } })).toThrow(ValidationError);
    expect(events).toEqual([]);
  });
});

describe('ProfileService: management API access', () => {
  it('keeps a separate monitoring password encrypted, never in plain text, and hands it to managementAccess only', () => {
    const profiles = service();
    const created = profiles.create(
      input({ name: 'mon', url: 'amqp://guest:guest@127.0.0.1:5672', vhost: 'shop', managementUsername: 'monitor', managementPassword: PASSWORD }),
    );
    expect(created).toMatchObject({ managementUsername: 'monitor', managementPasswordStorage: 'encrypted', managementUrl: null });
    const cipher = rawRow(created.id).management_password_cipher as Buffer;
    expect(cipher.includes(Buffer.from(PASSWORD))).toBe(false);
    expect(readFileSync(join(dir, 'meshdeck.db')).includes(Buffer.from(PASSWORD))).toBe(false);
    expect(profiles.managementAccess(created.id)).toEqual({
      baseUrl: 'http://127.0.0.1:15672',
      defaulted: true,
      vhost: 'shop',
      username: 'monitor',
      password: PASSWORD,
      separateUser: true,
    });
    expect(JSON.stringify(profiles.list())).not.toContain(PASSWORD);

    // Editing other fields keeps the password; clearing the user goes back to the profile's own credentials.
    profiles.update(created.id, { heartbeatSeconds: 10 });
    expect((rawRow(created.id).management_password_cipher as Buffer).equals(cipher)).toBe(true);
    profiles.update(created.id, { managementUsername: '' });
    expect(profiles.managementAccess(created.id)).toMatchObject({ username: 'guest', password: 'guest', separateUser: false });
  });

  it('uses the profile’s URL when set, and has none for a remote broker without one', () => {
    const profiles = service(memorySecretStore('test'));
    const remote = profiles.create(input({ name: 'remote', url: 'amqps://rabbit.example.com:5671' }));
    expect(profiles.managementAccess(remote.id).baseUrl).toBeNull();
    const set = profiles.update(remote.id, { managementUrl: 'https://rabbit.example.com:15671' });
    expect(profiles.managementAccess(set.id)).toMatchObject({ baseUrl: 'https://rabbit.example.com:15671', defaulted: false });
  });
});
