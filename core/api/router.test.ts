import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ConflictError, MeshdeckError, NotFoundError, ValidationError } from '../lib/errors.js';
import { createLogger, type Logger, type LogLevel } from '../lib/log.js';
import { methods, topics, type BrokerSnapshot, type ConnectionState, type ControlActionsView, type IncidentsView, type MeshSummary, type MeshTopology, type MeshTraffic, type Profile, type StorageHealth, type TailBatch } from './contract.js';
import { ApiRouter, zodIssues, type CallContext, type Handlers, type TopicSource, type TopicSources } from './router.js';

const ctx: CallContext = { transport: 'internal', actor: 'unit test' };

function capturingLogger(level: LogLevel = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level, sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const PROFILE: Profile = {
  id: 'p-1',
  name: 'local',
  url: 'amqp://127.0.0.1:5672',
  vhost: '/',
  username: 'guest',
  passwordStorage: 'encrypted',
  heartbeatSeconds: 30,
  tls: { enabled: false, caFile: null, certFile: null, keyFile: null, servername: null, verify: true },
  managementUrl: null,
  autoConnect: false,
  source: 'saved',
  createdAt: 1,
  updatedAt: 2,
};

const STATE: ConnectionState = {
  profileId: 'p-1',
  status: 'idle',
  attempt: 0,
  error: null,
  errorCode: null,
  blockedReason: null,
  since: 1,
  nextRetryAt: null,
  connectedAt: null,
};

/** A topic source backed by an EventEmitter, so tests can push changes. */
function fakeSource<T>(initial: T): TopicSource<T> & { set(value: T): void; listeners(): number } {
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
    listeners: () => emitter.listenerCount('change'),
  };
}

const STORAGE_OK: StorageHealth = { state: 'ok', problem: null, message: null, operation: null, since: null, failures: 0 };

function makeSources() {
  const profiles = fakeSource<Profile[]>([PROFILE]);
  const connections = fakeSource<ConnectionState[]>([STATE]);
  const sources: TopicSources = {
    'profiles.changed': profiles,
    'connections.state': connections,
    'mesh.summary': fakeSource<MeshSummary[]>([]),
    'mesh.topology': fakeSource<MeshTopology[]>([]),
    'mesh.traffic': fakeSource<MeshTraffic[]>([]),
    'control.actions': fakeSource<ControlActionsView[]>([]),
    'system.storage': fakeSource<StorageHealth>(STORAGE_OK),
    'broker.snapshot': fakeSource<BrokerSnapshot[]>([]),
    'incidents.changed': fakeSource<IncidentsView[]>([]),
    'events.tail': fakeSource<TailBatch>({ at: 0, mode: 'backlog', events: [] }),
  };
  return { sources, profiles, connections };
}

function unusedHandlers<M extends keyof Handlers>(names: M[]): Pick<Handlers, M> {
  return Object.fromEntries(
    names.map((name) => [
      name,
      () => {
        throw new Error(`${name} is not used by these tests`);
      },
    ]),
  ) as unknown as Pick<Handlers, M>;
}

/** Handlers that answer well-formed values; individual tests override what they need. */
function fakeHandlers(overrides: Partial<Record<keyof Handlers, unknown>> = {}): Handlers {
  const base: Handlers = {
    'system.info': () => ({
      product: 'Meshdeck',
      version: '0.0.0-test',
      host: 'headless',
      schemaVersion: 1,
      migrations: [{ version: 1, name: 'connection profiles', appliedAt: 5 }],
      databasePath: '/tmp/x.db',
      secretStore: { kind: 'memory', persistent: false, detail: 'test' },
      startedAt: 7,
      node: '20.0.0',
      storage: STORAGE_OK,
    }),
    'profiles.list': () => [PROFILE],
    'profiles.create': (input) => ({ ...PROFILE, name: input.name }),
    'profiles.update': ({ id }) => ({ ...PROFILE, id }),
    'profiles.delete': () => ({ deleted: true as const }),
    'profiles.test': () => ({ ok: true, latencyMs: 3, error: null, errorCode: null }),
    'connections.list': () => [STATE],
    'connections.connect': ({ profileId }) => ({ ...STATE, profileId, status: 'connecting' as const }),
    'connections.disconnect': ({ profileId }) => ({ ...STATE, profileId, status: 'disconnected' as const }),
    'mesh.services': () => [],
    'mesh.instances': () => [],
    'mesh.endpoints': ({ service }) => ({ service, revision: 0, endpoints: [] }),
    'mesh.history': () => [],
    'mesh.edges': () => [],
    'mesh.edge': () => null,
    'mesh.eventFlows': () => [],
    'failover.policy': () => { throw new Error('unused'); },
    'failover.setPolicy': () => { throw new Error('unused'); },
    'failover.zones': () => { throw new Error('unused'); },
    'telemetry.series': () => ({ resolution: '1s' as const, stepMs: 1000, start: 0, end: 0, series: 0, points: [] }),
    'control.preview': () => {
      throw new Error('control.preview is not used by these tests');
    },
    'control.act': () => {
      throw new Error('control.act is not used by these tests');
    },
    'broker.snapshot': () => {
      throw new Error('broker.snapshot is not used by these tests');
    },
    'broker.flows': () => ({ nodes: [], edges: [] }),
    'control.undo': () => {
      throw new Error('control.undo is not used by these tests');
    },
    'control.actions': () => {
      throw new Error('control.actions is not used by these tests');
    },
    'control.audit': () => ({ entries: [], nextCursor: null }),
    ...unusedHandlers(['incidents.list', 'incidents.get', 'incidents.acknowledge', 'incidents.assign', 'incidents.note', 'incidents.resolve', 'incidents.export', 'incidents.rules', 'incidents.setRules']),
    'security.commandKeys': () => [],
    'security.rotateCommandKey': () => {
      throw new Error('not used');
    },
  };
  return { ...base, ...overrides } as Handlers;
}

