/**
 * Signed control commands (docs/protocol.md "Signed commands"): Ed25519 over a canonical
 * serialization, key certificates that chain a rotated key to its predecessor, and the agent's
 * verifier (trusted keys, expiry, clock skew, nonce replay). Pure: no broker, no SQLite.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ControlCommand, type CommandSignature, type KeyCertificate } from '../protocol/messages.js';

export const COMMAND_CONTEXT = 'meshdeck-command-v1\n';
export const KEY_CONTEXT = 'meshdeck-command-key-v1\n';
/** Key certificates carried by a command, at most (the newest last). */
export const MAX_CHAIN = 8;

/** JSON with object keys sorted at every level; arrays keep their order; undefined members are left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The bytes a command signature covers: the command parsed (defaults applied), without `signature`. */
export function commandSigningBytes(command: ControlCommand): Buffer {
  const parsed = ControlCommand.parse({ ...command, signature: undefined });
  const { signature: _ignored, ...rest } = parsed;
  return Buffer.from(COMMAND_CONTEXT + canonicalJson(rest));
}

/** What the signature covers besides the command: nonce and time are signed too. */
function signedPayload(command: ControlCommand, sig: Pick<CommandSignature, 'keyId' | 'nonce' | 'signedAt'>): Buffer {
  return Buffer.concat([commandSigningBytes(command), Buffer.from(canonicalJson({ keyId: sig.keyId, nonce: sig.nonce, signedAt: sig.signedAt }))]);
}

function certPayload(cert: Omit<KeyCertificate, 'endorsement'>): Buffer {
  return Buffer.from(KEY_CONTEXT + canonicalJson(cert));
}

// --- keys

export interface CommandKeyPair {
  keyId: string;
  /** Raw 32-byte Ed25519 public key, base64url. */
  publicKey: string;
  privateKey: KeyObject;
}

export function fingerprint(publicKey: string): string {
  const hex = createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex');
  return hex.slice(0, 32).match(/.{4}/g)!.join(':');
}

export function keyIdOf(publicKey: string): string {
  return `k-${createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex').slice(0, 16)}`;
}

export function generateCommandKey(): CommandKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { keyId: keyIdOf(x), publicKey: x, privateKey };
}

/** The private key as a JWK string, for the SecretStore only. */
export function exportPrivateKey(key: CommandKeyPair): string {
  return JSON.stringify(key.privateKey.export({ format: 'jwk' }));
}

export function importPrivateKey(jwk: string): CommandKeyPair {
  const privateKey = createPrivateKey({ key: JSON.parse(jwk) as JsonWebKey, format: 'jwk' });
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x!;
  return { keyId: keyIdOf(x), publicKey: x, privateKey };
}

export function publicKeyObject(publicKey: string): KeyObject {
  const raw = Buffer.from(publicKey, 'base64url');
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, this one is ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
}

/** Parses `keyId:base64url` (CLI --command-key, MESHDECK_COMMAND_KEYS comma-separated). */
export function parseTrustedKeys(spec: string): Array<{ keyId: string; publicKey: string }> {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const at = item.indexOf(':');
      if (at <= 0) throw new Error(`a command key is keyId:publicKey (base64url), got ${JSON.stringify(item.slice(0, 80))}`);
      const keyId = item.slice(0, at);
      const publicKey = item.slice(at + 1);
      publicKeyObject(publicKey);
      if (keyIdOf(publicKey) !== keyId) throw new Error(`command key ${keyId}: the key id does not match the public key (expected ${keyIdOf(publicKey)})`);
      return { keyId, publicKey };
    });
}

/** A certificate for `next` signed by `previous` (rotation); `previousValidUntil` ends the old key's grace. */
export function endorseKey(previous: CommandKeyPair, next: Pick<CommandKeyPair, 'keyId' | 'publicKey'>, previousValidUntil: number): KeyCertificate {
  const body = { keyId: next.keyId, publicKey: next.publicKey, endorsedBy: previous.keyId, previousValidUntil: new Date(previousValidUntil).toISOString() };
  return { ...body, endorsement: sign(null, certPayload(body), previous.privateKey).toString('base64url') };
}

export function signCommand(command: ControlCommand, key: CommandKeyPair, options: { now: number; chain?: KeyCertificate[]; nonce?: string }): ControlCommand {
  const base = { keyId: key.keyId, nonce: options.nonce ?? randomBytes(16).toString('base64url'), signedAt: new Date(options.now).toISOString() };
  const value = sign(null, signedPayload(command, base), key.privateKey).toString('base64url');
  const chain = options.chain?.slice(-MAX_CHAIN);
  return { ...command, signature: { alg: 'ed25519', ...base, publicKey: key.publicKey, value, ...(chain?.length ? { chain } : {}) } };
}

// --- the agent's side

