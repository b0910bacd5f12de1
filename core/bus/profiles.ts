/**
 * Broker connection profiles: saved ones in SQLite (password encrypted by the SecretStore),
 * plus at most one read-only profile from the command line (`--broker`), held in memory.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ProfileInput as ProfileInputSchema, type Profile, type ProfileInput } from '../api/contract.js';
import { ConflictError, NotFoundError, SecretsUnavailableError, ValidationError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { Db } from '../store/database.js';
import { parseBrokerUrl } from './broker-url.js';
import { buildTlsOptions, securityWarnings } from './tls.js';

type ParsedProfileInput = ReturnType<typeof ProfileInputSchema.parse>;

interface ProfileRow {
  id: string;
  name: string;
  url: string;
  vhost: string;
  username: string;
  password_cipher: Buffer | null;
  heartbeat_s: number;
  tls_ca_file: string | null;
  tls_cert_file: string | null;
  tls_key_file: string | null;
  tls_servername: string | null;
  tls_verify: number;
  management_url: string | null;
  management_username: string | null;
  management_password_cipher: Buffer | null;
  auto_connect: number;
  created_at: number;
  updated_at: number;
}

/** Everything rabbitmq-client needs to open a connection. Contains the password: never log it. */
export interface ConnectOptions {
  hostname: string;
  port: number;
  vhost: string;
  username: string;
  password: string;
  heartbeat: number;
  tls: false | TlsOptions;
  connectionName: string;
}

export const CLI_PROFILE_ID = 'cli';

/** Where and as whom to read a profile's management API. Contains the password: never log it. */
export interface ManagementAccess {
  /** null: no URL set and the broker is not on this machine. */
  baseUrl: string | null;
  /** True when the URL is the default for a local broker rather than one the profile sets. */
  defaulted: boolean;
  vhost: string;
  username: string;
  password: string;
  /** True when a separate (monitoring) user is set. */
  separateUser: boolean;
}

/** The session-password key of a profile's management password. */
const managementKey = (id: string): string => `${id}\u0000management`;

