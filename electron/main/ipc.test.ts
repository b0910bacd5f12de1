import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SystemInfo } from '../../core/api/contract';
import { ApiRouter, type Handlers, type TopicSource, type TopicSources } from '../../core/api/router';
import { IPC_EVENT, IPC_INVOKE, IPC_SUBSCRIBE, IPC_UNSUBSCRIBE, type InvokeResult } from '../../core/api/wire';
import { createMeshCore, type MeshCore } from '../../core/app';
import { createLogger, silentLogger, type Logger } from '../../core/lib/log';
import { memorySecretStore } from '../../core/secrets/secret-store';

type Handler = (event: unknown, ...args: unknown[]) => unknown;

const ipc = vi.hoisted(() => {
  const handlers = new Map<string, Handler>();
  const listeners = new Map<string, Handler[]>();
  return {
    handlers,
    listeners,
    ipcMain: {
      handle: vi.fn((channel: string, handler: Handler) => {
        // Like Electron: one handler per channel.
        if (handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
        handlers.set(channel, handler);
      }),
      on: vi.fn((channel: string, listener: Handler) => {
        listeners.set(channel, [...(listeners.get(channel) ?? []), listener]);
      }),
      removeHandler: vi.fn((channel: string) => {
        handlers.delete(channel);
      }),
      removeAllListeners: vi.fn((channel: string) => {
        listeners.delete(channel);
      }),
    },
  };
});

vi.mock('electron', () => ({ ipcMain: ipc.ipcMain }));

const { registerApiBridge } = await import('./ipc');

const ORIGIN = 'meshdeck://app';
const TOP_FRAME = { url: 'meshdeck://app/index.html', parent: null };

// ---------------------------------------------------------------------------------------------
// Fakes of the Electron side
// ---------------------------------------------------------------------------------------------

class FakeSender extends EventEmitter {
  destroyed = false;
  readonly send = vi.fn((_channel: string, _topic: string, _payload: unknown) => undefined);
  readonly isDestroyed = vi.fn(() => this.destroyed);
  destroy(): void {
    this.destroyed = true;
    this.emit('destroyed');
  }
}

function invokeEvent(senderFrame: unknown): unknown {
  return { senderFrame, sender: new FakeSender() };
}

async function invoke(senderFrame: unknown, method: unknown, input?: unknown): Promise<InvokeResult> {
  const handler = ipc.handlers.get(IPC_INVOKE);
  if (!handler) throw new Error(`no handler for ${IPC_INVOKE}`);
  return (await handler(invokeEvent(senderFrame), method, input)) as InvokeResult;
}

function emit(channel: string, sender: FakeSender, senderFrame: unknown, topic: unknown): void {
  const listeners = ipc.listeners.get(channel) ?? [];
  expect(listeners).toHaveLength(1);
  for (const listener of listeners) listener({ sender, senderFrame }, topic);
}

const subscribe = (sender: FakeSender, topic: unknown, frame: unknown = TOP_FRAME) => emit(IPC_SUBSCRIBE, sender, frame, topic);
const unsubscribe = (sender: FakeSender, topic: unknown, frame: unknown = TOP_FRAME) => emit(IPC_UNSUBSCRIBE, sender, frame, topic);

/** Logs as JSON records, to assert on refusals. */
function recordingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records };
}

// ---------------------------------------------------------------------------------------------
// A real router over small handlers and controllable topics
// ---------------------------------------------------------------------------------------------

interface ControlledTopic<T> extends TopicSource<T> {
  set(value: T): void;
  watchers(): number;
}

function controlledTopic<T>(initial: T): ControlledTopic<T> {
  const emitter = new EventEmitter();
  let value = initial;
  return {
    current: () => value,
    watch(listener) {
      emitter.on('change', listener);
      return () => emitter.off('change', listener);
    },
    set(next) {
      value = next;
      emitter.emit('change', next);
    },
    watchers: () => emitter.listenerCount('change'),
  };
}

const SYSTEM_INFO: SystemInfo = {
  product: 'Meshdeck',
  version: '0.1.0-test',
  host: 'electron',
  schemaVersion: 1,
  migrations: [],
  databasePath: '/tmp/meshdeck-test.db',
  secretStore: { kind: 'memory', persistent: false, detail: 'test' },
  startedAt: 1_700_000_000_000,
  node: '20.0.0',
  storage: { state: 'ok', problem: null, message: null, operation: null, since: null, failures: 0 },
};

