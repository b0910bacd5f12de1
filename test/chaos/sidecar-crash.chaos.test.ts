/**
 * A sidecar process killed while it holds unacknowledged control commands.
 *
 * The built `meshdeck sidecar` runs next to the headless core (`meshdeck serve`). The sidecar is
 * frozen (SIGSTOP): the operator's three `set-weight` actions are delivered to it by the broker
 * but not applied or acknowledged — the management API shows them unacknowledged on its control
 * queue. Then it is SIGKILLed. The broker requeues the three; a new sidecar process for the same
 * instance gets them, applies each once in the order they were sent and acknowledges them: every
 * action ends `acked` with the instance `applied` (none `duplicate`, none expired), the registry
 * shows the last weight, and the control queue is empty.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlActionRecord, ControlActionsView } from '../../core/api/contract.js';
import { controlQueue } from '../../core/protocol/topology.js';
import { eventually, freePort, startEchoService, type EchoService } from '../support/mesh.js';
import { REPO_ROOT, startServe, type ServedConsole } from '../support/serve.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const run = randomUUID().slice(0, 6);
const service = `held-${run}`;
const instanceId = `${service}-1`;
const BIN = join(REPO_ROOT, 'bin', 'meshdeck.js');

let vhost: TestVhost;
let served: ServedConsole;
let echo: EchoService;
const children: ChildProcess[] = [];

async function sidecar(): Promise<ChildProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'sidecar', '--service', service, '--zone', 'zone-a', '--listen', String(port), '--upstream', echo.url, '--broker', vhost.url, '--instance-id', instanceId], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return child;
}

async function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** The instance's control queue as the management API reports it (its figures lag up to a stats interval). */
async function controlQueueStats(): Promise<{ ready: number; unacked: number; consumers: number }> {
  const res = await fetch(`http://127.0.0.1:15672/api/queues/${encodeURIComponent(vhost.name)}/${encodeURIComponent(controlQueue(service, instanceId))}`, {
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
  });
  if (!res.ok) throw new Error(`management API: ${res.status} ${await res.text()}`);
  const q = (await res.json()) as { messages_ready?: number; messages_unacknowledged?: number; consumers?: number };
  return { ready: q.messages_ready ?? 0, unacked: q.messages_unacknowledged ?? 0, consumers: q.consumers ?? 0 };
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-chaos-sidecar');
  echo = await startEchoService(service);
  served = await startServe({ broker: vhost.url, env: { MESHDECK_SECRET_KEY: 'chaos-sidecar-passphrase' } });
}, 60_000);

afterAll(async () => {
  for (const child of children) {
    if (child.signalCode === null && child.exitCode === null) child.kill('SIGCONT');
    await killed(child);
  }
  await served?.stop();
  await echo?.close();
  vhost?.remove();
});

describe('chaos: a sidecar killed while it holds unacknowledged commands', () => {
  it('gets them again in its next process, which applies each once, in order, and acknowledges them', async () => {
    const first = await sidecar();
    const instance = async () => ((await served.api('mesh.instances', { service })) as Array<{ instanceId: string; state: string; weight: number }>).find((i) => i.instanceId === instanceId);
    await eventually(async () => (await instance())?.state === 'healthy', 'the sidecar registered', 30_000, 200);
    // The sidecar pins the console's command key from its first signed command: one before the freeze.
    const warmup = (await served.api('control.act', { target: { service, instanceId }, action: { action: 'set-weight', weight: 20 }, reason: 'before the freeze' })) as ControlActionRecord;
    const actions = async () => ((await served.api('control.actions', {})) as ControlActionsView).actions;
    await eventually(async () => (await actions()).find((a) => a.id === warmup.id)?.state === 'acked', 'the first command acked', 30_000, 200);

    first.kill('SIGSTOP');
    const ids: string[] = [];
    for (const weight of [21, 22, 23]) {
      const action = (await served.api('control.act', { target: { service, instanceId }, action: { action: 'set-weight', weight }, reason: `held by a frozen sidecar (${weight})` })) as ControlActionRecord;
      ids.push(action.id);
    }
    // Delivered to the frozen process (prefetch 20), not acknowledged.
    await eventually(async () => {
      const q = await controlQueueStats();
      return q.unacked === 3 && q.ready === 0 ? q : null;
    }, 'three commands held unacknowledged by the frozen sidecar', 30_000, 250);
    expect((await actions()).filter((a) => ids.includes(a.id)).map((a) => a.state)).toEqual(['published', 'published', 'published']);

    await killed(first);
    await sidecar();
    const settled = await eventually(async () => {
      const mine = (await actions()).filter((a) => ids.includes(a.id));
      return mine.length === 3 && mine.every((a) => a.state === 'acked') ? mine : null;
    }, 'the three actions acked by the new process', 60_000, 250);
    for (const action of settled) {
      expect(action.progress.instances.map((i) => [i.instanceId, i.status])).toEqual([[instanceId, 'applied']]);
    }
    // Applied in the order they were sent: the last weight wins.
    await eventually(async () => (await instance())?.weight === 23, 'the registry shows weight 23', 30_000, 250);
    await eventually(async () => {
      const q = await controlQueueStats();
      return q.unacked === 0 && q.ready === 0 && q.consumers === 1 ? q : null;
    }, 'the control queue empty, consumed by the new process', 30_000, 250);
  }, 180_000);
});
