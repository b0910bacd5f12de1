/**
 * The reliable command path on the real broker (a vhost of its own): a core (real SQLite) behind
 * a TCP proxy that can cut it off, and real MeshAgents that apply and acknowledge commands.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The other end of the protocol, for real: a test may drive the data plane; core code never does.
import { MeshAgent } from '../../agent/sdk/mesh-agent.js';
import { eventually } from '../support/mesh.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';
import type { ControlActionRecord, ControlActionsView } from '../../core/api/contract.js';
import type { CallContext } from '../../core/api/router.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { createLogger, silentLogger } from '../../core/lib/log.js';
import { encodeMeshEvent } from '../../core/protocol/codec.js';
import type { ControlCommand } from '../../core/protocol/messages.js';
import { CONTENT_TYPE, EXCHANGES, agentControlDecls, routingKeys } from '../../core/protocol/topology.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';

let vhost: TestVhost;
let proxy: TcpProxy;
let dir: string;
let core: MeshCore;
let raw: Connection;
const run = randomUUID().slice(0, 6);
const svc = `orders-${run}`;
const agents: MeshAgent[] = [];
/** Calls of each agent's command handler, per command id: the proof of "applied exactly once". */
const applied = new Map<string, number>();

const log = () => (process.env.DEBUG_MESH ? createLogger({ level: 'debug' }) : silentLogger);
const ctx: CallContext = { transport: 'http', actor: 'http 127.0.0.1 (test)' };
const mesh = () => core.meshes.get('cli')!;
const act = (input: Record<string, unknown>) => core.router.call('control.act', { profileId: 'cli', ...input }, ctx) as Promise<ControlActionRecord>;
const actionOf = (id: string) => mesh().control.actions.get(id)!;

async function startAgent(instanceId: string, weight = 100): Promise<MeshAgent> {
  const agent = new MeshAgent({
    broker: vhost.url,
    service: svc,
    zone: 'zone-a',
    address: '127.0.0.1:9',
    instanceId,
    weight,
    heartbeatIntervalMs: 200,
    logger: log(),
  });
  agent.onCommand((command) => {
    applied.set(command.commandId, (applied.get(command.commandId) ?? 0) + 1);
    if (command.command.action === 'set-weight') agent.setWeight(command.command.weight);
    if (command.command.action === 'drain') agent.setState('draining');
    if (command.command.action === 'restore') agent.setState('serving');
    return { status: 'applied' };
  });
  agent.start();
  agents.push(agent);
  await eventually(() => mesh().registry.get(svc, instanceId)?.state === 'healthy', `${instanceId} registered`);
  return agent;
}

