/**
 * The renderer's one way to reach the core. It picks the transport at start: the preload
 * bridge (`window.meshdeck`) inside Electron, a WebSocket to the headless host in a browser.
 * Views only see the typed `ApiClient`.
 */
import type {
  ApiErrorBody,
  FieldIssue,
  InvokeResult,
  MeshdeckBridge,
  MethodInput,
  MethodName,
  MethodOutput,
  TopicName,
  TopicPayload,
} from '../../../core/api/contract';
import { createWsTransport, readToken } from './ws-transport';

export type LinkState = 'connecting' | 'open' | 'reconnecting' | 'unauthorized';

export interface LinkStatus {
  transport: 'ipc' | 'websocket';
  state: LinkState;
  detail: string | null;
}

/** What a transport provides: untyped calls and topics, plus the health of the link itself. */
export interface Transport {
  invoke(method: string, input: unknown): Promise<InvokeResult>;
  subscribe(topic: string, listener: (payload: unknown) => void): () => void;
  status(): LinkStatus;
  onStatus(listener: (status: LinkStatus) => void): () => void;
}

export class ApiError extends Error {
  readonly code: string;
  readonly issues: FieldIssue[];
  constructor(body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.code = body.code;
    this.issues = body.issues;
  }
  /** The message for one form field, if the core named it. */
  issueFor(path: string): string | undefined {
    return this.issues.find((issue) => issue.path === path)?.message;
  }
}

export interface ApiClient {
  call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodOutput<M>>;
  subscribe<T extends TopicName>(topic: T, listener: (payload: TopicPayload<T>) => void): () => void;
  link(): LinkStatus;
  onLink(listener: (status: LinkStatus) => void): () => void;
}

export function clientFrom(transport: Transport): ApiClient {
  return {
    async call(method, input) {
      const outcome = await transport.invoke(method, input);
      if (!outcome.ok) throw new ApiError(outcome.error);
      return outcome.result as never;
    },
    subscribe(topic, listener) {
      return transport.subscribe(topic, listener as (payload: unknown) => void);
    },
    link: () => transport.status(),
    onLink: (listener) => transport.onStatus(listener),
  };
}

function ipcTransport(bridge: MeshdeckBridge): Transport {
  const status: LinkStatus = { transport: 'ipc', state: 'open', detail: null };
  return {
    invoke: (method, input) => bridge.invoke(method, input),
    subscribe: (topic, listener) => bridge.subscribe(topic, listener),
    status: () => status,
    onStatus: () => () => undefined,
  };
}

export function createApiClient(win: Window & { meshdeck?: MeshdeckBridge } = window): ApiClient {
  if (win.meshdeck) return clientFrom(ipcTransport(win.meshdeck));
  return clientFrom(createWsTransport(win.location, readToken(win)));
}
