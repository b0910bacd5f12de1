/**
 * WebSocket transport to the headless host: one socket, calls matched by id, subscriptions
 * re-sent after every reconnect, reconnect with capped backoff.
 */
import type { InvokeResult, WsClientFrame, WsServerFrame } from '../../../core/api/contract';
import { WS_PATH, WS_PROTOCOL, WS_TOKEN_PREFIX } from '../../../core/api/wire';
import type { LinkStatus, Transport } from './client';

const TOKEN_KEY = 'meshdeck.token';
const MAX_QUEUED_CALLS = 1000;

/** Takes the token from `#token=…` (then removes it from the address bar) or from this tab's storage. */
export function readToken(win: Window): string | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(win.location.hash);
  if (match?.[1]) {
    const token = decodeURIComponent(match[1]);
    win.sessionStorage.setItem(TOKEN_KEY, token);
    win.history.replaceState(null, '', `${win.location.pathname}${win.location.search}#/`);
    return token;
  }
  return win.sessionStorage.getItem(TOKEN_KEY);
}

interface PendingCall {
  resolve: (result: InvokeResult) => void;
}

export function createWsTransport(location: Location, token: string | null): Transport {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  /** Last value per topic, so a second listener on a topic starts with it too. */
  const latest = new Map<string, unknown>();
  const statusListeners = new Set<(status: LinkStatus) => void>();
  const pending = new Map<number, PendingCall>();
  const queued: WsClientFrame[] = [];
  let nextId = 1;
  let socket: WebSocket | null = null;
  let attempt = 0;
  let status: LinkStatus = token
    ? { transport: 'websocket', state: 'connecting', detail: null }
    : { transport: 'websocket', state: 'unauthorized', detail: 'No access token. Open the URL that `meshdeck serve` printed.' };

  const setStatus = (next: LinkStatus) => {
    status = next;
    for (const listener of statusListeners) listener(status);
  };

  const send = (frame: WsClientFrame) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    else if (frame.t === 'call') {
      if (queued.length >= MAX_QUEUED_CALLS) {
        pending.get(frame.id)?.resolve(linkDown('Too many calls waiting for the console connection'));
        pending.delete(frame.id);
        return;
      }
      queued.push(frame);
    }
  };

  const linkDown = (message: string): InvokeResult => ({ ok: false, error: { code: 'UNAVAILABLE', message, issues: [] } });

  /** A refused upgrade looks like any other close to a browser; ask over HTTP what is wrong. */
  const checkToken = async (): Promise<boolean> => {
    try {
      const res = await fetch('/api/system.info', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      return res.status !== 401;
    } catch {
      return true; // the host is down, not the token wrong
    }
  };

  const connect = () => {
    if (!token) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}${WS_PATH}`, [WS_PROTOCOL, `${WS_TOKEN_PREFIX}${token}`]);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      setStatus({ transport: 'websocket', state: 'open', detail: null });
      for (const topic of listeners.keys()) ws.send(JSON.stringify({ t: 'sub', topic } satisfies WsClientFrame));
      for (const frame of queued.splice(0)) ws.send(JSON.stringify(frame));
    };
    ws.onmessage = (event) => {
      const frame = JSON.parse(String(event.data)) as WsServerFrame;
      if (frame.t === 'result') {
        const call = pending.get(frame.id);
        pending.delete(frame.id);
        call?.resolve(frame.ok ? { ok: true, result: frame.result } : { ok: false, error: frame.error });
      } else if (frame.t === 'event') {
        latest.set(frame.topic, frame.payload);
        for (const listener of listeners.get(frame.topic) ?? []) listener(frame.payload);
      } else if (frame.t === 'error') {
        console.error('console API error', frame.error);
      }
    };
    ws.onclose = async () => {
      if (socket !== ws) return;
      socket = null;
      for (const [id, call] of pending) {
        if (!queued.some((f) => f.t === 'call' && f.id === id)) {
          call.resolve(linkDown('The connection to the console was lost before it answered'));
          pending.delete(id);
        }
      }
      attempt += 1;
      if (!(await checkToken())) {
        setStatus({ transport: 'websocket', state: 'unauthorized', detail: 'The console refused this access token. Open the URL that `meshdeck serve` printed.' });
        return;
      }
      const delay = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6));
      setStatus({ transport: 'websocket', state: 'reconnecting', detail: `Console unreachable; retrying (attempt ${attempt})` });
      setTimeout(connect, delay);
    };
  };
  connect();

  return {
    invoke(method, input) {
      if (status.state === 'unauthorized') return Promise.resolve(linkDown(status.detail ?? 'Not authorised'));
      const id = nextId++;
      return new Promise<InvokeResult>((resolve) => {
        pending.set(id, { resolve });
        send({ t: 'call', id, method, input });
      });
    },
    subscribe(topic, listener) {
      let set = listeners.get(topic);
      if (!set) {
        set = new Set();
        listeners.set(topic, set);
        send({ t: 'sub', topic });
      }
      set.add(listener);
      if (latest.has(topic)) listener(latest.get(topic));
      return () => {
        const current = listeners.get(topic);
        current?.delete(listener);
        if (current && current.size === 0) {
          listeners.delete(topic);
          latest.delete(topic);
          send({ t: 'unsub', topic });
        }
      };
    },
    status: () => status,
    onStatus(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
  };
}
