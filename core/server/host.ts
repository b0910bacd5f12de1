/**
 * The headless host: the API over HTTP (`POST /api/<method>`) and WebSocket (`/api/ws`), plus
 * the built renderer, on 127.0.0.1 by default. Every API request needs the bearer token;
 * Host and Origin are checked so a web page cannot reach the API through DNS rebinding or
 * cross-site requests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_PATH, WS_PROTOCOL, WS_TOKEN_PREFIX, type WsClientFrame, type WsServerFrame } from '../api/wire.js';
import type { ApiRouter, CallContext } from '../api/router.js';
import { toErrorBody, type ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { MESHDECK_VERSION } from '../version.js';
import { CONTENT_SECURITY_POLICY, allowedHosts, bearerFrom, isAllowedHost, isAllowedOrigin, tokensEqual } from './security.js';
import { serveStatic } from './static.js';

export interface HostOptions {
  router: ApiRouter;
  token: string;
  logger: Logger;
  /** Folder of the built renderer (index.html + assets). */
  staticDir: string;
  host?: string;
  port?: number;
  /** Extra `host:port` values accepted in the Host header (e.g. behind a known reverse proxy). */
  extraAllowedHosts?: string[];
  maxBodyBytes?: number;
  /** Prometheus text for GET /metrics (behind the token); absent: 404. */
  metrics?: () => string;
}

export interface RunningHost {
  /** Base URL without the token, e.g. http://127.0.0.1:7400 */
  url: string;
  /** URL to open in a browser: the token travels in the fragment, which browsers never send to servers. */
  consoleUrl: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 7400;
const MAX_WS_BUFFER = 8 * 1024 * 1024;

export const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  BROKER_ERROR: 502,
  // The database refused a write (disk full, read-only, locked): the message says which and what to do.
  STORE_ERROR: 503,
  SECRETS_UNAVAILABLE: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};


const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...SECURITY_HEADERS,
    ...extra,
  });
  res.end(payload);
}

