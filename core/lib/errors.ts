/**
 * Typed errors for the whole core. Every error carries a stable `code` that the API maps to
 * an HTTP status and the UI maps to a message, plus a `context` object for logs.
 */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'BROKER_ERROR'
  | 'STORE_ERROR'
  | 'SECRETS_UNAVAILABLE'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export interface FieldIssue {
  /** Dotted path of the field at fault, e.g. `url` or `tls.caFile`. Empty for the whole input. */
  path: string;
  message: string;
}

export class MeshdeckError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;
  readonly issues: FieldIssue[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { context?: Record<string, unknown>; issues?: FieldIssue[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeshdeckError';
    this.code = code;
    this.context = options.context ?? {};
    this.issues = options.issues ?? [];
  }
}

export class ValidationError extends MeshdeckError {
  constructor(message: string, issues: FieldIssue[], context: Record<string, unknown> = {}) {
    super('INVALID_INPUT', message, { issues, context });
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends MeshdeckError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} "${id}" does not exist`, { context: { what, id } });
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends MeshdeckError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('CONFLICT', message, { context });
    this.name = 'ConflictError';
  }
}

export class StoreError extends MeshdeckError {
  constructor(message: string, context: Record<string, unknown>, cause?: unknown) {
    super('STORE_ERROR', message, { context, cause });
    this.name = 'StoreError';
  }
}

export class BrokerError extends MeshdeckError {
  constructor(message: string, context: Record<string, unknown>, cause?: unknown) {
    super('BROKER_ERROR', message, { context, cause });
    this.name = 'BrokerError';
  }
}

export class SecretsUnavailableError extends MeshdeckError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('SECRETS_UNAVAILABLE', message, { context });
    this.name = 'SecretsUnavailableError';
  }
}

/** Serialisable shape of an error as it crosses the API boundary. */
export interface ApiErrorBody {
  code: ErrorCode;
  message: string;
  issues: FieldIssue[];
}

export function toErrorBody(err: unknown): ApiErrorBody {
  if (err instanceof MeshdeckError) {
    return { code: err.code, message: err.message, issues: err.issues };
  }
  return { code: 'INTERNAL', message: 'Internal error; see the console log for details', issues: [] };
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Parses `input` (undefined/null as `{}`) with a zod schema; throws ValidationError naming every bad field. */
export function parseSettings<T>(schema: { safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } } }, input: unknown, message: string): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new ValidationError(
    message,
    result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  );
}
