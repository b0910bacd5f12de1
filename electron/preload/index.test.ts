import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MeshdeckBridge } from '../../core/api/wire';

type EventListener = (event: unknown, topic: string, payload: unknown) => void;

const fake = vi.hoisted(() => ({
  exposed: new Map<string, unknown>(),
  eventListeners: new Map<string, ((event: unknown, ...args: unknown[]) => void)[]>(),
  exposeInMainWorld: vi.fn(),
  invoke: vi.fn(),
  send: vi.fn(),
  on: vi.fn(),
}));

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: fake.exposeInMainWorld },
  ipcRenderer: { invoke: fake.invoke, send: fake.send, on: fake.on },
}));

/** Imports a fresh copy of the preload (its listener maps are module state). */
async function loadPreload(): Promise<{ bridge: MeshdeckBridge; deliver: (topic: string, payload: unknown) => void }> {
  resetFakes();
  vi.resetModules();
  await import('./index');
  expect(fake.exposeInMainWorld).toHaveBeenCalledTimes(1);
  const bridge = fake.exposed.get('meshdeck') as MeshdeckBridge;
  const listeners = fake.eventListeners.get('meshdeck:event') ?? [];
  expect(listeners).toHaveLength(1);
  const listener = listeners[0] as EventListener;
  return { bridge, deliver: (topic, payload) => listener({ sender: {} }, topic, payload) };
}

function resetFakes(): void {
  fake.exposed.clear();
  fake.eventListeners.clear();
  fake.exposeInMainWorld.mockReset().mockImplementation((key: string, api: unknown) => {
    fake.exposed.set(key, api);
  });
  fake.on.mockReset().mockImplementation((channel: string, listener: (event: unknown, ...args: unknown[]) => void) => {
    fake.eventListeners.set(channel, [...(fake.eventListeners.get(channel) ?? []), listener]);
  });
  fake.invoke.mockReset();
  fake.send.mockReset();
}

beforeEach(resetFakes);

afterEach(() => {
  vi.resetModules();
});

