/**
 * Where broker passwords are kept. Never in plain text:
 *  - desktop: Electron's safeStorage (OS keychain), see electron/main/secrets.ts;
 *  - headless: AES-256-GCM with a key derived (scrypt) from a passphrase the user supplies in
 *    MESHDECK_SECRET_KEY; the ciphertext lives in the database file;
 *  - neither available: passwords are held in memory for this session only.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { SecretsUnavailableError } from '../lib/errors.js';

export interface SecretStore {
  readonly kind: 'safeStorage' | 'passphrase' | 'memory';
  /** False when secrets cannot be saved and only live for this session. */
  readonly persistent: boolean;
  /** One line for the UI: where secrets go, or why they cannot be saved. */
  readonly detail: string;
  encrypt(plain: string): Buffer;
  decrypt(cipher: Buffer): string;
}

/** Secrets cannot be persisted: callers keep them in memory only. */
export function memorySecretStore(detail: string): SecretStore {
  const refuse = (): never => {
    throw new SecretsUnavailableError(`Secrets cannot be saved: ${detail}`);
  };
  return { kind: 'memory', persistent: false, detail, encrypt: refuse, decrypt: refuse };
}

const FORMAT_V1 = 1;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + SALT_BYTES + IV_BYTES + TAG_BYTES;
/** scrypt cost; ~30 ms per derivation, cached per salt. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

export const MIN_PASSPHRASE_LENGTH = 12;

/** AES-256-GCM keyed by scrypt(passphrase, per-secret salt). Layout: v1 | salt | iv | tag | ciphertext. */
export function passphraseSecretStore(passphrase: string): SecretStore {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new SecretsUnavailableError(
      `MESHDECK_SECRET_KEY must be at least ${MIN_PASSPHRASE_LENGTH} characters long`,
      { length: passphrase.length },
    );
  }
  const keys = new Map<string, Buffer>();
  const keyFor = (salt: Buffer): Buffer => {
    const id = salt.toString('hex');
    let key = keys.get(id);
    if (!key) {
      key = scryptSync(passphrase, salt, 32, SCRYPT);
      keys.set(id, key);
    }
    return key;
  };
  // One salt per store instance keeps encryption cheap; every blob still carries its own salt.
  const salt = randomBytes(SALT_BYTES);

  return {
    kind: 'passphrase',
    persistent: true,
    detail: 'encrypted in the database with AES-256-GCM, key derived from MESHDECK_SECRET_KEY',
    encrypt(plain) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', keyFor(salt), iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.from([FORMAT_V1]), salt, iv, cipher.getAuthTag(), body]);
    },
    decrypt(blob) {
      if (blob.length < HEADER_BYTES || blob[0] !== FORMAT_V1) {
        throw new SecretsUnavailableError('The saved secret is not in a format this store can read');
      }
      const blobSalt = blob.subarray(1, 1 + SALT_BYTES);
      const iv = blob.subarray(1 + SALT_BYTES, 1 + SALT_BYTES + IV_BYTES);
      const tag = blob.subarray(1 + SALT_BYTES + IV_BYTES, HEADER_BYTES);
      try {
        const decipher = createDecipheriv('aes-256-gcm', keyFor(blobSalt), iv);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(blob.subarray(HEADER_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretsUnavailableError(
          'The saved password cannot be decrypted with this MESHDECK_SECRET_KEY (was it saved with another key?)',
        );
      }
    },
  };
}

/** The headless host's choice: a passphrase from the environment, else memory only. */
export function headlessSecretStore(env: NodeJS.ProcessEnv = process.env): SecretStore {
  const passphrase = env.MESHDECK_SECRET_KEY;
  if (passphrase) return passphraseSecretStore(passphrase);
  return memorySecretStore('MESHDECK_SECRET_KEY is not set, so passwords are kept in memory for this session only');
}
