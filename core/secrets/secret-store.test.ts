import { describe, expect, it } from 'vitest';
import { SecretsUnavailableError } from '../lib/errors.js';
import { MIN_PASSPHRASE_LENGTH, headlessSecretStore, memorySecretStore, passphraseSecretStore } from './secret-store.js';

const PASSPHRASE = 'correct horse battery staple';

function secretsError(fn: () => unknown): SecretsUnavailableError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SecretsUnavailableError);
    expect((err as SecretsUnavailableError).code).toBe('SECRETS_UNAVAILABLE');
    return err as SecretsUnavailableError;
  }
  throw new Error('expected a SecretsUnavailableError');
}

describe('passphraseSecretStore', () => {
  const store = passphraseSecretStore(PASSPHRASE);

  it('describes itself as persistent passphrase storage', () => {
    expect(store.kind).toBe('passphrase');
    expect(store.persistent).toBe(true);
    expect(store.detail).toContain('MESHDECK_SECRET_KEY');
  });

  it('round-trips text, including empty and non-ASCII strings', () => {
    for (const plain of ['guest', '', 'pässwörd ✓ 密码', 'x'.repeat(1024)]) {
      expect(store.decrypt(store.encrypt(plain))).toBe(plain);
    }
  });

  it('never contains the plain text and has the v1 layout (version | salt | iv | tag | body)', () => {
    const plain = 'hunter2-hunter2';
    const blob = store.encrypt(plain);
    expect(blob.includes(Buffer.from(plain, 'utf8'))).toBe(false);
    expect(blob[0]).toBe(1);
    expect(blob.length).toBe(1 + 16 + 12 + 16 + Buffer.byteLength(plain));
  });

  it('gives a different ciphertext each time for the same text', () => {
    const a = store.encrypt('same');
    const b = store.encrypt('same');
    expect(a.equals(b)).toBe(false);
    // Fresh IVs: bytes 17..29 differ.
    expect(a.subarray(17, 29).equals(b.subarray(17, 29))).toBe(false);
    expect(store.decrypt(a)).toBe('same');
    expect(store.decrypt(b)).toBe('same');
  });

  it('refuses tampered ciphertext, tag, iv or salt', () => {
    const blob = store.encrypt('do not touch');
    const offsets = { salt: 1, iv: 17, tag: 29, body: blob.length - 1 };
    for (const offset of Object.values(offsets)) {
      const tampered = Buffer.from(blob);
      tampered[offset] = (tampered[offset] ?? 0) ^ 0x01;
      const err = secretsError(() => store.decrypt(tampered));
      expect(err.message).toContain('cannot be decrypted');
    }
  });

  it('refuses truncated blobs and unknown format versions', () => {
    const blob = store.encrypt('short');
    expect(secretsError(() => store.decrypt(blob.subarray(0, 20))).message).toContain('not in a format');
    expect(secretsError(() => store.decrypt(Buffer.alloc(0))).message).toContain('not in a format');
    const v2 = Buffer.from(blob);
    v2[0] = 2;
    expect(secretsError(() => store.decrypt(v2)).message).toContain('not in a format');
  });

  it('decrypts with a new store built from the same passphrase (the salt travels in the blob)', () => {
    const blob = store.encrypt('survives a restart');
    const restarted = passphraseSecretStore(PASSPHRASE);
    expect(restarted.decrypt(blob)).toBe('survives a restart');
  });

  it('cannot decrypt with another passphrase', () => {
    const blob = store.encrypt('for my eyes only');
    const other = passphraseSecretStore('a different passphrase');
    const err = secretsError(() => other.decrypt(blob));
    expect(err.message).toContain('another key');
  });

  it(`refuses passphrases shorter than ${MIN_PASSPHRASE_LENGTH} characters`, () => {
    expect(MIN_PASSPHRASE_LENGTH).toBe(12);
    const err = secretsError(() => passphraseSecretStore('x'.repeat(MIN_PASSPHRASE_LENGTH - 1)));
    expect(err.context).toEqual({ length: MIN_PASSPHRASE_LENGTH - 1 });
    expect(err.message).toContain(String(MIN_PASSPHRASE_LENGTH));
    secretsError(() => passphraseSecretStore(''));
    expect(passphraseSecretStore('x'.repeat(MIN_PASSPHRASE_LENGTH)).kind).toBe('passphrase');
  });

  it('does not put the passphrase in its error messages', () => {
    const short = 'tooShort!';
    const err = secretsError(() => passphraseSecretStore(short));
    expect(err.message).not.toContain(short);
    expect(JSON.stringify(err.context)).not.toContain(short);
  });
});

describe('memorySecretStore', () => {
  const store = memorySecretStore('no keychain on this machine');

  it('is not persistent and explains why', () => {
    expect(store.kind).toBe('memory');
    expect(store.persistent).toBe(false);
    expect(store.detail).toBe('no keychain on this machine');
  });

  it('refuses to encrypt or decrypt', () => {
    expect(secretsError(() => store.encrypt('x')).message).toBe('Secrets cannot be saved: no keychain on this machine');
    secretsError(() => store.decrypt(Buffer.from('x')));
  });
});

describe('headlessSecretStore', () => {
  it('uses the passphrase from MESHDECK_SECRET_KEY', () => {
    const store = headlessSecretStore({ MESHDECK_SECRET_KEY: PASSPHRASE });
    expect(store.kind).toBe('passphrase');
    expect(store.persistent).toBe(true);
    expect(passphraseSecretStore(PASSPHRASE).decrypt(store.encrypt('shared'))).toBe('shared');
  });

  it('falls back to memory when MESHDECK_SECRET_KEY is unset or empty', () => {
    for (const env of [{}, { MESHDECK_SECRET_KEY: '' }]) {
      const store = headlessSecretStore(env);
      expect(store.kind).toBe('memory');
      expect(store.persistent).toBe(false);
      expect(store.detail).toContain('MESHDECK_SECRET_KEY is not set');
    }
  });

  it('refuses a too-short MESHDECK_SECRET_KEY instead of silently falling back', () => {
    secretsError(() => headlessSecretStore({ MESHDECK_SECRET_KEY: 'short' }));
  });
});
