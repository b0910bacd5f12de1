/**
 * The preload exposes exactly two functions to the renderer, for the API contract:
 * invoke(method, input) and subscribe(topic, listener). No ipcRenderer, no Node.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { IPC_EVENT, IPC_INVOKE, IPC_SUBSCRIBE, IPC_UNSUBSCRIBE, type InvokeResult, type MeshdeckBridge } from '../../core/api/wire';

const listeners = new Map<string, Set<(payload: unknown) => void>>();
/** Last value per topic, so a second listener on a topic starts with it too. */
const latest = new Map<string, unknown>();

ipcRenderer.on(IPC_EVENT, (_event: IpcRendererEvent, topic: string, payload: unknown) => {
  const current = listeners.get(topic);
  if (!current) return; // late event for a topic nobody listens to any more
  latest.set(topic, payload);
  for (const listener of current) listener(payload);
});

const bridge: MeshdeckBridge = {
  invoke(method, input) {
    if (typeof method !== 'string') return Promise.reject(new TypeError('method must be a string'));
    return ipcRenderer.invoke(IPC_INVOKE, method, input) as Promise<InvokeResult>;
  },
  subscribe(topic, listener) {
    if (typeof topic !== 'string' || typeof listener !== 'function') throw new TypeError('subscribe(topic: string, listener: function)');
    let set = listeners.get(topic);
    if (!set) {
      set = new Set();
      listeners.set(topic, set);
      ipcRenderer.send(IPC_SUBSCRIBE, topic);
    }
    set.add(listener);
    if (latest.has(topic)) listener(latest.get(topic));
    return () => {
      const current = listeners.get(topic);
      current?.delete(listener);
      if (current?.size === 0) {
        listeners.delete(topic);
        latest.delete(topic);
        ipcRenderer.send(IPC_UNSUBSCRIBE, topic);
      }
    };
  },
};

contextBridge.exposeInMainWorld('meshdeck', bridge);