function sendError(res: ServerResponse, code: ErrorCode, message: string, extra: Record<string, string> = {}): void {
  sendJson(res, HTTP_STATUS[code], { code, message, issues: [] }, extra);
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume(); // discard; the 413 goes out with Connection: close
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const { router, token, logger } = options;
  const bindHost = options.host ?? '127.0.0.1';
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const extraHosts = new Set((options.extraAllowedHosts ?? []).map((h) => h.toLowerCase()));
  let hosts = new Set<string>();
  const log = logger.child('host');

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log.error('request failed', { method: req.method, path: req.url?.split('?')[0], err });
      if (!res.headersSent) sendError(res, 'INTERNAL', 'Internal error; see the console log');
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!isAllowedHost(req.headers.host, hosts, extraHosts)) {
      log.warn('refused request with an unexpected Host header', { host: req.headers.host, path });
      sendError(res, 'FORBIDDEN', 'Unexpected Host header (DNS rebinding protection); use http://127.0.0.1:<port>');
      return;
    }
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok', product: 'Meshdeck', version: MESHDECK_VERSION });
      return;
    }
    if (path === '/metrics' && options.metrics) {
      if (!tokensEqual(bearerFrom(req.headers.authorization), token)) {
        sendError(res, 'UNAUTHORIZED', 'Missing or wrong bearer token (Authorization: Bearer <token>)', { 'www-authenticate': 'Bearer realm="meshdeck"' });
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
      res.end(options.metrics());
      return;
    }
    if (path.startsWith('/api/')) {
      await handleApi(req, res, path.slice('/api/'.length));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { code: 'INVALID_INPUT', message: `${req.method} ${path} is not served`, issues: [] }, { allow: 'GET, HEAD' });
      return;
    }
    if (!serveStatic(options.staticDir, path, res, SECURITY_HEADERS)) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end(`The console UI is not built (no index.html in ${options.staticDir}). Run: npm run build:web\n`);
    }
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (!isAllowedOrigin(req.headers.origin, req.headers.host)) {
      sendError(res, 'FORBIDDEN', 'Cross-origin API requests are not allowed');
      return;
    }
    if (!tokensEqual(bearerFrom(req.headers.authorization), token)) {
      sendError(res, 'UNAUTHORIZED', 'Missing or wrong bearer token (Authorization: Bearer <token>)', {
        'www-authenticate': 'Bearer realm="meshdeck"',
      });
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { code: 'INVALID_INPUT', message: `Use POST /api/${method} with a JSON body`, issues: [] }, { allow: 'POST' });
      return;
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (contentType !== 'application/json') {
      sendJson(res, 415, { code: 'INVALID_INPUT', message: 'Content-Type must be application/json', issues: [] });
      return;
    }
    let input: unknown;
    try {
      const text = await readBody(req, maxBody);
      input = text.trim() === '' ? {} : JSON.parse(text);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        const message = `Request body is larger than ${maxBody} bytes`;
        sendJson(res, 413, { code: 'INVALID_INPUT', message, issues: [] }, { connection: 'close' });
      } else {
        sendJson(res, 400, { code: 'INVALID_INPUT', message: 'The request body is not valid JSON', issues: [] });
      }
      return;
    }
    const ctx: CallContext = { transport: 'http', actor: `http ${req.socket.remoteAddress ?? 'unknown'}` };
    const outcome = await router.invoke(method, input, ctx);
    if (outcome.ok) sendJson(res, 200, outcome.result);
    else sendJson(res, HTTP_STATUS[outcome.error.code as ErrorCode] ?? 500, outcome.error);
  }

  // --- WebSocket ------------------------------------------------------------------------------

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxBody,
    handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });

  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    const refuse = (status: number, text: string) => {
      log.warn('refused WebSocket upgrade', { status, reason: text });
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (path !== WS_PATH) return refuse(404, 'Not Found');
    if (!isAllowedHost(req.headers.host, hosts, extraHosts)) return refuse(403, 'Forbidden');
    if (!isAllowedOrigin(req.headers.origin, req.headers.host)) return refuse(403, 'Forbidden');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const presented = offered.find((p) => p.startsWith(WS_TOKEN_PREFIX))?.slice(WS_TOKEN_PREFIX.length);
    if (!tokensEqual(presented, token) || !offered.includes(WS_PROTOCOL)) return refuse(401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, req));
  });

  function serveSocket(ws: WebSocket, req: IncomingMessage): void {
    const ctx: CallContext = { transport: 'ws', actor: `ws ${req.socket.remoteAddress ?? 'unknown'}` };
    const subscriptions = new Map<string, () => void>();
    // Newest value wins per topic while the client is behind: no unbounded queue per socket.
    const pending = new Map<string, unknown>();
    let flushTimer: NodeJS.Timeout | null = null;
    let alive = true;

    const send = (frame: WsServerFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
    };
    const flush = () => {
      flushTimer = null;
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_WS_BUFFER) {
        flushTimer = setTimeout(flush, 50);
        return;
      }
      for (const [topic, payload] of pending) send({ t: 'event', topic, payload });
      pending.clear();
    };
    const queueEvent = (topic: string, payload: unknown) => {
      pending.set(topic, payload);
      flushTimer ??= setTimeout(flush, 0);
    };

    ws.on('message', (data, isBinary) => {
      if (isBinary) return send({ t: 'error', error: { code: 'INVALID_INPUT', message: 'Binary frames are not accepted', issues: [] } });
      let frame: WsClientFrame;
      try {
        frame = JSON.parse(data.toString()) as WsClientFrame;
      } catch {
        return send({ t: 'error', error: { code: 'INVALID_INPUT', message: 'Frame is not valid JSON', issues: [] } });
      }
      if (frame?.t === 'call' && typeof frame.id === 'number' && typeof frame.method === 'string') {
        void router.invoke(frame.method, frame.input, ctx).then((outcome) => send({ t: 'result', id: frame.id, ...outcome }));
      } else if (frame?.t === 'sub' && typeof frame.topic === 'string') {
        if (subscriptions.has(frame.topic)) return;
        try {
          subscriptions.set(frame.topic, router.subscribe(frame.topic, (payload) => queueEvent(frame.topic, payload)));
        } catch (err) {
          send({ t: 'error', error: toErrorBody(err) });
        }
      } else if (frame?.t === 'unsub' && typeof frame.topic === 'string') {
        subscriptions.get(frame.topic)?.();
        subscriptions.delete(frame.topic);
        pending.delete(frame.topic);
      } else {
        send({ t: 'error', error: { code: 'INVALID_INPUT', message: 'Unknown frame; expected call, sub or unsub', issues: [] } });
      }
    });
    ws.on('pong', () => {
      alive = true;
    });
    const pinger = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, 20_000);
    pinger.unref();
    ws.on('close', () => {
      clearInterval(pinger);
      if (flushTimer) clearTimeout(flushTimer);
      for (const unsubscribe of subscriptions.values()) unsubscribe();
      subscriptions.clear();
      pending.clear();
    });
    ws.on('error', (err) => log.debug('websocket error', { err }));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, bindHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(bindHost, port);
  const displayHost = bindHost === '0.0.0.0' || bindHost === '::' ? '127.0.0.1' : bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  const url = `http://${displayHost}:${port}`;
  if (bindHost !== '127.0.0.1' && bindHost !== 'localhost' && bindHost !== '::1') {
    log.warn('listening beyond loopback: anyone who can reach this address and has the token can control the mesh', {
      host: bindHost,
      port,
    });
  }
  log.info('listening', { url });

  return {
    url,
    consoleUrl: `${url}/#token=${encodeURIComponent(token)}`,
    port,
    async close() {
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
