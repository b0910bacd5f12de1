/**
 * Desktop secrets through Electron's safeStorage (Keychain, DPAPI, libsecret/kwallet). On Linux
 * without a keyring safeStorage falls back to `basic_text`, a hard-coded key: we refuse it and
 * keep passwords in memory for the session instead, and say so in the UI.
 */
import type { SafeStorage } from 'electron';
import { memorySecretStore, type SecretStore } from '../../core/secrets/secret-store';

type SafeStorageLike = Pick<SafeStorage, 'isEncryptionAvailable' | 'encryptString' | 'decryptString'> & {
  getSelectedStorageBackend?: SafeStorage['getSelectedStorageBackend'];
};

export function safeStorageSecretStore(safeStorage: SafeStorageLike, platform: NodeJS.Platform): SecretStore {
  if (!safeStorage.isEncryptionAvailable()) {
    return memorySecretStore('the operating system offers no encryption to this app, so passwords are kept in memory for this session only');
  }
  if (platform === 'linux') {
    const backend = safeStorage.getSelectedStorageBackend?.() ?? 'unknown';
    if (backend === 'basic_text' || backend === 'unknown') {
      return memorySecretStore(
        `no desktop keyring is available (backend "${backend}"); install and unlock gnome-keyring or kwallet to save passwords`,
      );
    }
  }
  return {
    kind: 'safeStorage',
    persistent: true,
    detail: `encrypted by the operating system keychain (Electron safeStorage${platform === 'linux' ? `, ${safeStorage.getSelectedStorageBackend?.()}` : ''})`,
    encrypt: (plain) => safeStorage.encryptString(plain),
    decrypt: (cipher) => safeStorage.decryptString(cipher),
  };
}
