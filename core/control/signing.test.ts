import { describe, expect, it } from 'vitest';
import { ControlCommand } from '../protocol/messages.js';
import { CommandVerifier, canonicalJson, commandSigningBytes, endorseKey, exportPrivateKey, generateCommandKey, importPrivateKey, keyIdOf, parseTrustedKeys, signCommand } from './signing.js';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const command = (over: Partial<ControlCommand> = {}): ControlCommand =>
  ControlCommand.parse({
    commandId: `cmd-${Math.random().toString(36).slice(2, 12)}`,
    target: { service: 'orders' },
    issuedAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + 60_000).toISOString(),
    issuer: 'test',
    command: { action: 'drain' },
    ...over,
  });

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order and leaves undefined members out', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('gives the same bytes for a command whatever its key order, with defaults applied', () => {
    const a = command({ reason: '' });
    const shuffled = JSON.parse(JSON.stringify({ command: a.command, issuer: a.issuer, expiresAt: a.expiresAt, issuedAt: a.issuedAt, target: a.target, commandId: a.commandId })) as ControlCommand;
    expect(commandSigningBytes(shuffled).equals(commandSigningBytes(a))).toBe(true);
    // the signature itself is not covered
    expect(commandSigningBytes(signCommand(a, generateCommandKey(), { now: T0 })).equals(commandSigningBytes(a))).toBe(true);
  });
});