function unused(name: string): () => never {
  return () => {
    throw new Error(`${name} is not used by these tests`);
  };
}

function testRouter() {
  const systemInfo = vi.fn((_input: unknown, _ctx: unknown) => SYSTEM_INFO);
  const handlers: Handlers = {
    'system.info': systemInfo,
    'profiles.list': () => [],
    'profiles.create': unused('profiles.create'),
    'profiles.update': unused('profiles.update'),
    'profiles.delete': unused('profiles.delete'),
    'profiles.test': unused('profiles.test'),
    'connections.list': () => [],
    'connections.connect': unused('connections.connect'),
    'connections.disconnect': unused('connections.disconnect'),
    'mesh.services': unused('mesh.services'),
    'mesh.instances': unused('mesh.instances'),
    'mesh.endpoints': unused('mesh.endpoints'),
    'mesh.history': unused('mesh.history'),
    'mesh.edges': unused('mesh.edges'),
    'mesh.edge': unused('mesh.edge'),
    'mesh.eventFlows': unused('mesh.eventFlows'),
    'failover.policy': unused('failover.policy'),
    'failover.setPolicy': unused('failover.setPolicy'),
    'failover.zones': unused('failover.zones'),
    'telemetry.series': unused('telemetry.series'),
    'control.preview': unused('control.preview'),
    'control.act': unused('control.act'),
    'control.undo': unused('control.undo'),
    'control.actions': unused('control.actions'),
    'control.audit': unused('control.audit'),
    'broker.snapshot': unused('broker.snapshot'),
    'broker.flows': unused('broker.flows'),
    'incidents.list': unused('incidents.list'),
    'incidents.get': unused('incidents.get'),
    'incidents.acknowledge': unused('incidents.acknowledge'),
    'incidents.assign': unused('incidents.assign'),
    'incidents.note': unused('incidents.note'),
    'incidents.resolve': unused('incidents.resolve'),
    'incidents.export': unused('incidents.export'),
    'incidents.rules': unused('incidents.rules'),
    'incidents.setRules': unused('incidents.setRules'),
    'security.commandKeys': unused('security.commandKeys'),
    'security.rotateCommandKey': unused('security.rotateCommandKey'),
  };
  const connections = controlledTopic<TopicSources['connections.state'] extends TopicSource<infer T> ? T : never>([]);
  const profiles = controlledTopic<TopicSources['profiles.changed'] extends TopicSource<infer T> ? T : never>([]);
  const meshSummary = controlledTopic<TopicSources['mesh.summary'] extends TopicSource<infer T> ? T : never>([]);
  const meshTopology = controlledTopic<TopicSources['mesh.topology'] extends TopicSource<infer T> ? T : never>([]);
  const meshTraffic = controlledTopic<TopicSources['mesh.traffic'] extends TopicSource<infer T> ? T : never>([]);
  const controlActions = controlledTopic<TopicSources['control.actions'] extends TopicSource<infer T> ? T : never>([]);
  const storage = controlledTopic<TopicSources['system.storage'] extends TopicSource<infer T> ? T : never>(SYSTEM_INFO.storage);
  const brokerSnapshot = controlledTopic<TopicSources['broker.snapshot'] extends TopicSource<infer T> ? T : never>([]);
  const incidents = controlledTopic<TopicSources['incidents.changed'] extends TopicSource<infer T> ? T : never>([]);
  const eventsTail = controlledTopic<TopicSources['events.tail'] extends TopicSource<infer T> ? T : never>({ at: 0, mode: 'backlog', events: [] });
  const router = new ApiRouter(
    handlers,
    { 'connections.state': connections, 'profiles.changed': profiles, 'mesh.summary': meshSummary, 'mesh.topology': meshTopology, 'mesh.traffic': meshTraffic, 'control.actions': controlActions, 'system.storage': storage, 'broker.snapshot': brokerSnapshot, 'incidents.changed': incidents, 'events.tail': eventsTail },
    silentLogger,
  );
  return { router, systemInfo, connections, profiles, invokeSpy: vi.spyOn(router, 'invoke'), subscribeSpy: vi.spyOn(router, 'subscribe') };
}

