/**
 * A small client for the RabbitMQ management HTTP API: basic auth, `columns=` to trim what the
 * broker sends, paging (`page`/`page_size`) for the lists that can be long, a timeout on every
 * request, and typed errors that carry the HTTP status and the broker's own text.
 */
import { MeshdeckError } from '../lib/errors.js';

export interface ManagementClientOptions {
  /** e.g. http://127.0.0.1:15672 (a trailing slash or a path prefix such as /rabbitmq is kept). */
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs?: number;
  /** Items per page for paged lists (the broker caps page_size at 500). */
  pageSize?: number;
  fetch?: typeof fetch;
}

export type ManagementFailure = 'unreachable' | 'timeout' | 'unauthorized' | 'forbidden' | 'not-found' | 'http' | 'bad-body';

/** A failed management API request: what kind of failure, the HTTP status, and the broker's own words. */
export class ManagementApiError extends MeshdeckError {
  constructor(
    readonly failure: ManagementFailure,
    message: string,
    readonly status: number | null,
    readonly brokerText: string,
    readonly path: string,
    cause?: unknown,
  ) {
    super(failure === 'unreachable' || failure === 'timeout' ? 'UNAVAILABLE' : 'BROKER_ERROR', message, {
      context: { path, status, failure },
      cause,
    });
    this.name = 'ManagementApiError';
  }
}

/** The broker's error body is `{"error": "...", "reason": "..."}`; fall back to the raw text. */
export function brokerErrorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; reason?: unknown };
    const parts = [parsed.error, parsed.reason].filter((p): p is string => typeof p === 'string' && p.length > 0);
    if (parts.length) return [...new Set(parts)].join(': ');
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 500);
}

function failureOf(status: number): ManagementFailure {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  return 'http';
}

export interface Page<T> {
  items: T[];
  page: number;
  page_count: number;
  page_size: number;
  total_count: number;
}

/** Encodes a vhost for a path segment ("/" is %2F). */
export const vhostPath = (vhost: string): string => encodeURIComponent(vhost);

export class ManagementClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  private readonly auth: string;
  private readonly fetchFn: typeof fetch;

  constructor(options: ManagementClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.pageSize = Math.min(500, Math.max(1, options.pageSize ?? 500));
    this.auth = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
    this.fetchFn = options.fetch ?? fetch;
  }

  /** GET /api/<path>, with only the given columns when set. */
  async get<T>(path: string, columns?: readonly string[], query: Record<string, string | number> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) params.set(key, String(value));
    if (columns?.length) params.set('columns', columns.join(','));
    const qs = params.toString();
    const url = `${this.baseUrl}/api/${path}${qs ? `?${qs}` : ''}`;
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        headers: { authorization: this.auth, accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const detail = timedOut ? `no answer within ${this.timeoutMs} ms` : causeText(err);
      throw new ManagementApiError(
        timedOut ? 'timeout' : 'unreachable',
        `Management API not reachable at ${this.baseUrl}: ${detail}`,
        null,
        detail,
        path,
        err,
      );
    }
    const body = await response.text();
    if (!response.ok) {
      const text = brokerErrorText(body);
      throw new ManagementApiError(
        failureOf(response.status),
        `Management API ${path} answered ${response.status}: ${text || response.statusText}`,
        response.status,
        text,
        path,
      );
    }
    try {
      return JSON.parse(body) as T;
    } catch (err) {
      throw new ManagementApiError('bad-body', `Management API ${path} sent a body that is not JSON`, response.status, body.slice(0, 200), path, err);
    }
  }

  /** Every item of a paged list (queues, exchanges, connections, channels), page by page. */
  async list<T>(path: string, columns?: readonly string[]): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; ; page++) {
      const result = await this.get<Page<T>>(path, columns, { page, page_size: this.pageSize });
      items.push(...result.items);
      if (page >= result.page_count || result.items.length === 0) return items;
    }
  }
}

function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: string }).code;
    return code ? `${code} (${cause.message})` : cause.message;
  }
  return err.message;
}