describe('preload', () => {
  it('exposes exactly window.meshdeck with invoke and subscribe, nothing else', async () => {
    const { bridge } = await loadPreload();
    expect([...fake.exposed.keys()]).toEqual(['meshdeck']);
    expect(fake.exposeInMainWorld).toHaveBeenCalledWith('meshdeck', bridge);
    expect(Object.keys(bridge).sort()).toEqual(['invoke', 'subscribe']);
    expect(typeof bridge.invoke).toBe('function');
    expect(typeof bridge.subscribe).toBe('function');
    expect(Object.values(bridge).every((value) => typeof value === 'function')).toBe(true);
    expect(bridge).not.toHaveProperty('ipcRenderer');
    expect(bridge).not.toHaveProperty('send');
    expect(bridge).not.toHaveProperty('on');
  });

  it('listens on the event channel only, and sends nothing at load', async () => {
    await loadPreload();
    expect(fake.on).toHaveBeenCalledTimes(1);
    expect(fake.on.mock.calls[0]?.[0]).toBe('meshdeck:event');
    expect(fake.send).not.toHaveBeenCalled();
    expect(fake.invoke).not.toHaveBeenCalled();
  });

  it('forwards invoke to the invoke channel and returns its answer', async () => {
    const { bridge } = await loadPreload();
    const answer = { ok: true, result: { product: 'Meshdeck' } };
    fake.invoke.mockResolvedValue(answer);
    const input = { id: 'p1' };
    await expect(bridge.invoke('profiles.delete', input)).resolves.toBe(answer);
    expect(fake.invoke).toHaveBeenCalledTimes(1);
    expect(fake.invoke).toHaveBeenCalledWith('meshdeck:invoke', 'profiles.delete', input);
  });

  it('rejects invoke with a method that is not a string, without IPC', async () => {
    const { bridge } = await loadPreload();
    await expect(bridge.invoke(42 as unknown as string, {})).rejects.toThrow(TypeError);
    expect(fake.invoke).not.toHaveBeenCalled();
  });

  it('sends one subscribe per topic and delivers events to that topic only', async () => {
    const { bridge, deliver } = await loadPreload();
    const connections = vi.fn();
    const profiles = vi.fn();
    bridge.subscribe('connections.state', connections);
    bridge.subscribe('profiles.changed', profiles);
    expect(fake.send.mock.calls).toEqual([
      ['meshdeck:subscribe', 'connections.state'],
      ['meshdeck:subscribe', 'profiles.changed'],
    ]);

    deliver('connections.state', [{ profileId: 'p1' }]);
    expect(connections).toHaveBeenCalledTimes(1);
    expect(connections).toHaveBeenLastCalledWith([{ profileId: 'p1' }]);
    expect(profiles).not.toHaveBeenCalled();

    deliver('profiles.changed', []);
    expect(profiles).toHaveBeenCalledTimes(1);
    expect(profiles).toHaveBeenLastCalledWith([]);
    expect(connections).toHaveBeenCalledTimes(1);

    deliver('unknown.topic', 'x');
    expect(connections).toHaveBeenCalledTimes(1);
    expect(profiles).toHaveBeenCalledTimes(1);
  });

  it('gives a second listener on a topic the last value at once, without a second subscribe', async () => {
    const { bridge, deliver } = await loadPreload();
    const first = vi.fn();
    const second = vi.fn();
    bridge.subscribe('connections.state', first);
    deliver('connections.state', 'v1');
    deliver('connections.state', 'v2');

    bridge.subscribe('connections.state', second);
    expect(second).toHaveBeenCalledTimes(1);
    expect(second).toHaveBeenCalledWith('v2');
    expect(fake.send).toHaveBeenCalledTimes(1);

    deliver('connections.state', 'v3');
    expect(first.mock.calls).toEqual([['v1'], ['v2'], ['v3']]);
    expect(second.mock.calls).toEqual([['v2'], ['v3']]);
  });

  it('does not call a new listener before any value arrived', async () => {
    const { bridge } = await loadPreload();
    const first = vi.fn();
    const second = vi.fn();
    bridge.subscribe('connections.state', first);
    bridge.subscribe('connections.state', second);
    expect(first).not.toHaveBeenCalled();
    expect(second).not.toHaveBeenCalled();
  });

  it('sends unsubscribe only when the last listener of a topic leaves', async () => {
    const { bridge, deliver } = await loadPreload();
    const first = vi.fn();
    const second = vi.fn();
    const offFirst = bridge.subscribe('connections.state', first);
    const offSecond = bridge.subscribe('connections.state', second);
    deliver('connections.state', 'v1');

    offFirst();
    expect(fake.send).toHaveBeenCalledTimes(1);
    deliver('connections.state', 'v2');
    expect(first.mock.calls).toEqual([['v1']]);
    expect(second.mock.calls).toEqual([['v1'], ['v2']]);

    offSecond();
    expect(fake.send).toHaveBeenCalledTimes(2);
    expect(fake.send).toHaveBeenLastCalledWith('meshdeck:unsubscribe', 'connections.state');
    deliver('connections.state', 'v3');
    expect(second).toHaveBeenCalledTimes(2);

    // Calling an unsubscribe twice sends nothing more.
    offSecond();
    offFirst();
    expect(fake.send).toHaveBeenCalledTimes(2);
  });

  it('subscribes afresh after the last listener left, without a stale value', async () => {
    const { bridge, deliver } = await loadPreload();
    const off = bridge.subscribe('connections.state', vi.fn());
    deliver('connections.state', 'old');
    off();

    const again = vi.fn();
    bridge.subscribe('connections.state', again);
    expect(fake.send.mock.calls).toEqual([
      ['meshdeck:subscribe', 'connections.state'],
      ['meshdeck:unsubscribe', 'connections.state'],
      ['meshdeck:subscribe', 'connections.state'],
    ]);
    expect(again).not.toHaveBeenCalled();
  });

  it('refuses subscribe with a topic or listener of the wrong type', async () => {
    const { bridge } = await loadPreload();
    expect(() => bridge.subscribe(42 as unknown as string, vi.fn())).toThrow(TypeError);
    expect(() => bridge.subscribe('connections.state', 'not a function' as unknown as () => void)).toThrow(TypeError);
    expect(fake.send).not.toHaveBeenCalled();
  });

  it('starts with fresh state on every load (no listeners leak between tests)', async () => {
    const first = await loadPreload();
    first.bridge.subscribe('connections.state', vi.fn());
    first.deliver('connections.state', 'v1');

    const second = await loadPreload();
    expect(second.bridge).not.toBe(first.bridge);
    const listener = vi.fn();
    second.bridge.subscribe('connections.state', listener);
    expect(fake.send).toHaveBeenCalledWith('meshdeck:subscribe', 'connections.state');
    expect(listener).not.toHaveBeenCalled();
  });
});