function connectionState(profileId: string, status: 'idle' | 'connected') {
  return { profileId, status, attempt: 0, error: null, errorCode: null, blockedReason: null, since: 1, nextRetryAt: null, connectedAt: null };
}

let dispose: (() => void) | null = null;

beforeEach(() => {
  ipc.handlers.clear();
  ipc.listeners.clear();
  vi.clearAllMocks();
});

afterEach(() => {
  dispose?.();
  dispose = null;
});

describe('registerApiBridge: invoke', () => {
  it('registers one handler and two listeners on the contract channels', () => {
    const { router } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    expect([...ipc.handlers.keys()]).toEqual([IPC_INVOKE]);
    expect([...ipc.listeners.keys()].sort()).toEqual([IPC_SUBSCRIBE, IPC_UNSUBSCRIBE].sort());
    expect(IPC_INVOKE).toBe('meshdeck:invoke');
  });

  it('forwards a call from the app top frame to the router', async () => {
    const { router, systemInfo, invokeSpy } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);

    const result = await invoke(TOP_FRAME, 'system.info', {});
    expect(result).toEqual({ ok: true, result: SYSTEM_INFO });
    expect(systemInfo).toHaveBeenCalledTimes(1);
    expect(systemInfo.mock.calls[0]?.[1]).toEqual({ transport: 'ipc', actor: 'desktop' });
    expect(invokeSpy).toHaveBeenCalledWith('system.info', {}, { transport: 'ipc', actor: 'desktop' });
  });

  it('returns the router envelope for router errors', async () => {
    const { router } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);

    const unknown = await invoke(TOP_FRAME, 'system.shutdown', {});
    expect(unknown.ok).toBe(false);
    expect(!unknown.ok && unknown.error.code).toBe('NOT_FOUND');

    const invalid = await invoke(TOP_FRAME, 'system.info', { extra: true });
    expect(invalid.ok).toBe(false);
    expect(!invalid.ok && invalid.error.code).toBe('INVALID_INPUT');
  });

  it.each([
    ['another origin', { url: 'https://evil.example/', parent: null }],
    ['an iframe of the app', { url: 'meshdeck://app/index.html', parent: {} }],
    ['a file:// page', { url: 'file:///tmp/index.html', parent: null }],
    ['another app host', { url: 'meshdeck://evil/index.html', parent: null }],
    ['a frame that is gone', null],
    ['no frame at all', undefined],
  ])('refuses a call from %s without calling the router', async (_name, frame) => {
    const { router, systemInfo, invokeSpy } = testRouter();
    const { logger, records } = recordingLogger();
    dispose = registerApiBridge(router, ORIGIN, logger);

    const result = await invoke(frame, 'system.info', {});
    expect(result).toEqual({
      ok: false,
      error: { code: 'FORBIDDEN', message: 'IPC sender is not the Meshdeck renderer', issues: [] },
    });
    expect(invokeSpy).not.toHaveBeenCalled();
    expect(systemInfo).not.toHaveBeenCalled();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      level: 'warn',
      msg: 'refused IPC from an untrusted frame',
      channel: IPC_INVOKE,
      url: (frame as { url?: string } | null | undefined)?.url ?? null,
    });
  });

  it.each([[42], [null], [undefined], [{ method: 'system.info' }], [['system.info']]])(
    'answers INVALID_INPUT for a method that is not a string (%j)',
    async (method) => {
      const { router, invokeSpy } = testRouter();
      dispose = registerApiBridge(router, ORIGIN, silentLogger);
      const result = await invoke(TOP_FRAME, method, {});
      expect(result).toEqual({ ok: false, error: { code: 'INVALID_INPUT', message: 'method must be a string', issues: [] } });
      expect(invokeSpy).not.toHaveBeenCalled();
    },
  );

  it('checks the sender before the method', async () => {
    const { router } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const result = await invoke({ url: 'https://evil.example/', parent: null }, 42, {});
    expect(!result.ok && result.error.code).toBe('FORBIDDEN');
  });

  it('trusts the dev server origin when given it', async () => {
    const { router } = testRouter();
    dispose = registerApiBridge(router, 'http://localhost:5173', silentLogger);
    expect((await invoke({ url: 'http://localhost:5173/', parent: null }, 'system.info', {})).ok).toBe(true);
    expect((await invoke(TOP_FRAME, 'system.info', {})).ok).toBe(false);
  });
});

