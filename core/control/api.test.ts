/**
 * The control API through the real router and core composition, without a broker: the profile
 * points at a closed port, so everything stays in the outbox (which is the point: commands are
 * written first, published later).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlActionRecord, ControlActionsView } from '../api/contract.js';
import type { CallContext } from '../api/router.js';
import { createMeshCore, type MeshCore } from '../app.js';
import type { MeshdeckError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { memorySecretStore } from '../secrets/secret-store.js';

let dir: string;
let core: MeshCore;
const ctx: CallContext = { transport: 'http', actor: 'http 127.0.0.1' };
const call = (method: string, input: unknown) => core.router.call(method, input, ctx);

async function refusal(method: string, input: unknown): Promise<MeshdeckError> {
  try {
    await call(method, input);
  } catch (err) {
    return err as MeshdeckError;
  }
  throw new Error(`${method} did not refuse ${JSON.stringify(input)}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-control-api-'));
  core = createMeshCore({
    databasePath: join(dir, 'm.db'),
    secrets: memorySecretStore('test'),
    logger: silentLogger,
    host: 'headless',
    commandLineBroker: 'amqp://guest:guest@127.0.0.1:1/nowhere',
    backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 },
  });
  const registry = core.meshes.get('cli')!.registry;
  for (const [id, weight] of [['c-1', 100], ['c-2', 300]] as const) {
    registry.register({ service: 'checkout', instanceId: id, zone: 'zone-a', address: '10.0.0.1:80', weight, version: '', metadata: {}, capacity: 0, heartbeatIntervalMs: 1000, agent: 'sdk', startedAt: new Date().toISOString() }, Date.now());
  }
});

afterAll(async () => {
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('control API validation', () => {
  it.each([
    [{ profileId: 'cli', action: { action: 'drain' }, target: { service: 'checkout' } }, 'reason'],
    [{ profileId: 'cli', action: { action: 'drain' }, target: { service: 'checkout' }, reason: '   ' }, 'reason'],
    [{ profileId: 'cli', action: { action: 'set-weight', weight: 20_000 }, target: { service: 'checkout' }, reason: 'r' }, 'action.weight'],
    [{ profileId: 'cli', action: { action: 'explode' }, target: { service: 'checkout' }, reason: 'r' }, 'action.action'],
    [{ profileId: 'cli', action: { action: 'drain' }, target: { service: 'Check Out' }, reason: 'r' }, 'target.service'],
    [{ profileId: 'cli', action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'all' }, reason: 'r' }, 'target.instanceId'],
    [{ profileId: 'cli', action: { action: 'fault', fault: { share: 2, delayMs: 10, durationMs: 1000 } }, target: { service: 'checkout' }, reason: 'r' }, 'action.fault.share'],
    [{ profileId: 'cli', action: { action: 'fault', fault: { share: 0.5, durationMs: 1000 } }, target: { service: 'checkout' }, reason: 'r' }, 'action.fault'],
    [{ profileId: 'cli', action: { action: 'drain' }, target: { service: 'checkout' }, reason: 'r', expiresInSeconds: 0 }, 'expiresInSeconds'],
    [{ profileId: 'cli', action: { action: 'drain' }, target: { service: 'checkout' }, reason: 'r', extra: 1 }, ''],
  ])('control.act refuses %j naming %s', async (input, path) => {
    const err = await refusal('control.act', input);
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.issues.map((i) => i.path)).toContain(path);
  });

  it('names the unknown service or instance', async () => {
    const service = await refusal('control.act', { profileId: 'cli', action: { action: 'drain' }, target: { service: 'ghost' }, reason: 'r' });
    expect(service).toMatchObject({ code: 'INVALID_INPUT', issues: [{ path: 'target.service' }] });
    const instance = await refusal('control.preview', { profileId: 'cli', action: { action: 'drain' }, target: { service: 'checkout', instanceId: 'c-9' } });
    expect(instance).toMatchObject({ code: 'INVALID_INPUT', issues: [{ path: 'target.instanceId' }] });
    expect(await refusal('control.actions', { profileId: 'nope' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await refusal('control.audit', { profileId: 'cli', result: 'great' })).toMatchObject({ code: 'INVALID_INPUT', issues: [{ path: 'result' }] });
    expect(await refusal('control.undo', { profileId: 'cli', actionId: 'act-nope', reason: 'r' })).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('control API while disconnected', () => {
  it('previews, acts (written, pending), lists with leadership, audits, undoes, and pushes the topic', async () => {
    const preview = (await call('control.preview', { profileId: 'cli', action: { action: 'set-weight', weight: 0 }, target: { service: 'checkout', instanceId: 'c-2' } })) as {
      affectedShare: number;
      capacityAfter: number;
    };
    expect(preview).toMatchObject({ affectedShare: 0.75, capacityAfter: 0.25 });

    const pushes: ControlActionsView[][] = [];
    const unsubscribe = core.router.subscribe('control.actions', (payload) => pushes.push(payload as ControlActionsView[]));
    expect(pushes).toHaveLength(1); // the current value at once

    const action = (await call('control.act', { profileId: 'cli', action: { action: 'set-weight', weight: 0 }, target: { service: 'checkout', instanceId: 'c-2' }, reason: 'canary', expiresInSeconds: 120 })) as ControlActionRecord;
    expect(action).toMatchObject({ actor: 'http 127.0.0.1', origin: 'operator', state: 'pending', progress: { expected: 1, waiting: 1 }, undo: { commands: [{ action: { action: 'set-weight', weight: 300 } }] } });
    expect(action.expiresAt - action.createdAt).toBe(120_000);

    const view = (await call('control.actions', { profileId: 'cli' })) as ControlActionsView;
    expect(view.leadership).toMatchObject({ isLeader: false, leader: null, connected: false });
    expect(view.outbox).toEqual({ open: 1, limit: 1000 });
    expect(view.actions.map((a) => a.id)).toEqual([action.id]);

    const undo = (await call('control.undo', { profileId: 'cli', actionId: action.id, reason: 'canary done' })) as ControlActionRecord;
    expect(undo).toMatchObject({ origin: 'undo', undoOf: action.id, action: { action: 'set-weight', weight: 300 } });
    expect(await refusal('control.undo', { profileId: 'cli', actionId: action.id, reason: 'again' })).toMatchObject({ code: 'CONFLICT' });

    const audit = (await call('control.audit', { profileId: 'cli', actor: 'http 127.0.0.1' })) as { entries: Array<{ event: string; origin: string; undoOf: string | null }>; nextCursor: number | null };
    expect(audit.entries.map((e) => [e.event, e.origin, e.undoOf])).toEqual([
      ['requested', 'undo', action.id],
      ['requested', 'operator', null],
    ]);
    const paged = (await call('control.audit', { profileId: 'cli', limit: 1 })) as { entries: unknown[]; nextCursor: number | null };
    expect(paged.entries).toHaveLength(1);
    expect(paged.nextCursor).not.toBeNull();

    // Two changes within a second: one coalesced push.
    await new Promise((resolve) => setTimeout(resolve, 1300));
    unsubscribe();
    expect(pushes.length).toBe(2);
    expect(pushes[1]![0]!.actions.map((a) => a.id)).toEqual([undo.id, action.id]);
  });
});
