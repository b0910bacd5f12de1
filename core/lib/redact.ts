/**
 * Redaction of secrets before they reach a log line, an error message or an export.
 * Keys that name a secret are masked whole; credentials inside URLs are masked in any string.
 */
const SECRET_KEY = /^(password|passphrase|secret|token|authorization|apikey|api_key|key|privatekey|private_key|passwordcipher|password_cipher|cookie)$/i;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]+):([^/\s]*)@/gi;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;

export const REDACTED = '***';

/** Masks `user:password@` in URLs and bearer tokens in free text. */
export function redactString(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1$2:${REDACTED}@`).replace(BEARER, `$1${REDACTED}`);
}

export function redact<T>(value: T, depth = 0): T {
  if (depth > 8) return '[too deep to log]' as T;
  if (typeof value === 'string') return redactString(value) as T;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redact(v, depth + 1);
    }
    return out as T;
  }
  return value;
}
