/**
 * The headless core (`meshdeck serve`, the built CLI) SIGKILLed with control commands in its
 * outbox: written while the broker was unreachable and never published; and published, applied
 * by the agent, but the core killed before it recorded the acknowledgement. Restarted on the same
 * database, the core publishes what is pending, takes the acknowledgement waiting in the durable
 * ack queue or resends what is unacknowledged; the agent applies each command exactly once (a
 * resend is answered `duplicate`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshAgent } from '../../agent/sdk/mesh-agent.js';
import type { ControlActionRecord, ControlActionsView } from '../../core/api/contract.js';
import { silentLogger } from '../../core/lib/log.js';
import { eventually, freePort } from '../support/mesh.js';
import { startServe, type ServedConsole } from '../support/serve.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const run = randomUUID().slice(0, 6);
const svc = `outbox-${run}`;
const instanceId = `${svc}-1`;

let vhost: TestVhost;
let dir: string;
let dbPath: string;
let agent: MeshAgent;
let served: ServedConsole | null = null;
const applied = new Map<string, number>();
const answers: Array<{ commandId: string; status: string }> = [];

async function api<T>(method: string, input: Record<string, unknown>): Promise<T> {
  const res = await fetch(`${served!.url}/api/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${served!.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  const body = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** A persistent secret store, so the command signing key outlives each restart (agents pin it). */
const SECRETS = { MESHDECK_SECRET_KEY: 'chaos-outbox-passphrase' };
const serve = (broker: string) => startServe({ broker, dbPath, env: SECRETS });

async function kill(): Promise<void> {
  const exited = new Promise((resolve) => served!.process.once('exit', resolve));
  served!.process.kill('SIGKILL');
  await exited;
  served = null;
}

const actionState = async (id: string) => (await api<ControlActionsView>('control.actions', { profileId: 'cli' })).actions.find((a) => a.id === id);

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-chaos-outbox');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-outbox-'));
  dbPath = join(dir, 'meshdeck.db');
  agent = new MeshAgent({ broker: vhost.url, service: svc, zone: 'zone-a', address: '127.0.0.1:9', instanceId, heartbeatIntervalMs: 200, logger: silentLogger });
  agent.onCommand((command) => {
    applied.set(command.commandId, (applied.get(command.commandId) ?? 0) + 1);
    if (command.command.action === 'set-weight') agent.setWeight(command.command.weight);
    return { status: 'applied' };
  });
  agent.on('command', (command, ack) => answers.push({ commandId: command.commandId, status: ack.status }));
  agent.start();
}, 30_000);

afterAll(async () => {
  await served?.stop();
  await agent?.stop();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('chaos: the core killed with commands in its outbox', () => {
  it('publishes after a restart what was written while the broker was unreachable, applied once', async () => {
    // The core learns the instance and writes it to its database (the registration in the stored
    // history says the write is committed: instances and history go in one transaction), then is killed.
    served = await serve(vhost.url);
    await eventually(async () => (await api<Array<{ instanceId: string }>>('mesh.instances', { profileId: 'cli', service: svc })).length === 1, 'instance known', 20_000, 200);
    await eventually(
      async () => (await api<Array<{ instanceId: string; kind: string }>>('mesh.history', { profileId: 'cli', service: svc })).some((h) => h.instanceId === instanceId && h.kind === 'registered'),
      'instance written to the database',
      20_000,
      200,
    );
    await kill();

    // Restarted against a port where no broker answers: the action is written, not published.
    const nowhere = `amqp://guest:guest@127.0.0.1:${await freePort()}/${encodeURIComponent(vhost.name)}`;
    served = await serve(nowhere);
    const action = await api<ControlActionRecord>('control.act', { profileId: 'cli', target: { service: svc, instanceId }, action: { action: 'set-weight', weight: 42 }, reason: 'written offline' });
    expect(action.state).toBe('pending');
    const commandId = action.commands[0]!.commandId;
    await kill();
    expect(applied.get(commandId)).toBeUndefined();

    // Back with the broker: published from the outbox, applied once, acked.
    served = await serve(vhost.url);
    await eventually(async () => (await actionState(action.id))?.state === 'acked', 'acked after the restart', 30_000, 200);
    expect(applied.get(commandId)).toBe(1);
  }, 90_000);

  it('killed right after the agent applied a command: acked after the restart, applied once, any resend answered duplicate', async () => {
    served ??= await serve(vhost.url);
    const before = answers.length;
    const action = await api<ControlActionRecord>('control.act', { profileId: 'cli', target: { service: svc, instanceId }, action: { action: 'set-weight', weight: 43 }, reason: 'core killed at the ack' });
    const commandId = action.commands[0]!.commandId;
    // Killed as soon as the agent has applied it: the ack is at best in flight.
    await eventually(() => applied.get(commandId) === 1, 'applied by the agent', 20_000, 5);
    await kill();

    served = await serve(vhost.url);
    await eventually(async () => (await actionState(action.id))?.state === 'acked', 'acked after the restart', 30_000, 200);
    expect(applied.get(commandId)).toBe(1);
    const forThis = answers.slice(before).filter((a) => a.commandId === commandId).map((a) => a.status);
    // Applied once; any further delivery (a resend of the unacknowledged row) was a duplicate.
    expect(forThis[0]).toBe('applied');
    expect(forThis.slice(1).every((s) => s === 'duplicate')).toBe(true);
    console.info(`chaos outbox: answers for the command killed at its ack: ${forThis.join(', ')}`);
  }, 90_000);
});