describe('registerApiBridge: subscriptions', () => {
  it('sends the current value at once, then every change', () => {
    const { router, connections } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const initial = [connectionState('p1', 'idle')];
    connections.set(initial);

    const sender = new FakeSender();
    subscribe(sender, 'connections.state');
    expect(sender.send).toHaveBeenCalledTimes(1);
    expect(sender.send).toHaveBeenLastCalledWith(IPC_EVENT, 'connections.state', initial);

    const next = [connectionState('p1', 'connected')];
    connections.set(next);
    expect(sender.send).toHaveBeenCalledTimes(2);
    expect(sender.send).toHaveBeenLastCalledWith('meshdeck:event', 'connections.state', next);
  });

  it('subscribes a sender to a topic only once', () => {
    const { router, connections, subscribeSpy } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'connections.state');
    subscribe(sender, 'connections.state');
    expect(subscribeSpy).toHaveBeenCalledTimes(1);
    expect(connections.watchers()).toBe(1);
    connections.set([]);
    expect(sender.send).toHaveBeenCalledTimes(2);
  });

  it('keeps the subscriptions of two senders apart', () => {
    const { router, connections, profiles } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const a = new FakeSender();
    const b = new FakeSender();
    subscribe(a, 'connections.state');
    subscribe(b, 'profiles.changed');
    connections.set([connectionState('x', 'idle')]);
    expect(a.send).toHaveBeenCalledTimes(2);
    expect(b.send).toHaveBeenCalledTimes(1);
    expect(b.send).toHaveBeenLastCalledWith(IPC_EVENT, 'profiles.changed', []);
    expect(profiles.watchers()).toBe(1);
  });

  it.each([
    ['another origin', { url: 'https://evil.example/', parent: null }],
    ['an iframe of the app', { url: 'meshdeck://app/index.html', parent: {} }],
    ['a frame that is gone', null],
  ])('sends nothing to %s', (_name, frame) => {
    const { router, connections, subscribeSpy } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'connections.state', frame);
    connections.set([connectionState('p1', 'connected')]);
    expect(sender.send).not.toHaveBeenCalled();
    expect(subscribeSpy).not.toHaveBeenCalled();
    expect(connections.watchers()).toBe(0);
    expect(sender.listenerCount('destroyed')).toBe(0);
  });

  it('ignores topics that are not strings, and logs unknown topics without throwing', () => {
    const { router, subscribeSpy } = testRouter();
    const { logger, records } = recordingLogger();
    dispose = registerApiBridge(router, ORIGIN, logger);
    const sender = new FakeSender();

    subscribe(sender, 42);
    subscribe(sender, { topic: 'connections.state' });
    expect(subscribeSpy).not.toHaveBeenCalled();

    expect(() => subscribe(sender, 'secrets.dump')).not.toThrow();
    expect(subscribeSpy).toHaveBeenCalledTimes(1);
    expect(sender.send).not.toHaveBeenCalled();
    expect(records).toEqual([expect.objectContaining({ level: 'warn', msg: 'refused subscription', topic: 'secrets.dump' })]);
  });

  it('releases a subscription on unsubscribe', () => {
    const { router, connections } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'connections.state');
    expect(connections.watchers()).toBe(1);

    unsubscribe(sender, 'connections.state');
    expect(connections.watchers()).toBe(0);
    connections.set([connectionState('p1', 'connected')]);
    expect(sender.send).toHaveBeenCalledTimes(1);

    // And it can subscribe again afterwards.
    subscribe(sender, 'connections.state');
    expect(connections.watchers()).toBe(1);
    expect(sender.send).toHaveBeenCalledTimes(2);
  });

  it('ignores an unsubscribe from an untrusted frame', () => {
    const { router, connections } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'connections.state');
    unsubscribe(sender, 'connections.state', { url: 'https://evil.example/', parent: null });
    expect(connections.watchers()).toBe(1);
  });

  it('releases every subscription of a sender when it is destroyed', () => {
    const { router, connections, profiles } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'connections.state');
    subscribe(sender, 'profiles.changed');
    expect(sender.listenerCount('destroyed')).toBe(1);
    expect(sender.send).toHaveBeenCalledTimes(2);

    sender.destroy();
    expect(connections.watchers()).toBe(0);
    expect(profiles.watchers()).toBe(0);

    connections.set([connectionState('p1', 'connected')]);
    profiles.set([]);
    expect(sender.send).toHaveBeenCalledTimes(2);
  });

  it('does not send to a sender that is already destroyed', () => {
    const { router, connections } = testRouter();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'connections.state');
    sender.destroyed = true; // destroyed, 'destroyed' event not delivered yet
    connections.set([connectionState('p1', 'connected')]);
    expect(sender.isDestroyed).toHaveBeenCalled();
    expect(sender.send).toHaveBeenCalledTimes(1);
  });
});

