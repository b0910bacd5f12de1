/**
 * The outbound forwarding loop shared by the sidecar (a service calling another service) and
 * the gateway (an external client calling a routed service): pick an endpoint of the target
 * service with its balancer, try it with a per-try timeout, feed the outcome back to the
 * balancer and to telemetry, and retry on another endpoint when the retry rules and the retry
 * budget allow. The response of the last try is relayed to the client.
 *
 * Every try passes the edge's circuit breaker first (agent/sidecar/edge-breakers.ts): a refused
 * first try is answered at once with 503 and `x-meshdeck-circuit`; a refused retry ends the loop
 * with the last try's answer, so retries never hammer an open circuit. Every try's outcome is
 * recorded (5xx, connect error, timeout = failure; an ejected instance's 503 says nothing about
 * the service and is not counted).
 */
import { randomUUID } from 'node:crypto';
import type { Agent, IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TelemetryRecorder } from '../sdk/telemetry-recorder.js';
import type { EdgeBreakers, EdgeTicket } from './edge-breakers.js';
import { HEADER_EJECTED, HEADER_HOP, HEADER_REQUEST_ID, HEADER_UPSTREAM, attempt, forwardableHeaders, outcomeOf, relay, sendPlain, splitAddress, type AttemptResult } from './proxy.js';
import type { RetryBudget } from './retry-budget.js';
import type { UpstreamPool } from './upstream-pool.js';

/** Methods a retry cannot apply twice by accident (RFC 9110 §9.2.2, plus TRACE/OPTIONS). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** What the forwarding loop works with; owned by the sidecar or the gateway. */
export interface OutboundDeps {
  pool: UpstreamPool;
  budget: RetryBudget;
  httpAgent: Agent;
  telemetry: TelemetryRecorder;
  /** The circuit breakers of this agent's outbound edges. */
  breakers: EdgeBreakers;
}

/** Response header of a request the caller's circuit breaker answered itself: the breaker's state. */
export const HEADER_CIRCUIT = 'x-meshdeck-circuit';

export interface OutboundCall {
  service: string;
  method: string;
  /** Path and query sent to the endpoint. */
  path: string;
  /** Request headers as sent (see meshRequestHeaders). */
  headers: OutgoingHttpHeaders;
  body: Buffer;
  /** Per-try timeout. */
  timeoutMs: number;
  /** Tries, the first included. */
  maxAttempts: number;
  /** Added to every response this call sends to the client. */
  responseHeaders?: OutgoingHttpHeaders;
}

export interface OutboundResult {
  /** Status sent to the client. */
  status: number;
  /** Instance id of the endpoint that answered last, null when none was available. */
  endpoint: string | null;
  attempts: number;
}

/** Forwardable request headers plus the caller's hop mark and a request id when missing. */
export function meshRequestHeaders(incoming: IncomingHttpHeaders, hop: string): OutgoingHttpHeaders {
  const headers = forwardableHeaders(incoming);
  headers[HEADER_HOP] = hop;
  headers[HEADER_REQUEST_ID] ??= randomUUID();
  return headers;
}

/**
 * Retry rules. Connect failures never reached the service and ejected endpoints refused the
 * request, so both are always retried; a connection reset after the request may have been
 * written, 502/503/504 and timeouts only for idempotent methods (a POST that reached a dying
 * instance is not sent twice).
 */
export function isRetryable(method: string, result: AttemptResult): boolean {
  if (result.kind === 'connect') return true;
  if (result.kind === 'reset') return IDEMPOTENT.has(method);
  if (result.kind === 'response') {
    const status = result.response.statusCode ?? 0;
    if (status === 503 && result.response.headers[HEADER_EJECTED]) return true;
    return IDEMPOTENT.has(method) && (status === 502 || status === 503 || status === 504);
  }
  return IDEMPOTENT.has(method);
}

/** Forwards one request to `call.service` and answers the client on `res`. */
export async function forwardOutbound(deps: OutboundDeps, call: OutboundCall, res: ServerResponse): Promise<OutboundResult> {
  const { pool, budget, telemetry, breakers } = deps;
  const { service, method, path, headers, body, timeoutMs } = call;
  const extra = call.responseHeaders ?? {};
  const maxAttempts = Math.max(1, call.maxAttempts);
  const tried = new Set<string>();
  budget.recordRequest(Date.now());
  const noEndpoint = (attempts: number): OutboundResult => {
    sendPlain(res, 503, `no healthy endpoint for ${service}`, { ...extra, 'x-meshdeck-no-endpoints': service });
    return { status: 503, endpoint: null, attempts };
  };
  // A service without an endpoint set gets no breaker (names come from the client: no state for any of them).
  if (!pool.has(service)) return noEndpoint(0);

  const admission = await breakers.acquire(service, timeoutMs);
  if (!admission.allowed) {
    const { state, reason, detail } = admission.refusal;
    telemetry.recordRefused(service);
    const limit = reason === 'max-inflight' || reason === 'max-pending';
    const what = limit ? `too many requests to ${service} (${reason})` : `circuit to ${service} is ${state}`;
    sendPlain(res, 503, `${what}: ${detail}`, { ...extra, [HEADER_CIRCUIT]: limit ? reason : state });
    return { status: 503, endpoint: null, attempts: 0 };
  }
  let ticket: EdgeTicket = admission.ticket;

  for (let n = 1; ; n++) {
    const endpoint = pool.pick(service, tried);
    if (!endpoint) {
      ticket.cancel();
      return noEndpoint(n - 1);
    }
    tried.add(endpoint.id);
    const target = splitAddress(endpoint.address);
    pool.onStart(service, endpoint.id, performance.now());
    const result = await attempt({ agent: deps.httpAgent, host: target.host, port: target.port, method, path, headers, body, timeoutMs });
    const outcome = outcomeOf(result);
    pool.onEnd(service, endpoint.id, performance.now(), result.latencyMs, outcome === 'ok' || outcome === 'http4xx');
    if (result.kind === 'connect') pool.reportConnectFailure(service, endpoint.id, (result.error as NodeJS.ErrnoException).code ?? null);
    else if (result.kind !== 'reset') pool.reportReachable(service, endpoint.id);
    telemetry.record('outbound', service, endpoint.id, outcome, result.latencyMs);
    if (result.kind === 'response' && result.response.headers[HEADER_EJECTED]) ticket.cancel();
    else ticket.done(outcome === 'ok' || outcome === 'http4xx');

    if (n < maxAttempts && isRetryable(method, result)) {
      const next = await breakers.acquire(service, 0);
      if (next.allowed && budget.tryRetry(Date.now())) {
        ticket = next.ticket;
        telemetry.recordRetry(service, endpoint.id);
        if (result.kind === 'response') result.response.resume();
        continue;
      }
      if (next.allowed) next.ticket.cancel();
    }
    if (result.kind === 'response') {
      relay(result.response, res, { ...extra, [HEADER_UPSTREAM]: endpoint.id });
      return { status: result.response.statusCode ?? 502, endpoint: endpoint.id, attempts: n };
    }
    const status = result.kind === 'timeout' ? 504 : 502;
    const reason =
      result.kind === 'timeout'
        ? `timed out after ${timeoutMs} ms`
        : result.kind === 'reset'
          ? `connection lost after the request was sent: ${result.error.message}`
          : `connection failed: ${result.error.message}`;
    sendPlain(res, status, `${service} (${endpoint.id}) ${reason}`, { ...extra, [HEADER_UPSTREAM]: endpoint.id });
    return { status, endpoint: endpoint.id, attempts: n };
  }
}