export class ProfileService extends EventEmitter<{ changed: [Profile[]] }> {
  /** Passwords that could not be saved (no persistent secret store), and the CLI profile's. */
  private readonly sessionPasswords = new Map<string, string>();
  private cliProfile: ProfileRow | null = null;

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretStore,
    private readonly logger: Logger,
  ) {
    super();
  }

  /**
   * Registers the read-only profile given on the command line (`--broker URL`, and
   * `--management URL` for its management API: needed for a broker on another machine, where
   * none is assumed).
   */
  setCommandLineProfile(rawUrl: string, options: { managementUrl?: string } = {}): Profile {
    const parsed = parseBrokerUrl(rawUrl, 'broker');
    const managementUrl = options.managementUrl?.trim() || null;
    if (managementUrl !== null && !/^https?:\/\/[^/\s]+/i.test(managementUrl)) {
      throw new ValidationError(`The management API URL "${managementUrl}" is not an http:// or https:// URL`, [{ path: 'management', message: 'must be an http:// or https:// URL' }]);
    }
    const now = Date.now();
    this.cliProfile = {
      id: CLI_PROFILE_ID,
      name: `${parsed.hostname}:${parsed.port} (command line)`,
      url: parsed.url,
      vhost: parsed.vhost ?? '/',
      username: parsed.username ?? 'guest',
      password_cipher: null,
      heartbeat_s: 30,
      tls_ca_file: parsed.tlsQuery.caFile,
      tls_cert_file: parsed.tlsQuery.certFile,
      tls_key_file: parsed.tlsQuery.keyFile,
      tls_servername: parsed.tlsQuery.servername,
      tls_verify: parsed.tlsQuery.verify ? 1 : 0,
      management_url: managementUrl,
      management_username: null,
      management_password_cipher: null,
      auto_connect: 1,
      created_at: now,
      updated_at: now,
    };
    this.sessionPasswords.set(CLI_PROFILE_ID, parsed.password ?? (parsed.username ? '' : 'guest'));
    this.emitChanged();
    return this.toProfile(this.cliProfile);
  }

  list(): Profile[] {
    const rows = this.db.prepare('SELECT * FROM broker_profiles ORDER BY name COLLATE NOCASE').all() as ProfileRow[];
    const all = this.cliProfile ? [this.cliProfile, ...rows] : rows;
    return all.map((row) => this.toProfile(row));
  }

  get(id: string): Profile {
    return this.toProfile(this.row(id));
  }

  create(input: ParsedProfileInput): Profile {
    const now = Date.now();
    const row = this.rowFromInput(input, { id: randomUUID(), created_at: now, updated_at: now });
    this.assertUniqueName(row.name, row.id);
    const password = this.passwordFromInput(input);
    row.password_cipher = password === undefined ? null : this.seal(row.id, password);
    row.management_password_cipher =
      input.managementPassword === undefined ? null : this.seal(managementKey(row.id), input.managementPassword);
    this.db
      .prepare(
        `INSERT INTO broker_profiles (id, name, url, vhost, username, password_cipher, heartbeat_s, tls_ca_file,
           tls_cert_file, tls_key_file, tls_servername, tls_verify, management_url, auto_connect, created_at, updated_at,
           management_username, management_password_cipher)
         VALUES (@id, @name, @url, @vhost, @username, @password_cipher, @heartbeat_s, @tls_ca_file, @tls_cert_file,
           @tls_key_file, @tls_servername, @tls_verify, @management_url, @auto_connect, @created_at, @updated_at,
           @management_username, @management_password_cipher)`,
      )
      .run(row);
    this.logger.info('profile created', { profileId: row.id, name: row.name, url: row.url });
    this.emitChanged();
    return this.toProfile(row);
  }

  update(id: string, patch: Partial<ParsedProfileInput>): Profile {
    if (id === CLI_PROFILE_ID) {
      throw new ConflictError('The command-line profile is read-only; restart with another --broker to change it', { id });
    }
    const current = this.row(id);
    const merged = ProfileInputSchema.parse({
      name: patch.name ?? current.name,
      url: patch.url ?? current.url,
      vhost: patch.vhost ?? (patch.url && parseBrokerUrl(patch.url).vhost ? undefined : current.vhost),
      username: patch.username ?? (patch.url && parseBrokerUrl(patch.url).username ? undefined : current.username),
      password: patch.password,
      heartbeatSeconds: patch.heartbeatSeconds ?? current.heartbeat_s,
      tls: patch.tls ?? {
        caFile: current.tls_ca_file ?? undefined,
        certFile: current.tls_cert_file ?? undefined,
        keyFile: current.tls_key_file ?? undefined,
        servername: current.tls_servername ?? undefined,
        verify: current.tls_verify === 1,
      },
      managementUrl: patch.managementUrl ?? current.management_url ?? undefined,
      autoConnect: patch.autoConnect ?? current.auto_connect === 1,
      managementUsername: patch.managementUsername ?? current.management_username ?? undefined,
      managementPassword: patch.managementPassword,
    });
    const row = this.rowFromInput(merged, { id, created_at: current.created_at, updated_at: Date.now() });
    this.assertUniqueName(row.name, id);
    const password = this.passwordFromInput(merged);
    if (password === undefined) {
      row.password_cipher = current.password_cipher;
    } else {
      this.sessionPasswords.delete(id);
      row.password_cipher = password === '' ? null : this.seal(id, password);
    }
    if (merged.managementPassword === undefined) {
      row.management_password_cipher = current.management_password_cipher;
    } else {
      this.sessionPasswords.delete(managementKey(id));
      row.management_password_cipher = this.seal(managementKey(id), merged.managementPassword);
    }
    this.db
      .prepare(
        `UPDATE broker_profiles SET name=@name, url=@url, vhost=@vhost, username=@username, password_cipher=@password_cipher,
           heartbeat_s=@heartbeat_s, tls_ca_file=@tls_ca_file, tls_cert_file=@tls_cert_file, tls_key_file=@tls_key_file,
           tls_servername=@tls_servername, tls_verify=@tls_verify, management_url=@management_url,
           auto_connect=@auto_connect, updated_at=@updated_at, management_username=@management_username,
           management_password_cipher=@management_password_cipher
         WHERE id=@id`,
      )
      .run(row);
    this.logger.info('profile updated', { profileId: id, name: row.name });
    this.emitChanged();
    return this.toProfile(row);
  }

  delete(id: string): void {
    if (id === CLI_PROFILE_ID) {
      throw new ConflictError('The command-line profile cannot be deleted; restart without --broker', { id });
    }
    const info = this.db.prepare('DELETE FROM broker_profiles WHERE id = ?').run(id);
    if (info.changes === 0) throw new NotFoundError('Profile', id);
    this.sessionPasswords.delete(id);
    this.sessionPasswords.delete(managementKey(id));
    this.logger.info('profile deleted', { profileId: id });
    this.emitChanged();
  }

  /** Builds connection options for a saved or command-line profile. */
  connectOptions(id: string): ConnectOptions {
    const row = this.row(id);
    return this.optionsFor(row, this.passwordOf(row));
  }

  /** Connection options for settings that are not saved (the "Test" button on an unsaved form). */
  connectOptionsForInput(input: ParsedProfileInput): ConnectOptions {
    const row = this.rowFromInput(input, { id: 'unsaved', created_at: 0, updated_at: 0 });
    return this.optionsFor(row, this.passwordFromInput(input) ?? '');
  }

  /**
   * Where and as whom to read the management HTTP API: the profile's URL, or
   * http://<host>:15672 for a broker on this machine; the monitoring user when one is set, else
   * the profile's own credentials. Contains a password: never log it.
   */
  managementAccess(id: string): ManagementAccess {
    const row = this.row(id);
    const parsed = parseBrokerUrl(row.url);
    const local = ['127.0.0.1', 'localhost', '::1'].includes(parsed.hostname);
    const baseUrl = row.management_url ?? (local ? `http://${parsed.hostname.includes(':') ? `[${parsed.hostname}]` : parsed.hostname}:15672` : null);
    const separate = Boolean(row.management_username);
    return {
      baseUrl,
      defaulted: row.management_url === null,
      vhost: row.vhost,
      username: separate ? row.management_username! : row.username,
      password: separate ? this.secretOf(managementKey(row.id), row.management_password_cipher) : this.passwordOf(row),
      separateUser: separate,
    };
  }

  // -------------------------------------------------------------------------------------------

  private optionsFor(row: ProfileRow, password: string): ConnectOptions {
    const parsed = parseBrokerUrl(row.url);
    const tls: false | TlsOptions = parsed.tls
      ? buildTlsOptions(
          { caFile: row.tls_ca_file, certFile: row.tls_cert_file, keyFile: row.tls_key_file, servername: row.tls_servername, verify: row.tls_verify === 1 },
          parsed.hostname,
        )
      : false;
    return {
      hostname: parsed.hostname,
      port: parsed.port,
      vhost: row.vhost,
      username: row.username,
      password,
      heartbeat: row.heartbeat_s,
      tls,
      connectionName: `meshdeck-console:${row.name}`,
    };
  }

  private row(id: string): ProfileRow {
    if (id === CLI_PROFILE_ID && this.cliProfile) return this.cliProfile;
    const row = this.db.prepare('SELECT * FROM broker_profiles WHERE id = ?').get(id) as ProfileRow | undefined;
    if (!row) throw new NotFoundError('Profile', id);
    return row;
  }

  private passwordOf(row: ProfileRow): string {
    return this.secretOf(row.id, row.password_cipher);
  }

  private secretOf(key: string, cipher: Buffer | null): string {
    const session = this.sessionPasswords.get(key);
    if (session !== undefined) return session;
    if (!cipher) return '';
    return this.secrets.decrypt(cipher);
  }

  /** Encrypts for storage; when no persistent store exists, keeps it for this session instead. */
  private seal(id: string, password: string): Buffer | null {
    if (password === '') return null;
    if (!this.secrets.persistent) {
      this.sessionPasswords.set(id, password);
      this.logger.warn('password kept in memory only', { profileId: id, reason: this.secrets.detail });
      return null;
    }
    try {
      return this.secrets.encrypt(password);
    } catch (err) {
      throw new SecretsUnavailableError(`The password could not be encrypted: ${errorMessage(err)}`, { profileId: id });
    }
  }

  private passwordFromInput(input: ParsedProfileInput | Partial<ParsedProfileInput>): string | undefined {
    if (input.password !== undefined) return input.password;
    if (input.url) return parseBrokerUrl(input.url).password ?? undefined;
    return undefined;
  }

  private rowFromInput(input: ParsedProfileInput, ids: Pick<ProfileRow, 'id' | 'created_at' | 'updated_at'>): ProfileRow {
    const parsed = parseBrokerUrl(input.url);
    // A pasted URL's TLS query (cacertfile=…, verify=verify_none, as agents take it) fills what the form leaves empty.
    const q = parsed.tlsQuery;
    const tls = {
      caFile: input.tls?.caFile || q.caFile || undefined,
      certFile: input.tls?.certFile || q.certFile || undefined,
      keyFile: input.tls?.keyFile || q.keyFile || undefined,
      servername: input.tls?.servername || q.servername || undefined,
      verify: input.tls?.verify !== false && q.verify,
    };
    if (!parsed.tls && (tls.caFile || tls.certFile || tls.keyFile)) {
      throw new ValidationError('TLS files are set but the URL is amqp://; use amqps:// to connect with TLS', [
        { path: 'url', message: 'use amqps:// with TLS files' },
      ]);
    }
    if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) {
      throw new ValidationError('A client certificate needs both its certificate file and its key file', [
        { path: tls.certFile ? 'tls.keyFile' : 'tls.certFile', message: 'set both the certificate and the key file' },
      ]);
    }
    const orNull = (v: string | undefined) => (v ? v : null);
    return {
      ...ids,
      name: input.name,
      url: parsed.url,
      vhost: input.vhost || parsed.vhost || '/',
      username: input.username || parsed.username || '',
      password_cipher: null,
      heartbeat_s: input.heartbeatSeconds,
      tls_ca_file: orNull(tls.caFile),
      tls_cert_file: orNull(tls.certFile),
      tls_key_file: orNull(tls.keyFile),
      tls_servername: orNull(tls.servername),
      tls_verify: tls.verify ? 1 : 0,
      management_url: orNull(input.managementUrl),
      management_username: orNull(input.managementUsername),
      management_password_cipher: null,
      auto_connect: input.autoConnect ? 1 : 0,
    };
  }

  private assertUniqueName(name: string, exceptId: string): void {
    const clash = this.db
      .prepare('SELECT id FROM broker_profiles WHERE name = ? COLLATE NOCASE AND id <> ?')
      .get(name, exceptId) as { id: string } | undefined;
    if (clash) throw new ConflictError(`A profile named "${name}" already exists`, { name });
  }

  private toProfile(row: ProfileRow): Profile {
    const tlsEnabled = row.url.startsWith('amqps:');
    return {
      id: row.id,
      name: row.name,
      url: row.url,
      vhost: row.vhost,
      username: row.username,
      passwordStorage: this.sessionPasswords.has(row.id) ? 'session' : row.password_cipher ? 'encrypted' : 'none',
      heartbeatSeconds: row.heartbeat_s,
      tls: {
        enabled: tlsEnabled,
        caFile: row.tls_ca_file,
        certFile: row.tls_cert_file,
        keyFile: row.tls_key_file,
        servername: row.tls_servername,
        verify: row.tls_verify === 1,
      },
      managementUrl: row.management_url,
      autoConnect: row.auto_connect === 1,
      managementUsername: row.management_username,
      managementPasswordStorage: this.sessionPasswords.has(managementKey(row.id))
        ? 'session'
        : row.management_password_cipher
          ? 'encrypted'
          : 'none',
      source: row.id === CLI_PROFILE_ID ? 'cli' : 'saved',
      warnings: securityWarnings({ tls: tlsEnabled, verify: row.tls_verify === 1, hostname: parseBrokerUrl(row.url).hostname }),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private emitChanged(): void {
    this.emit('changed', this.list());
  }
}

export type { ProfileInput };