function makeRouter(overrides: Partial<Record<keyof Handlers, unknown>> = {}, level: LogLevel = 'debug') {
  const { logger, lines } = capturingLogger(level);
  const { sources, profiles, connections } = makeSources();
  const router = new ApiRouter(fakeHandlers(overrides), sources, logger);
  return { router, lines, profiles, connections };
}

async function callError(promise: Promise<unknown>): Promise<MeshdeckError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(MeshdeckError);
    return err as MeshdeckError;
  }
  throw new Error('expected the call to fail');
}

describe('ApiRouter.isMethod / isTopic', () => {
  it('knows every contract method and topic, and nothing from the prototype chain', () => {
    for (const name of Object.keys(methods)) expect(ApiRouter.isMethod(name)).toBe(true);
    for (const name of Object.keys(topics)) expect(ApiRouter.isTopic(name)).toBe(true);
    for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'profiles', '']) {
      expect(ApiRouter.isMethod(name)).toBe(false);
      expect(ApiRouter.isTopic(name)).toBe(false);
    }
  });
});

describe('ApiRouter.call', () => {
  it('rejects an unknown method with NOT_FOUND naming the method', async () => {
    const { router } = makeRouter();
    const err = await callError(router.call('profiles.explode', {}, ctx));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain('profiles.explode');
    expect(err.context).toEqual({ method: 'profiles.explode' });
  });

  it('does not dispatch prototype names such as toString or __proto__', async () => {
    const { router } = makeRouter();
    expect((await callError(router.call('toString', {}, ctx))).code).toBe('NOT_FOUND');
    expect((await callError(router.call('__proto__', {}, ctx))).code).toBe('NOT_FOUND');
  });

  it('reports a non-amqp URL as a ValidationError on the "url" field', async () => {
    let called = false;
    const { router } = makeRouter({
      'profiles.create': () => {
        called = true;
        return PROFILE;
      },
    });
    const err = await callError(router.call('profiles.create', { name: 'x', url: 'http://x' }, ctx));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.issues.map((i) => i.path)).toEqual(['url']);
    expect(err.issues[0]?.message).toMatch(/amqp:\/\/ or amqps:\/\//);
    expect(err.message).toContain('Invalid input for profiles.create');
    expect(err.message).toContain('url: ');
    expect(err.context).toEqual({ method: 'profiles.create' });
    expect(called).toBe(false);
  });

  it('reports a missing name on the "name" field', async () => {
    const { router } = makeRouter();
    const err = await callError(router.call('profiles.create', { url: 'amqp://127.0.0.1' }, ctx));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.issues.map((i) => i.path)).toEqual(['name']);
  });

  it('reports a blank (whitespace only) name with the contract message', async () => {
    const { router } = makeRouter();
    const err = await callError(router.call('profiles.create', { name: '   ', url: 'amqp://h' }, ctx));
    expect(err.issues).toEqual([{ path: 'name', message: 'name is required' }]);
  });

  it('lists every failing field, with dotted paths for nested ones', async () => {
    const { router } = makeRouter();
    const err = await callError(
      router.call('profiles.create', { name: 'x', url: 'amqp://h', heartbeatSeconds: -1, tls: { verify: 'yes' } }, ctx),
    );
    expect(err.issues.map((i) => i.path).sort()).toEqual(['heartbeatSeconds', 'tls.verify']);
  });

  it('reports unknown keys of strict inputs', async () => {
    const { router } = makeRouter();
    const err = await callError(router.call('profiles.update', { id: 'p-1', patch: { nmae: 'typo' } }, ctx));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.path).toBe('patch');
    expect(err.issues[0]?.message).toContain('nmae');
  });

  it('treats a missing input as {} for methods without parameters, and refuses extra keys there', async () => {
    const { router } = makeRouter();
    await expect(router.call('profiles.list', undefined, ctx)).resolves.toEqual([PROFILE]);
    await expect(router.call('profiles.list', null, ctx)).resolves.toEqual([PROFILE]);
    const err = await callError(router.call('profiles.list', { page: 2 }, ctx));
    expect(err.code).toBe('INVALID_INPUT');
  });

  it('hands the handler the parsed input (trimmed, defaults applied) and the call context', async () => {
    const seen: unknown[] = [];
    const { router } = makeRouter({
      'profiles.create': (input: unknown, c: CallContext) => {
        seen.push(input, c);
        return PROFILE;
      },
    });
    await router.call('profiles.create', { name: '  lab  ', url: ' amqp://10.0.0.1 ' }, ctx);
    expect(seen[0]).toEqual({ name: 'lab', url: 'amqp://10.0.0.1', heartbeatSeconds: 30, autoConnect: false });
    expect(seen[1]).toBe(ctx);
  });

  it('does not invent defaults for omitted fields of a profile patch', async () => {
    let seen: unknown;
    const { router } = makeRouter({
      'profiles.update': (input: unknown) => {
        seen = input;
        return PROFILE;
      },
    });
    await router.call('profiles.update', { id: 'p-1', patch: { name: 'renamed' } }, ctx);
    // "omitted fields keep their value": a default here would reset the saved heartbeat/autoConnect.
    expect(seen).toEqual({ id: 'p-1', patch: { name: 'renamed' } });
  });

  it('returns the validated output and strips keys the contract does not declare', async () => {
    const { router } = makeRouter({ 'profiles.list': () => [{ ...PROFILE, password: 'hunter2' }] });
    const result = (await router.call('profiles.list', {}, ctx)) as Array<Record<string, unknown>>;
    expect(result).toEqual([PROFILE]);
    expect(result[0]).not.toHaveProperty('password');
  });

  it('awaits async handlers', async () => {
    const { router } = makeRouter({ 'profiles.delete': async () => ({ deleted: true }) });
    await expect(router.call('profiles.delete', { id: 'p-1' }, ctx)).resolves.toEqual({ deleted: true });
  });

  it('turns a handler result that breaks the contract into INTERNAL and logs an error', async () => {
    const { router, lines } = makeRouter({ 'profiles.delete': () => ({ deleted: 'yes' }) });
    const err = await callError(router.call('profiles.delete', { id: 'p-1' }, ctx));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toContain('profiles.delete');
    expect(err.issues).toEqual([]);
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: 'handler output violates the contract', method: 'profiles.delete' });
    expect(errors[0]?.issues).toEqual([expect.objectContaining({ path: 'deleted' })]);
  });

  it('lets typed handler errors through unchanged', async () => {
    const thrown = new ConflictError('name taken', { name: 'x' });
    const { router } = makeRouter({
      'profiles.create': () => {
        throw thrown;
      },
    });
    await expect(router.call('profiles.create', { name: 'x', url: 'amqp://h' }, ctx)).rejects.toBe(thrown);
  });
});

