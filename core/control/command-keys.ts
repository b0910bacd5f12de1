/**
 * The per-mesh command signing keys (table `command_keys`): created on first need, rotated from
 * the console with a grace period for the old key. The private key is stored only through the
 * SecretStore (encrypted); when secrets cannot be saved it lives in memory for this session and
 * the next start creates a new key (agents pinned to the old one must be given the new one).
 */
import { KeyCertificate, type ControlCommand } from '../protocol/messages.js';
import type { Logger } from '../lib/log.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { Db } from '../store/database.js';
import { MAX_CHAIN, endorseKey, exportPrivateKey, fingerprint, generateCommandKey, importPrivateKey, signCommand, type CommandKeyPair } from './signing.js';

/** How long a rotated-out key still verifies by default: commands in flight at the rotation. */
export const DEFAULT_ROTATION_GRACE_MS = 10 * 60_000;

export interface CommandKeyInfo {
  keyId: string;
  fingerprint: string;
  publicKey: string;
  createdAt: number;
  createdBy: string;
  status: 'active' | 'retired';
  retiredAt: number | null;
  /** A retired key verifies nothing signed after this. */
  validUntil: number | null;
  /** Where the private key is: encrypted by the secret store, or in memory for this session. */
  privateKey: 'secret-store' | 'memory' | 'unavailable';
}

interface Row {
  key_id: string;
  public_key: string;
  private_cipher: Buffer | null;
  created_at: number;
  created_by: string;
  retired_at: number | null;
  valid_until: number | null;
  certificate: string | null;
}

export interface CommandKeysOptions {
  db: Db;
  mesh: string;
  secrets: SecretStore;
  logger: Logger;
  now?: () => number;
}

export class CommandKeys {
  private readonly memory = new Map<string, CommandKeyPair>();
  private readonly now: () => number;
  private readonly logger: Logger;

  constructor(private readonly options: CommandKeysOptions) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child('command-keys');
  }

  private rows(): Row[] {
    return this.options.db.prepare('SELECT * FROM command_keys WHERE mesh = ? ORDER BY seq').all(this.options.mesh) as Row[];
  }

  private privateOf(row: Row): CommandKeyPair | null {
    const held = this.memory.get(row.key_id);
    if (held) return held;
    if (!row.private_cipher || !this.options.secrets.persistent) return null;
    try {
      const key = importPrivateKey(this.options.secrets.decrypt(row.private_cipher));
      this.memory.set(key.keyId, key);
      return key;
    } catch (err) {
      this.logger.warn('the command key cannot be decrypted', { keyId: row.key_id, err });
      return null;
    }
  }

  private insert(key: CommandKeyPair, actor: string, certificate: KeyCertificate | null): void {
    this.memory.set(key.keyId, key);
    const cipher = this.options.secrets.persistent ? this.options.secrets.encrypt(exportPrivateKey(key)) : null;
    this.options.db
      .prepare(
        `INSERT INTO command_keys (mesh, key_id, seq, public_key, private_cipher, created_at, created_by, certificate)
         VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM command_keys WHERE mesh = ?), ?, ?, ?, ?, ?)`,
      )
      .run(this.options.mesh, key.keyId, this.options.mesh, key.publicKey, cipher, this.now(), actor, certificate ? JSON.stringify(certificate) : null);
  }

  private retire(keyId: string, validUntil: number): void {
    this.options.db.prepare('UPDATE command_keys SET retired_at = ?, valid_until = ? WHERE mesh = ? AND key_id = ?').run(this.now(), validUntil, this.options.mesh, keyId);
  }

  /** The active key, created on first need (or anew when its private key cannot be read). */
  active(): CommandKeyPair {
    const row = this.rows().find((r) => r.retired_at === null);
    const key = row ? this.privateOf(row) : null;
    if (row && key) return key;
    const created = generateCommandKey();
    this.options.db.transaction(() => {
      if (row) this.retire(row.key_id, this.now());
      this.insert(created, 'core', null);
    })();
    if (row) this.logger.warn('the command key could not be read (secrets are not saved); a new one was created: agents pinned to the old key need the new one', { old: row.key_id, keyId: created.keyId });
    else this.logger.info('command signing key created', { keyId: created.keyId, fingerprint: fingerprint(created.publicKey) });
    return created;
  }

  /** Makes a new key active; the old one endorses it and verifies until now + graceMs. */
  rotate(actor: string, graceMs = DEFAULT_ROTATION_GRACE_MS): { previous: CommandKeyInfo; active: CommandKeyInfo } {
    const previous = this.active();
    const next = generateCommandKey();
    const validUntil = this.now() + graceMs;
    const certificate = endorseKey(previous, next, validUntil);
    this.options.db.transaction(() => {
      this.retire(previous.keyId, validUntil);
      this.insert(next, actor, certificate);
    })();
    this.logger.info('command signing key rotated', { previous: previous.keyId, keyId: next.keyId, validUntil });
    const list = this.list();
    return { previous: list.find((k) => k.keyId === previous.keyId)!, active: list.find((k) => k.keyId === next.keyId)! };
  }

  /** The certificates from the oldest still-chained key to the active one (at most MAX_CHAIN). */
  chain(): KeyCertificate[] {
    const certs: KeyCertificate[] = [];
    for (const row of this.rows()) {
      if (!row.certificate) {
        certs.length = 0;
        continue;
      }
      certs.push(KeyCertificate.parse(JSON.parse(row.certificate)));
    }
    return certs.slice(-MAX_CHAIN);
  }

  sign(command: ControlCommand): ControlCommand {
    return signCommand(command, this.active(), { now: this.now(), chain: this.chain() });
  }

  list(): CommandKeyInfo[] {
    return this.rows()
      .reverse()
      .map((row) => ({
        keyId: row.key_id,
        fingerprint: fingerprint(row.public_key),
        publicKey: row.public_key,
        createdAt: row.created_at,
        createdBy: row.created_by,
        status: row.retired_at === null ? 'active' : 'retired',
        retiredAt: row.retired_at,
        validUntil: row.valid_until,
        privateKey: row.private_cipher ? 'secret-store' : this.memory.has(row.key_id) ? 'memory' : 'unavailable',
      }));
  }
}
