/**
 * Signed control commands on the real broker: a core (real SQLite) signs, a real MeshAgent pins
 * its key on first use and refuses forged, unsigned, replayed and expired commands published
 * straight to its control queue; a key rotation from the API is followed by the running agent.
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
import { createTestVhost, type TestVhost } from '../support/vhost.js';
import type { CommandKeyInfo, ControlActionRecord } from '../../core/api/contract.js';
import type { CallContext } from '../../core/api/router.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { generateCommandKey, signCommand, type CommandKeyPair } from '../../core/control/signing.js';
import { silentLogger } from '../../core/lib/log.js';
import { encodeMeshEvent } from '../../core/protocol/codec.js';
import type { ControlAck, ControlCommand } from '../../core/protocol/messages.js';
import { CONTENT_TYPE, EXCHANGES, routingKeys } from '../../core/protocol/topology.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';

let vhost: TestVhost;
let dir: string;
let core: MeshCore;
let raw: Connection;
let agent: MeshAgent;
const run = randomUUID().slice(0, 6);
const svc = `ledger-${run}`;
const instanceId = `ledger-1-${run}`;
const applied = new Map<string, number>();
const acks = new Map<string, ControlAck[]>();
const ctx: CallContext = { transport: 'http', actor: 'http 127.0.0.1 (test)' };
const mesh = () => core.meshes.get('cli')!;

function command(over: Partial<ControlCommand> = {}): ControlCommand {
  const now = Date.now();
  return {
    commandId: `t-${randomUUID()}`,
    target: { service: svc, instanceId },
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 30_000).toISOString(),
    issuer: 'test',
    reason: '',
    command: { action: 'set-weight', weight: 7 },
    ...over,
  };
}

/** Publishes straight to the agent's control queue (what an attacker with broker access could do). */
async function publish(cmd: ControlCommand): Promise<void> {
  const pub = raw.createPublisher({ confirm: true });
  await pub.send(
    { exchange: EXCHANGES.control, routingKey: routingKeys.command(svc, instanceId), contentType: CONTENT_TYPE, durable: true },
    encodeMeshEvent('io.meshdeck.control.command.v1', cmd, { source: 'meshdeck://test/attacker' }),
  );
  await pub.close();
}

const ackOf = (commandId: string, nth = 1) => eventually(() => acks.get(commandId)?.[nth - 1], `ack #${nth} of ${commandId}`);

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-signing');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-signing-'));
  core = createMeshCore({
    databasePath: join(dir, 'meshdeck.db'),
    secrets: memorySecretStore('test'),
    logger: silentLogger,
    host: 'headless',
    commandLineBroker: vhost.url,
    backoff: { baseMs: 200, maxMs: 1000, jitter: 0.1 },
    control: { identity: { coreId: 'core-signing', host: 'test-host' }, tickMs: 200, loopMs: 100, outbox: { expiryGraceMs: 300 } },
  });
  await eventually(() => mesh()?.active, 'core mesh session running');
  await eventually(() => mesh().control.leadership().isLeader, 'the only core leads');
  raw = new Connection(vhost.url);
  agent = new MeshAgent({ broker: vhost.url, service: svc, zone: 'zone-a', address: '127.0.0.1:9', instanceId, heartbeatIntervalMs: 200, logger: silentLogger });
  agent.onCommand((cmd) => {
    applied.set(cmd.commandId, (applied.get(cmd.commandId) ?? 0) + 1);
    return { status: 'applied' };
  });
  agent.on('command', (cmd, ack) => acks.set(cmd.commandId, [...(acks.get(cmd.commandId) ?? []), ack]));
  agent.start();
  await eventually(() => mesh().registry.get(svc, instanceId)?.state === 'healthy', 'agent registered');
});

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await raw?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
  vhost?.remove();
});