describe('ApiRouter.invoke', () => {
  it('wraps a result in { ok: true }', async () => {
    const { router } = makeRouter();
    await expect(router.invoke('connections.connect', { profileId: 'p-9' }, ctx)).resolves.toEqual({
      ok: true,
      result: { ...STATE, profileId: 'p-9', status: 'connecting' },
    });
  });

  it('never throws for an unknown method; logs the refusal at debug only', async () => {
    const { router, lines } = makeRouter();
    const envelope = await router.invoke('nope', {}, ctx);
    expect(envelope).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'Unknown API method "nope"', issues: [] } });
    expect(lines.map((l) => l.level)).toEqual(['debug']);
    expect(lines[0]).toMatchObject({ msg: 'API call refused', method: 'nope', code: 'NOT_FOUND', transport: 'internal' });
  });

  it('carries validation issues in the envelope', async () => {
    const { router } = makeRouter();
    const envelope = await router.invoke('profiles.create', { name: 'x', url: 'http://x' }, ctx);
    expect(envelope.ok).toBe(false);
    if (envelope.ok) return;
    expect(envelope.error.code).toBe('INVALID_INPUT');
    expect(envelope.error.issues.map((i) => i.path)).toEqual(['url']);
  });

  it('maps typed handler errors to their code', async () => {
    const { router } = makeRouter({
      'profiles.delete': () => {
        throw new NotFoundError('Profile', 'p-404');
      },
    });
    await expect(router.invoke('profiles.delete', { id: 'p-404' }, ctx)).resolves.toEqual({
      ok: false,
      error: { code: 'NOT_FOUND', message: 'Profile "p-404" does not exist', issues: [] },
    });
  });

  it('hides the text of unexpected errors from the caller but logs them', async () => {
    const { router, lines } = makeRouter({
      'profiles.list': () => {
        throw new TypeError('cannot read properties of undefined (secret internals)');
      },
    });
    const envelope = await router.invoke('profiles.list', {}, ctx);
    expect(envelope).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'Internal error; see the console log for details', issues: [] },
    });
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      msg: 'API call failed',
      method: 'profiles.list',
      err: { name: 'TypeError', message: 'cannot read properties of undefined (secret internals)' },
    });
  });

  it('handles a rejected promise from an async handler', async () => {
    const { router } = makeRouter({ 'connections.list': () => Promise.reject(new Error('boom')) });
    const envelope = await router.invoke('connections.list', {}, ctx);
    expect(envelope.ok).toBe(false);
    if (!envelope.ok) expect(envelope.error.code).toBe('INTERNAL');
  });

  it('logs a contract violation at error level twice (router and envelope) and answers INTERNAL', async () => {
    const { router, lines } = makeRouter({ 'system.info': () => ({ product: 'Other' }) }, 'error');
    const envelope = await router.invoke('system.info', {}, ctx);
    expect(envelope.ok).toBe(false);
    if (!envelope.ok) expect(envelope.error).toEqual({ code: 'INTERNAL', message: 'The core returned an invalid result for system.info', issues: [] });
    expect(lines.map((l) => l.msg)).toEqual(['handler output violates the contract', 'API call failed']);
  });
});