/** True when `signature` (base64url) is key's Ed25519 signature of data; false for anything malformed. */
function checks(data: Buffer, key: KeyObject, signature: string): boolean {
  try {
    return verify(null, data, key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

export type Rejection = 'unsigned' | 'bad signature' | 'unknown key' | 'expired' | 'replayed nonce' | 'signed in the future';

export interface VerifierOptions {
  trusted?: Array<{ keyId: string; publicKey: string }>;
  /** Without trusted keys: pin the first key seen (default true). */
  trustOnFirstUse?: boolean;
  /** Refuse unsigned commands (default true); false accepts them only while no key is known. */
  requireSignedCommands?: boolean;
  /** How far in the future signedAt may be (clock skew), default 30 s. */
  maxSkewMs?: number;
  /** Nonces remembered at most (each until its command expires), default 10 000. */
  maxNonces?: number;
  onPinned?: (keyId: string) => void;
  onLearned?: (keyId: string, endorsedBy: string) => void;
}

interface TrustedKey {
  key: KeyObject;
  publicKey: string;
  /** Signatures made after this (ms) do not verify: the key was rotated and its grace passed. */
  validUntil: number;
}

export type Verdict = { ok: true; keyId: string | null } | { ok: false; reason: Rejection; detail: string };

export class CommandVerifier {
  private readonly keys = new Map<string, TrustedKey>();
  private readonly nonces = new Map<string, number>();
  private readonly options: Required<Omit<VerifierOptions, 'trusted' | 'onPinned' | 'onLearned'>> & Pick<VerifierOptions, 'onPinned' | 'onLearned'>;

  constructor(options: VerifierOptions = {}) {
    this.options = {
      trustOnFirstUse: options.trustOnFirstUse ?? true,
      requireSignedCommands: options.requireSignedCommands ?? true,
      maxSkewMs: options.maxSkewMs ?? 30_000,
      maxNonces: options.maxNonces ?? 10_000,
      ...(options.onPinned ? { onPinned: options.onPinned } : {}),
      ...(options.onLearned ? { onLearned: options.onLearned } : {}),
    };
    for (const k of options.trusted ?? []) this.trust(k.keyId, k.publicKey);
  }

  trustedKeyIds(): string[] {
    return [...this.keys.keys()];
  }

  private trust(keyId: string, publicKey: string): void {
    if (!this.keys.has(keyId)) this.keys.set(keyId, { key: publicKeyObject(publicKey), publicKey, validUntil: Number.POSITIVE_INFINITY });
  }

  /** Learns the keys of the chain that an already trusted key endorsed (in order). */
  private learnChain(chain: KeyCertificate[]): void {
    for (const cert of chain.slice(-MAX_CHAIN)) {
      const endorser = this.keys.get(cert.endorsedBy);
      if (!endorser || keyIdOf(cert.publicKey) !== cert.keyId) continue;
      const { endorsement, ...body } = cert;
      if (!checks(certPayload(body), endorser.key, endorsement)) continue;
      endorser.validUntil = Math.min(endorser.validUntil, Date.parse(cert.previousValidUntil));
      if (!this.keys.has(cert.keyId)) {
        this.trust(cert.keyId, cert.publicKey);
        this.options.onLearned?.(cert.keyId, cert.endorsedBy);
      }
    }
  }

  verify(command: ControlCommand, now: number): Verdict {
    const sig = command.signature;
    if (!sig) {
      if (this.options.requireSignedCommands || this.keys.size > 0) return { ok: false, reason: 'unsigned', detail: 'unsigned: this agent accepts only signed commands' };
      return Date.parse(command.expiresAt) < now ? { ok: false, reason: 'expired', detail: 'expired' } : { ok: true, keyId: null };
    }
    if (this.keys.size === 0 && this.options.trustOnFirstUse && sig.publicKey && keyIdOf(sig.publicKey) === sig.keyId) {
      // Trust on first use: pin the key of the first signed command (its signature is checked below).
      this.trust(sig.keyId, sig.publicKey);
      this.options.onPinned?.(sig.keyId);
    }
    if (sig.chain) this.learnChain(sig.chain);
    const trusted = this.keys.get(sig.keyId);
    if (!trusted) return { ok: false, reason: 'unknown key', detail: `unknown key: ${sig.keyId} is not a trusted command key` };
    if (!checks(signedPayload(command, sig), trusted.key, sig.value)) return { ok: false, reason: 'bad signature', detail: `bad signature (key ${sig.keyId})` };
    const signedAt = Date.parse(sig.signedAt);
    if (signedAt > trusted.validUntil || now > trusted.validUntil) {
      return { ok: false, reason: 'unknown key', detail: `unknown key: ${sig.keyId} was rotated out at ${new Date(trusted.validUntil).toISOString()}` };
    }
    if (signedAt > now + this.options.maxSkewMs) return { ok: false, reason: 'signed in the future', detail: `signed in the future: ${sig.signedAt} is more than ${this.options.maxSkewMs} ms ahead` };
    const expiresAt = Date.parse(command.expiresAt);
    if (expiresAt < now) return { ok: false, reason: 'expired', detail: 'expired' };
    this.pruneNonces(now);
    if (this.nonces.has(sig.nonce)) return { ok: false, reason: 'replayed nonce', detail: `replayed nonce ${sig.nonce}` };
    this.nonces.set(sig.nonce, expiresAt);
    if (this.nonces.size > this.options.maxNonces) this.nonces.delete(this.nonces.keys().next().value as string);
    return { ok: true, keyId: sig.keyId };
  }

  private pruneNonces(now: number): void {
    for (const [nonce, until] of this.nonces) if (until < now) this.nonces.delete(nonce);
  }
}