describe('signed control commands on the real broker', () => {
  let coreKey: CommandKeyPair;

  it("applies the core's signed command (pinning its key) and rejects forged, unsigned, replayed and expired ones", async () => {
    const action = (await core.router.call(
      'control.act',
      { profileId: 'cli', action: { action: 'drain' }, target: { service: svc, instanceId }, reason: 'signed' },
      ctx,
    )) as ControlActionRecord;
    const commandId = action.commands[0]!.commandId;
    expect(await ackOf(commandId)).toMatchObject({ status: 'applied' });
    expect(applied.get(commandId)).toBe(1);
    coreKey = mesh().control.keys.active();

    const stranger = generateCommandKey();
    const forged = signCommand(command(), stranger, { now: Date.now() });
    const other = signCommand(command(), stranger, { now: Date.now() });
    const impersonating = { ...other, signature: { ...other.signature!, keyId: coreKey.keyId, publicKey: coreKey.publicKey } };
    const unsigned = command();
    const expired = signCommand(command({ issuedAt: new Date(Date.now() - 20_000).toISOString(), expiresAt: new Date(Date.now() - 10_000).toISOString() }), coreKey, { now: Date.now() - 20_000 });
    const future = signCommand(command(), coreKey, { now: Date.now() + 120_000 });
    const genuine = signCommand(command(), coreKey, { now: Date.now() });

    for (const cmd of [forged, impersonating, unsigned, expired, future, genuine]) await publish(cmd);
    await publish(genuine); // the replay: the same bytes again

    expect(await ackOf(forged.commandId)).toMatchObject({ status: 'rejected', detail: expect.stringMatching(/^unknown key/) });
    expect(await ackOf(impersonating.commandId)).toMatchObject({ status: 'rejected', detail: expect.stringMatching(/^bad signature/) });
    expect(await ackOf(unsigned.commandId)).toMatchObject({ status: 'rejected', detail: expect.stringMatching(/^unsigned/) });
    expect(await ackOf(expired.commandId)).toMatchObject({ status: 'rejected', detail: 'expired' });
    expect(await ackOf(future.commandId)).toMatchObject({ status: 'rejected', detail: expect.stringMatching(/^signed in the future/) });
    expect(await ackOf(genuine.commandId)).toMatchObject({ status: 'applied' });
    expect(await ackOf(genuine.commandId, 2)).toMatchObject({ status: 'rejected', detail: expect.stringMatching(/^replayed nonce/) });
    for (const cmd of [forged, impersonating, unsigned, expired, future]) expect(applied.get(cmd.commandId)).toBeUndefined();
    expect(applied.get(genuine.commandId)).toBe(1);
  });

  it('follows a rotation from the API: the new key is accepted, the old one stops verifying after the grace period', async () => {
    const before = (await core.router.call('security.commandKeys', { profileId: 'cli' }, ctx)) as CommandKeyInfo[];
    expect(before).toMatchObject([{ keyId: coreKey.keyId, status: 'active', privateKey: 'memory' }]);
    const rotated = (await core.router.call('security.rotateCommandKey', { profileId: 'cli', reason: 'scheduled rotation', graceSeconds: 2 }, ctx)) as {
      previous: CommandKeyInfo;
      active: CommandKeyInfo;
    };
    expect(rotated.previous).toMatchObject({ keyId: coreKey.keyId, status: 'retired' });
    expect(rotated.active.keyId).not.toBe(coreKey.keyId);
    const listed = (await core.router.call('security.commandKeys', { profileId: 'cli' }, ctx)) as CommandKeyInfo[];
    expect(listed.map((k) => [k.keyId, k.status])).toEqual([
      [rotated.active.keyId, 'active'],
      [coreKey.keyId, 'retired'],
    ]);
    expect(JSON.stringify(listed)).not.toMatch(/"d"\s*:/); // no private JWK member anywhere

    // The core signs with the new key; the agent learns it from the chain the old key endorsed.
    const action = (await core.router.call(
      'control.act',
      { profileId: 'cli', action: { action: 'restore' }, target: { service: svc, instanceId }, reason: 'after rotation' },
      ctx,
    )) as ControlActionRecord;
    const commandId = action.commands[0]!.commandId;
    expect(await ackOf(commandId)).toMatchObject({ status: 'applied' });
    expect(agent['verifier'].trustedKeyIds()).toContain(rotated.active.keyId);

    // Within the grace an old-key command in flight still verifies; after it, no longer.
    const inGrace = signCommand(command(), coreKey, { now: Date.now() });
    await publish(inGrace);
    expect(await ackOf(inGrace.commandId)).toMatchObject({ status: 'applied' });
    await eventually(() => Date.now() > rotated.previous.validUntil!, 'grace period over', 5000);
    const late = signCommand(command(), coreKey, { now: Date.now() });
    await publish(late);
    expect(await ackOf(late.commandId)).toMatchObject({ status: 'rejected', detail: expect.stringMatching(/^unknown key: .* was rotated out/) });
    expect(applied.get(late.commandId)).toBeUndefined();

    const audit = (await core.router.call('control.audit', { profileId: 'cli', actor: ctx.actor }, ctx)) as { entries: Array<{ action: string; reason: string }> };
    expect(audit.entries.find((e) => e.action === 'rotate-command-key')).toMatchObject({ reason: 'scheduled rotation' });
  });
});