/** An instance that registers and has a control queue but never consumes it: it never acks. */
async function registerSilentInstance(instanceId: string, withQueue: boolean): Promise<void> {
  const pub = raw.createPublisher({ confirm: true });
  if (withQueue) {
    const decls = agentControlDecls(svc, instanceId);
    await raw.queueDeclare({ ...decls.queue });
    for (const b of decls.bindings) await raw.queueBind({ ...b });
  }
  const body = encodeMeshEvent(
    'io.meshdeck.instance.register.v1',
    { service: svc, instanceId, zone: 'zone-b', address: '127.0.0.1:9', heartbeatIntervalMs: 60_000, startedAt: new Date().toISOString() },
    { source: 'test' },
  );
  await pub.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.register(svc, instanceId), contentType: CONTENT_TYPE, durable: true }, body);
  await pub.close();
  await eventually(() => mesh().registry.get(svc, instanceId), `${instanceId} registered`);
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-control');
  proxy = await startTcpProxy();
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-control-'));
  core = createMeshCore({
    databasePath: join(dir, 'meshdeck.db'),
    secrets: memorySecretStore('test'),
    logger: process.env.DEBUG_MESH ? createLogger({ level: 'debug', component: 'core' }) : silentLogger,
    host: 'headless',
    commandLineBroker: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost.name)}`,
    backoff: { baseMs: 200, maxMs: 1000, jitter: 0.1 },
    control: { identity: { coreId: 'core-solo', host: 'test-host' }, tickMs: 200, loopMs: 100, outbox: { expiryGraceMs: 300 } },
  });
  await eventually(() => mesh()?.active, 'core mesh session running');
  await eventually(() => mesh().control.leadership().isLeader, 'the only core leads');
  raw = new Connection(vhost.url);
});

afterAll(async () => {
  for (const agent of agents) await agent.stop().catch(() => undefined);
  await raw?.close();
  await core?.close();
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
  vhost?.remove();
});

describe('the outbox on the real broker', () => {
  it('(a) a command written while disconnected is published after connect and acked by the agent', async () => {
    await startAgent('a-1');
    await proxy.pause(); // cuts the core off and refuses reconnections
    await eventually(() => core.connections.state('cli').status === 'reconnecting', 'core disconnected');
    expect(mesh().control.leadership()).toMatchObject({ isLeader: false, connected: false });

    const action = await act({ action: { action: 'drain' }, target: { service: svc, instanceId: 'a-1' }, reason: 'written while disconnected' });
    expect(action.state).toBe('pending');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stillPending = actionOf(action.id);
    expect(stillPending.state).toBe('pending');
    expect(applied.get(action.commands[0]!.commandId)).toBeUndefined();

    await proxy.resume();
    const done = await eventually(() => (actionOf(action.id).state === 'acked' ? actionOf(action.id) : null), 'drain acked after reconnect');
    expect(done.progress).toMatchObject({ expected: 1, acked: 1, rejected: 0, waiting: 0 });
    expect(done.progress.instances[0]).toMatchObject({ instanceId: 'a-1', status: 'applied' });
    expect(done.commands[0]!.publishedAt).not.toBeNull();
    expect(applied.get(done.commands[0]!.commandId)).toBe(1);
    await eventually(() => mesh().registry.get(svc, 'a-1')?.state === 'draining', 'the agent now heartbeats draining');

    const result = (await core.router.call('control.audit', { profileId: 'cli', actionId: action.id, event: 'result' }, ctx)) as { entries: Array<{ result: string; actor: string }> };
    expect(result.entries).toMatchObject([{ result: 'acked', actor: 'http 127.0.0.1 (test)' }]);
  });

  it('(b) an operator command survives a broker connection drop before its confirm and is applied exactly once by agents', async () => {
    await startAgent('b-1');
    // The broker gets the publish, the core never sees the confirm: then the connection drops.
    proxy.dropReplies(true);
    let action: ControlActionRecord;
    try {
      action = await act({ action: { action: 'set-weight', weight: 70 }, target: { service: svc, instanceId: 'b-1' }, reason: 'confirm lost in a connection drop' });
      const commandId = action.commands[0]!.commandId;
      await eventually(() => applied.get(commandId) === 1, 'the agent applied the command');
      const row = mesh().control.outbox.get(commandId)!;
      expect(row.state).toBe('pending'); // applied, but never confirmed to the core
      expect(row.publishedAt).toBeNull();
    } finally {
      proxy.cutAll();
      proxy.dropReplies(false);
    }
    const commandId = action.commands[0]!.commandId;

    // Reconnect → resend of every unconfirmed row → the agent answers duplicate.
    const settled = await eventually(() => {
      const row = mesh().control.outbox.get(commandId)!;
      return row.state === 'acked' && row.acks.some((a) => a.status === 'duplicate') ? row : null;
    }, 'acked, with the resend answered as a duplicate');
    await new Promise((resolve) => setTimeout(resolve, 500)); // nothing more arrives
    const row = mesh().control.outbox.get(commandId)!;
    // (The applied ack, requeued from the dropped connection, may arrive after the duplicate.)
    expect(row.acks.map((a) => [a.instanceId, a.status, a.count]).sort()).toEqual([
      ['b-1', 'applied', 1],
      ['b-1', 'duplicate', 1],
    ]);
    expect(applied.get(commandId)).toBe(1);
    expect(settled.attempts).toBeGreaterThanOrEqual(1);
    expect(settled.publishedAt).not.toBeNull();
    await eventually(() => mesh().registry.get(svc, 'b-1')?.weight === 70, 'weight 70 via heartbeat');
  });

  it('(c) a command to an instance that never acks becomes expired, visibly, and audited', async () => {
    await registerSilentInstance('silent-1', true);
    await registerSilentInstance('ghost-1', false);
    const queued = await act({ action: { action: 'eject', durationMs: 10_000 }, target: { service: svc, instanceId: 'silent-1' }, reason: 'no answer expected', expiresInSeconds: 1 });
    const unroutable = await act({ action: { action: 'drain' }, target: { service: svc, instanceId: 'ghost-1' }, reason: 'no queue', expiresInSeconds: 1 });

    // Published (the queue exists) but unanswered; the other one cannot even be routed.
    await eventually(() => actionOf(queued.id).state === 'published', 'published to the silent instance');
    await eventually(() => actionOf(unroutable.id).commands[0]!.lastError?.includes('unroutable'), 'unroutable noted');
    expect(actionOf(unroutable.id).state).toBe('pending');

    const expired = await eventually(() => (actionOf(queued.id).state === 'expired' ? actionOf(queued.id) : null), 'expired', 5000);
    expect(expired.progress).toMatchObject({ expected: 1, acked: 0, waiting: 1 });
    expect(expired.commands[0]!.publishedAt).not.toBeNull();
    const ghost = await eventually(() => (actionOf(unroutable.id).state === 'expired' ? actionOf(unroutable.id) : null), 'unroutable expired', 5000);
    expect(ghost.commands[0]!.publishedAt).toBeNull();

    const view = (await core.router.call('control.actions', { profileId: 'cli' }, ctx)) as ControlActionsView;
    expect(view.actions.find((a) => a.id === queued.id)?.state).toBe('expired');
    const audit = (await core.router.call('control.audit', { profileId: 'cli', result: 'expired' }, ctx)) as { entries: Array<{ actionId: string; action: string }> };
    expect(audit.entries.map((e) => e.actionId).sort()).toEqual([queued.id, unroutable.id].sort());
  });

  it('(e) undo restores the previous weight', async () => {
    await startAgent('e-1', 120);
    const setWeight = await act({ action: { action: 'set-weight', weight: 30 }, target: { service: svc, instanceId: 'e-1' }, reason: 'canary at 30' });
    expect(setWeight.undo?.commands).toEqual([{ target: { service: svc, instanceId: 'e-1' }, action: { action: 'set-weight', weight: 120 } }]);
    await eventually(() => actionOf(setWeight.id).state === 'acked', 'set-weight acked');
    await eventually(() => mesh().registry.get(svc, 'e-1')?.weight === 30, 'weight 30');

    const undo = (await core.router.call('control.undo', { profileId: 'cli', actionId: setWeight.id, reason: 'canary over' }, ctx)) as ControlActionRecord;
    expect(undo).toMatchObject({ origin: 'undo', undoOf: setWeight.id, action: { action: 'set-weight', weight: 120 } });
    await eventually(() => actionOf(undo.id).state === 'acked', 'undo acked');
    await eventually(() => mesh().registry.get(svc, 'e-1')?.weight === 120, 'weight back to 120');
    expect(actionOf(setWeight.id).undoneBy).toBe(undo.id);

    const trail = (await core.router.call('control.audit', { profileId: 'cli', actionId: setWeight.id }, ctx)) as { entries: Array<{ event: string; origin: string; result: string }> };
    expect(trail.entries.map((e) => [e.event, e.origin, e.result])).toEqual([
      ['result', 'undo', 'acked'],
      ['requested', 'undo', 'pending'],
      ['result', 'operator', 'acked'],
      ['requested', 'operator', 'pending'],
    ]);
  });

  it('keeps the raw command path of MeshRuntime: sendCommand resolves on confirm, a resend is answered duplicate', async () => {
    const agent = agents.find((a) => a.instanceId === 'e-1')!;
    const now = Date.now();
    const command: ControlCommand = {
      commandId: `raw-${randomUUID()}`,
      target: { service: svc, instanceId: agent.instanceId },
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 30_000).toISOString(),
      issuer: 'test',
      reason: '',
      command: { action: 'clear-fault' },
    };
    const record = await mesh().sendCommand(command);
    expect(['published', 'acked']).toContain(record.state);
    await mesh().sendCommand(command);
    const acks = await eventually(() => (mesh().acksFor(command.commandId).length >= 2 ? mesh().acksFor(command.commandId) : null), 'two acks');
    expect(acks.map((a) => a.status).sort()).toEqual(['applied', 'duplicate']);
    expect(applied.get(command.commandId)).toBe(1);
  });
});
