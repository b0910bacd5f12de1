/**
 * HTTP forwarding primitives shared by the sidecar and the gateway: one attempt to one
 * address with a per-try timeout, classification of the outcome, header hygiene.
 */
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../core/lib/log.js';
import type { MeshAgent } from '../sdk/mesh-agent.js';
import type { Outcome } from '../sdk/telemetry-recorder.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

export const HEADER_HOP = 'x-meshdeck-hop';
export const HEADER_EJECTED = 'x-meshdeck-ejected';
export const HEADER_FAULT = 'x-meshdeck-fault';
export const HEADER_REQUEST_ID = 'x-request-id';
export const HEADER_UPSTREAM = 'x-meshdeck-upstream';

export const MAX_BUFFERED_BODY = 8 * 1024 * 1024;

export function forwardableHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

export function readBody(req: IncomingMessage, limit = MAX_BUFFERED_BODY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.destroy();
        reject(new Error(`request body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * How one try ended. `connect`: the connection was never established, so the upstream never saw
 * the request. `reset`: the connection failed after it was established (the request may have
 * been written and even processed: a process killed mid-request, a reset keep-alive socket).
 */
export type AttemptResult =
  | { kind: 'response'; response: IncomingMessage; latencyMs: number }
  | { kind: 'connect'; error: Error; latencyMs: number }
  | { kind: 'reset'; error: Error; latencyMs: number }
  | { kind: 'timeout'; latencyMs: number };

export interface AttemptOptions {
  agent: Agent;
  host: string;
  port: number;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  timeoutMs: number;
}

/** One try. Resolves when the response headers arrive (the body is still to be read or piped). */
export function attempt(options: AttemptOptions): Promise<AttemptResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = request(
      {
        agent: options.agent,
        host: options.host,
        port: options.port,
        method: options.method,
        path: options.path,
        headers: { ...options.headers, 'content-length': String(options.body.length) },
      },
      (response) => settle({ kind: 'response', response, latencyMs: performance.now() - started }),
    );
    const timer = setTimeout(() => {
      settle({ kind: 'timeout', latencyMs: performance.now() - started });
      req.destroy();
    }, options.timeoutMs);
    // A kept-alive socket is connected already; a new one once it emits 'connect'.
    let connected = false;
    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    req.on('error', (error) => settle({ kind: connected ? 'reset' : 'connect', error, latencyMs: performance.now() - started }));
    req.end(options.body);
  });
}

export function outcomeOf(result: AttemptResult): Outcome {
  // Both are connection failures for telemetry and the breakers.
  if (result.kind === 'connect' || result.kind === 'reset') return 'connect';
  if (result.kind === 'timeout') return 'timeout';
  const status = result.response.statusCode ?? 502;
  return status >= 500 ? 'http5xx' : status >= 400 ? 'http4xx' : 'ok';
}

/** Copies an upstream response to the client, streaming the body. */
export function relay(response: IncomingMessage, res: ServerResponse, extra: OutgoingHttpHeaders = {}): void {
  res.writeHead(response.statusCode ?? 502, { ...forwardableHeaders(response.headers), ...extra });
  response.pipe(res);
  response.on('error', () => res.destroy());
}

export function sendPlain(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

export function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!match) throw new Error(`bad address ${address}`);
  return { host: match[1]!, port: Number(match[2]) };
}

export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, timeout: 30_000 });
}

/**
 * Starts the HTTP server of a proxy (sidecar or gateway): a failed request is logged and
 * answered 500; keep-alive outlasts common client defaults. Resolves with the bound port.
 */
export async function listenProxy(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  port: number,
  host: string,
  what: string,
  logger: Logger,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error('request failed', { err, path: req.url });
      sendPlain(res, 500, `${what} error`);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** Graceful stop of a proxy: last telemetry out, deregister, stop accepting, wait for the server to close. */
export async function stopProxy(agent: MeshAgent, server: Server | null): Promise<void> {
  await agent.flushTelemetry().catch(() => undefined);
  await agent.stop();
  if (!server) return;
  server.closeIdleConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