describe('sign and verify', () => {
  const key = generateCommandKey();
  const trusted = [{ keyId: key.keyId, publicKey: key.publicKey }];

  it('accepts the signed command once; the same nonce again is a replay', () => {
    const verifier = new CommandVerifier({ trusted });
    const signed = signCommand(command(), key, { now: T0 });
    expect(verifier.verify(signed, T0)).toEqual({ ok: true, keyId: key.keyId });
    expect(verifier.verify(signed, T0 + 1)).toMatchObject({ ok: false, reason: 'replayed nonce' });
  });

  it('round-trips through JSON and a private key export', () => {
    const again = importPrivateKey(exportPrivateKey(key));
    expect(again.keyId).toBe(key.keyId);
    const signed = ControlCommand.parse(JSON.parse(JSON.stringify(signCommand(command(), again, { now: T0 }))));
    expect(new CommandVerifier({ trusted }).verify(signed, T0).ok).toBe(true);
  });

  it('rejects unsigned, tampered, unknown-key and forged commands', () => {
    const verifier = new CommandVerifier({ trusted });
    expect(verifier.verify(command(), T0)).toMatchObject({ ok: false, reason: 'unsigned' });
    const signed = signCommand(command(), key, { now: T0 });
    expect(verifier.verify({ ...signed, command: { action: 'eject' } }, T0)).toMatchObject({ ok: false, reason: 'bad signature' });
    const other = generateCommandKey();
    expect(verifier.verify(signCommand(command(), other, { now: T0 }), T0)).toMatchObject({ ok: false, reason: 'unknown key' });
    // forged: another key's signature under the trusted key id
    const forged = signCommand(command(), other, { now: T0 });
    expect(verifier.verify({ ...forged, signature: { ...forged.signature!, keyId: key.keyId, publicKey: key.publicKey } }, T0)).toMatchObject({ ok: false, reason: 'bad signature' });
  });

  it('expires at expiresAt: accepted at it, rejected 1 ms after', () => {
    const verifier = new CommandVerifier({ trusted });
    const expiresAt = T0 + 60_000;
    expect(verifier.verify(signCommand(command(), key, { now: T0 }), expiresAt).ok).toBe(true);
    expect(verifier.verify(signCommand(command(), key, { now: T0 }), expiresAt + 1)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('allows maxSkewMs of clock skew and no more', () => {
    const verifier = new CommandVerifier({ trusted, maxSkewMs: 5000 });
    expect(verifier.verify(signCommand(command(), key, { now: T0 + 5000 }), T0).ok).toBe(true);
    expect(verifier.verify(signCommand(command(), key, { now: T0 + 5001 }), T0)).toMatchObject({ ok: false, reason: 'signed in the future' });
  });

  it('forgets nonces once their command expired and keeps at most maxNonces', () => {
    const verifier = new CommandVerifier({ trusted, maxNonces: 2 });
    const first = signCommand(command(), key, { now: T0, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    expect(verifier.verify(first, T0).ok).toBe(true);
    verifier.verify(signCommand(command(), key, { now: T0 }), T0);
    verifier.verify(signCommand(command(), key, { now: T0 }), T0);
    // the oldest nonce was evicted: bounded memory (the command id dedupe still answers duplicates)
    expect(verifier.verify(first, T0).ok).toBe(true);
  });

  it('pins the first key on first use when none is configured, then refuses others', () => {
    const pinned: string[] = [];
    const verifier = new CommandVerifier({ onPinned: (id) => pinned.push(id) });
    expect(verifier.verify(command(), T0)).toMatchObject({ ok: false, reason: 'unsigned' });
    expect(verifier.verify(signCommand(command(), key, { now: T0 }), T0).ok).toBe(true);
    expect(pinned).toEqual([key.keyId]);
    expect(verifier.verify(signCommand(command(), generateCommandKey(), { now: T0 }), T0)).toMatchObject({ ok: false, reason: 'unknown key' });
  });

  it('does not pin without trust on first use, and unsigned is accepted only when allowed and no key is known', () => {
    expect(new CommandVerifier({ trustOnFirstUse: false }).verify(signCommand(command(), key, { now: T0 }), T0)).toMatchObject({ ok: false, reason: 'unknown key' });
    expect(new CommandVerifier({ requireSignedCommands: false }).verify(command(), T0).ok).toBe(true);
    expect(new CommandVerifier({ requireSignedCommands: false, trusted }).verify(command(), T0)).toMatchObject({ ok: false, reason: 'unsigned' });
  });
});

describe('rotation', () => {
  it('learns the endorsed key; the old key verifies until the grace ends', () => {
    const old = generateCommandKey();
    const next = generateCommandKey();
    const verifier = new CommandVerifier({ trusted: [{ keyId: old.keyId, publicKey: old.publicKey }] });
    const graceEnd = T0 + 10_000;
    const chain = [endorseKey(old, next, graceEnd)];
    expect(verifier.verify(signCommand(command(), next, { now: T0, chain }), T0).ok).toBe(true);
    expect(verifier.trustedKeyIds()).toContain(next.keyId);
    // in flight, signed by the old key before the rotation: still verifies within the grace
    expect(verifier.verify(signCommand(command(), old, { now: T0 }), graceEnd).ok).toBe(true);
    expect(verifier.verify(signCommand(command(), old, { now: T0 }), graceEnd + 1)).toMatchObject({ ok: false, reason: 'unknown key' });
    expect(verifier.verify(signCommand(command(), next, { now: T0 }), graceEnd + 1).ok).toBe(true);
  });

  it('ignores a certificate not endorsed by a trusted key', () => {
    const trustedKey = generateCommandKey();
    const rogue = generateCommandKey();
    const next = generateCommandKey();
    const verifier = new CommandVerifier({ trusted: [{ keyId: trustedKey.keyId, publicKey: trustedKey.publicKey }] });
    const chain = [endorseKey(rogue, next, T0 + 10_000)];
    expect(verifier.verify(signCommand(command(), next, { now: T0, chain }), T0)).toMatchObject({ ok: false, reason: 'unknown key' });
    // a certificate claiming the trusted key endorsed it, but signed by another
    const fake = { ...endorseKey(rogue, next, T0 + 10_000), endorsedBy: trustedKey.keyId };
    expect(verifier.verify(signCommand(command(), next, { now: T0, chain: [fake] }), T0)).toMatchObject({ ok: false, reason: 'unknown key' });
  });
});

describe('parseTrustedKeys', () => {
  it('parses keyId:publicKey lists and refuses a key id that does not match', () => {
    const a = generateCommandKey();
    const b = generateCommandKey();
    expect(parseTrustedKeys(` ${a.keyId}:${a.publicKey}, ${b.keyId}:${b.publicKey} `)).toEqual([
      { keyId: a.keyId, publicKey: a.publicKey },
      { keyId: b.keyId, publicKey: b.publicKey },
    ]);
    expect(parseTrustedKeys('')).toEqual([]);
    expect(() => parseTrustedKeys(`${b.keyId}:${a.publicKey}`)).toThrow(/does not match/);
    expect(() => parseTrustedKeys('nonsense')).toThrow(/keyId:publicKey/);
    expect(keyIdOf(a.publicKey)).toBe(a.keyId);
  });
});
