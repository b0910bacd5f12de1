import { describe, expect, it, vi } from 'vitest';
import { SecretsUnavailableError } from '../../core/lib/errors';

// secrets.ts only needs electron's types; the real module must never load.
vi.mock('electron', () => ({}));

const { safeStorageSecretStore } = await import('./secrets');

function fakeSafeStorage(options: { available: boolean; backend?: string | undefined; withBackendMethod?: boolean }) {
  const storage = {
    isEncryptionAvailable: vi.fn(() => options.available),
    encryptString: vi.fn((plain: string) => Buffer.from(`enc:${plain}`, 'utf8')),
    decryptString: vi.fn((cipher: Buffer) => `dec:${cipher.toString('utf8')}`),
    getSelectedStorageBackend: vi.fn(() => options.backend as 'basic_text'),
  };
  if (options.withBackendMethod === false) {
    const { getSelectedStorageBackend: _omit, ...rest } = storage;
    return { storage: rest, getSelectedStorageBackend: storage.getSelectedStorageBackend };
  }
  return { storage, getSelectedStorageBackend: storage.getSelectedStorageBackend };
}

describe('safeStorageSecretStore', () => {
  it.each(['linux', 'darwin', 'win32'] as const)('keeps secrets in memory when %s offers no encryption', (platform) => {
    const { storage } = fakeSafeStorage({ available: false, backend: 'gnome_libsecret' });
    const store = safeStorageSecretStore(storage, platform);
    expect(store.kind).toBe('memory');
    expect(store.persistent).toBe(false);
    expect(store.detail).toBe('the operating system offers no encryption to this app, so passwords are kept in memory for this session only');
    expect(() => store.encrypt('s3cret')).toThrow(SecretsUnavailableError);
    expect(() => store.decrypt(Buffer.from('x'))).toThrow(SecretsUnavailableError);
    expect(storage.encryptString).not.toHaveBeenCalled();
    expect(storage.decryptString).not.toHaveBeenCalled();
  });

  it('refuses the basic_text backend on linux (a hard-coded key)', () => {
    const { storage } = fakeSafeStorage({ available: true, backend: 'basic_text' });
    const store = safeStorageSecretStore(storage, 'linux');
    expect(store.kind).toBe('memory');
    expect(store.persistent).toBe(false);
    expect(store.detail).toContain('keyring');
    expect(store.detail).toContain('"basic_text"');
    expect(() => store.encrypt('s3cret')).toThrow(/Secrets cannot be saved: no desktop keyring/);
    expect(storage.encryptString).not.toHaveBeenCalled();
  });

  it('refuses an unknown backend on linux, or none reported', () => {
    const unknown = safeStorageSecretStore(fakeSafeStorage({ available: true, backend: 'unknown' }).storage, 'linux');
    expect(unknown.kind).toBe('memory');
    expect(unknown.detail).toContain('"unknown"');

    const missing = safeStorageSecretStore(fakeSafeStorage({ available: true, withBackendMethod: false }).storage, 'linux');
    expect(missing.kind).toBe('memory');
    expect(missing.persistent).toBe(false);
    expect(missing.detail).toContain('keyring');
  });

  it.each(['gnome_libsecret', 'kwallet5', 'kwallet6'])('uses safeStorage on linux with the %s backend', (backend) => {
    const { storage } = fakeSafeStorage({ available: true, backend });
    const store = safeStorageSecretStore(storage, 'linux');
    expect(store.kind).toBe('safeStorage');
    expect(store.persistent).toBe(true);
    expect(store.detail).toBe(`encrypted by the operating system keychain (Electron safeStorage, ${backend})`);
  });

  it('delegates encrypt and decrypt to safeStorage', () => {
    const { storage } = fakeSafeStorage({ available: true, backend: 'gnome_libsecret' });
    const store = safeStorageSecretStore(storage, 'linux');

    const cipher = store.encrypt('p@ss');
    expect(storage.encryptString).toHaveBeenCalledTimes(1);
    expect(storage.encryptString).toHaveBeenCalledWith('p@ss');
    expect(cipher.toString('utf8')).toBe('enc:p@ss');

    expect(store.decrypt(Buffer.from('blob', 'utf8'))).toBe('dec:blob');
    expect(storage.decryptString).toHaveBeenCalledTimes(1);
    expect(storage.decryptString.mock.calls[0]?.[0].toString('utf8')).toBe('blob');
  });

  it.each(['darwin', 'win32'] as const)('ignores the backend on %s', (platform) => {
    const { storage, getSelectedStorageBackend } = fakeSafeStorage({ available: true, backend: 'basic_text' });
    const store = safeStorageSecretStore(storage, platform);
    expect(store.kind).toBe('safeStorage');
    expect(store.persistent).toBe(true);
    expect(store.detail).toBe('encrypted by the operating system keychain (Electron safeStorage)');
    expect(getSelectedStorageBackend).not.toHaveBeenCalled();
    expect(store.encrypt('x').toString('utf8')).toBe('enc:x');
  });
});
