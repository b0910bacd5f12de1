/**
 * A console whose own event loop stands still must not take that for the mesh going silent, on
 * the real broker with real sidecar processes (the built CLI, heartbeating every second: TTL
 * 3 s). The core runs in this test's process; the test holds its event loop for 6 s (a
 * synchronous loop, as a long write or a burst of work on a small machine would). The sidecars
 * keep heartbeating meanwhile; their heartbeats wait unread. When the loop runs again the first
 * sweep is 6 s late: without the guard it marked all three down (and failover ejected them)
 * before reading a single waiting heartbeat. Now the core forgives the stall: no instance goes
 * down, none is ejected. A sidecar SIGKILLed afterwards is still found down (the guard does not
 * hide a real death).
 *
 * Needs the built command line (`npm run build:cli`; `npm test` builds it), as kill-stop.int.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryChange } from '../../core/registry/registry.js';
import { eventually, freePort, startEchoService } from '../support/mesh.js';
import { MeshFixture } from '../support/mesh-fixture.js';
import { REPO_ROOT } from '../support/serve.js';

const run = randomUUID().slice(0, 6);
const service = `stall-${run}`;
const ids = [1, 2, 3].map((n) => `${service}-${n}`);
const STALL_MS = 6000;
let fx: MeshFixture;
const children = new Map<string, ChildProcess>();

beforeAll(async () => {
  fx = await MeshFixture.start('meshdeck-core-stall');
  const echo = await startEchoService(service);
  fx.echoes.push(echo);
  for (const id of ids) {
    const child = spawn(
      process.execPath,
      [join(REPO_ROOT, 'bin/meshdeck.js'), 'sidecar', '--service', service, '--zone', 'zone-a', '--listen', String(await freePort()), '--upstream', echo.url, '--broker', fx.vhost.url, '--instance-id', id],
      { stdio: 'ignore' },
    );
    children.set(id, child);
  }
  const mesh = fx.mesh();
  await eventually(() => ids.every((id) => mesh.registry.get(service, id)?.state === 'healthy'), 'the three sidecars registered and healthy', 30_000);
}, 60_000);

afterAll(async () => {
  for (const child of children.values()) child.kill('SIGKILL');
  await fx?.close();
});

describe('a stalled core', () => {
  it('marks no heartbeating instance down and ejects none after its event loop stood still 6 s; a killed one is still found down', async () => {
    const mesh = fx.mesh();
    const changes: RegistryChange[] = [];
    const record = (batch: readonly RegistryChange[]) => changes.push(...batch.filter((c) => c.service === service));
    mesh.on('registry', record);
    const lastSeenBefore = new Map(ids.map((id) => [id, mesh.registry.get(service, id)!.lastSeen]));

    // The stall: this process (and the core in it) does nothing else for STALL_MS.
    const end = Date.now() + STALL_MS;
    while (Date.now() < end) {
      // busy: timers and sockets wait
    }
    const stallEnd = Date.now();

    // The waiting heartbeats are read: every instance heard again after the stall. The sweeps that
    // ran before that (the first one 6 s late) are the ones that would have marked them down.
    await eventually(() => ids.every((id) => mesh.registry.get(service, id)!.lastSeen >= stallEnd), 'every instance heard after the stall', 15_000);
    expect(changes.filter((c) => c.to === 'down')).toEqual([]);
    expect(ids.map((id) => mesh.registry.get(service, id)!.state)).toEqual(['healthy', 'healthy', 'healthy']);
    expect(mesh.failoverTransitions().filter((t) => t.service === service)).toEqual([]);
    for (const id of ids) expect(mesh.registry.get(service, id)!.lastSeen).toBeGreaterThan(lastSeenBefore.get(id)!);

    // A real death is still one: SIGKILL a sidecar, and it is marked down.
    children.get(ids[0]!)!.kill('SIGKILL');
    await eventually(() => mesh.registry.get(service, ids[0]!)!.state === 'down', 'the killed sidecar marked down', 20_000);
    expect(ids.slice(1).map((id) => mesh.registry.get(service, id)!.state)).toEqual(['healthy', 'healthy']);
    expect(changes.filter((c) => c.to === 'down').map((c) => c.instanceId)).toEqual([ids[0]]);
    mesh.off('registry', record);
  }, 60_000);
});
