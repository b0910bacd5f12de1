/**
 * Wire details of the headless host's WebSocket, shared by the host and the renderer's client.
 * Dependency-free on purpose: the renderer imports values from here.
 */
import type { ApiErrorBody } from '../lib/errors.js';

export type InvokeResult<T = unknown> = { ok: true; result: T } | { ok: false; error: ApiErrorBody };

/** The bridge the Electron preload exposes as `window.meshdeck`; nothing else is exposed. */
export interface MeshdeckBridge {
  invoke(method: string, input: unknown): Promise<InvokeResult>;
  subscribe(topic: string, listener: (payload: unknown) => void): () => void;
}

export type WsClientFrame =
  | { t: 'call'; id: number; method: string; input: unknown }
  | { t: 'sub'; topic: string }
  | { t: 'unsub'; topic: string };

export type WsServerFrame =
  | ({ t: 'result'; id: number } & InvokeResult)
  | { t: 'event'; topic: string; payload: unknown }
  | { t: 'error'; error: ApiErrorBody };

/** Subprotocols of the WebSocket: the API version, and the bearer token (browsers cannot set headers). */
export const WS_PROTOCOL = 'meshdeck.v1';
export const WS_TOKEN_PREFIX = 'bearer.';
export const WS_PATH = '/api/ws';

/** IPC channels between preload and main. */
export const IPC_INVOKE = 'meshdeck:invoke';
export const IPC_SUBSCRIBE = 'meshdeck:subscribe';
export const IPC_UNSUBSCRIBE = 'meshdeck:unsubscribe';
export const IPC_EVENT = 'meshdeck:event';
