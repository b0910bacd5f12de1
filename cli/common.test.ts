import { describe, expect, it } from 'vitest';
import { generateCommandKey } from '../core/control/signing.js';
import { UsageError, commandKeysOption } from './common.js';

describe('commandKeysOption', () => {
  const key = generateCommandKey();
  const spec = `${key.keyId}:${key.publicKey}`;

  it('reads --command-key, else MESHDECK_COMMAND_KEYS, else none (trust on first use)', () => {
    expect(commandKeysOption(spec, {})).toEqual([{ keyId: key.keyId, publicKey: key.publicKey }]);
    expect(commandKeysOption(undefined, { MESHDECK_COMMAND_KEYS: spec })).toEqual([{ keyId: key.keyId, publicKey: key.publicKey }]);
    expect(commandKeysOption(undefined, {})).toEqual([]);
  });

  it('refuses a malformed key as a usage error', () => {
    expect(() => commandKeysOption('k-1:short', {})).toThrow(UsageError);
    expect(() => commandKeysOption(`k-0000000000000000:${key.publicKey}`, {})).toThrow(/does not match/);
  });
});