describe('ApiRouter.subscribe', () => {
  it('sends the current value first, then each change, until unsubscribed', () => {
    const { router, profiles } = makeRouter();
    const received: unknown[] = [];
    const unsubscribe = router.subscribe('profiles.changed', (payload) => received.push(payload));
    expect(received).toEqual([[PROFILE]]);

    const renamed = { ...PROFILE, name: 'renamed' };
    profiles.set([renamed]);
    profiles.set([]);
    expect(received).toEqual([[PROFILE], [renamed], []]);

    expect(profiles.listeners()).toBe(1);
    unsubscribe();
    expect(profiles.listeners()).toBe(0);
    profiles.set([PROFILE]);
    expect(received).toHaveLength(3);
  });

  it('keeps topics apart', () => {
    const { router, connections } = makeRouter();
    const profileEvents: unknown[] = [];
    const stateEvents: unknown[] = [];
    router.subscribe('profiles.changed', (p) => profileEvents.push(p));
    router.subscribe('connections.state', (p) => stateEvents.push(p));
    const connected = { ...STATE, status: 'connected' as const };
    connections.set([connected]);
    expect(profileEvents).toEqual([[PROFILE]]);
    expect(stateEvents).toEqual([[STATE], [connected]]);
  });

  it('throws NOT_FOUND for an unknown topic without calling the listener', () => {
    const { router } = makeRouter();
    const received: unknown[] = [];
    let thrown: unknown;
    try {
      router.subscribe('profiles.deleted', (p) => received.push(p));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MeshdeckError);
    expect((thrown as MeshdeckError).code).toBe('NOT_FOUND');
    expect((thrown as MeshdeckError).message).toContain('profiles.deleted');
    expect(received).toEqual([]);
    expect(() => router.subscribe('constructor', () => undefined)).toThrow(MeshdeckError);
  });
});

describe('zodIssues', () => {
  it('joins nested paths with dots and keeps array indices', () => {
    const parsed = methods['profiles.list'].output.safeParse([PROFILE, { ...PROFILE, tls: { ...PROFILE.tls, verify: 'no' } }]);
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(zodIssues(parsed.error).map((i) => i.path)).toEqual(['1.tls.verify']);
  });
});