describe('registerApiBridge: disposer', () => {
  it('removes the handlers and releases every subscription', async () => {
    const { router, connections } = testRouter();
    const stop = registerApiBridge(router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'connections.state');
    expect(connections.watchers()).toBe(1);

    stop();
    expect(ipc.ipcMain.removeHandler).toHaveBeenCalledWith(IPC_INVOKE);
    expect(ipc.ipcMain.removeAllListeners).toHaveBeenCalledWith(IPC_SUBSCRIBE);
    expect(ipc.ipcMain.removeAllListeners).toHaveBeenCalledWith(IPC_UNSUBSCRIBE);
    expect(ipc.handlers.size).toBe(0);
    expect(ipc.listeners.size).toBe(0);
    expect(connections.watchers()).toBe(0);
    connections.set([]);
    expect(sender.send).toHaveBeenCalledTimes(1);

    // A later 'destroyed' is harmless, and the bridge can be registered again.
    expect(() => sender.destroy()).not.toThrow();
    dispose = registerApiBridge(router, ORIGIN, silentLogger);
    expect((await invoke(TOP_FRAME, 'system.info', {})).ok).toBe(true);
  });
});

describe('registerApiBridge over a real core', () => {
  let dir: string;
  let core: MeshCore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshdeck-ipc-'));
    core = createMeshCore({
      databasePath: join(dir, 'meshdeck.db'),
      secrets: memorySecretStore('tests keep secrets in memory'),
      logger: silentLogger,
      host: 'electron',
    });
  });

  afterEach(async () => {
    dispose?.();
    dispose = null;
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers system.info for the app top frame', async () => {
    dispose = registerApiBridge(core.router, ORIGIN, silentLogger);
    const result = await invoke(TOP_FRAME, 'system.info', undefined);
    expect(result.ok).toBe(true);
    const info = (result as { ok: true; result: SystemInfo }).result;
    expect(info.product).toBe('Meshdeck');
    expect(info.host).toBe('electron');
    expect(info.databasePath).toBe(join(dir, 'meshdeck.db'));
    expect(info.secretStore).toEqual({ kind: 'memory', persistent: false, detail: 'tests keep secrets in memory' });
    expect(info.schemaVersion).toBeGreaterThan(0);
  });

  it('refuses system.info from an iframe without calling the core', async () => {
    const spy = vi.spyOn(core.router, 'invoke');
    dispose = registerApiBridge(core.router, ORIGIN, silentLogger);
    const result = await invoke({ url: 'meshdeck://app/index.html', parent: {} }, 'system.info', {});
    expect(!result.ok && result.error.code).toBe('FORBIDDEN');
    expect(spy).not.toHaveBeenCalled();
  });

  it('pushes profile changes made through invoke to a subscribed renderer', async () => {
    dispose = registerApiBridge(core.router, ORIGIN, silentLogger);
    const sender = new FakeSender();
    subscribe(sender, 'profiles.changed');
    expect(sender.send).toHaveBeenCalledTimes(1);
    expect(sender.send).toHaveBeenLastCalledWith(IPC_EVENT, 'profiles.changed', []);

    const created = await invoke(TOP_FRAME, 'profiles.create', { name: 'local', url: 'amqp://127.0.0.1:5672' });
    expect(created.ok).toBe(true);
    const lastPayload = sender.send.mock.calls.at(-1)?.[2] as { name: string }[];
    expect(sender.send.mock.calls.at(-1)?.[1]).toBe('profiles.changed');
    expect(lastPayload.map((p) => p.name)).toEqual(['local']);

    const calls = sender.send.mock.calls.length;
    sender.destroy();
    await invoke(TOP_FRAME, 'profiles.create', { name: 'second', url: 'amqp://127.0.0.1:5673' });
    expect(sender.send).toHaveBeenCalledTimes(calls);
  });
});
