/**
 * The live mesh topics through a real core on the real broker: a synthetic mesh registers and
 * sends telemetry; `mesh.topology` + `mesh.traffic`, put back together with `joinLive`, give
 * every `mesh.summary` of the same second (the fields they carry), and the topology is pushed
 * again only when the services or the edge list change.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Connection, type Publisher } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import type { MeshSummary, MeshTopology, MeshTraffic } from '../../core/api/contract.js';
import { joinLive } from '../../core/api/mesh-live.js';
import { silentLogger } from '../../core/lib/log.js';
import { expectedLive } from '../support/live-mesh.js';
import { encodeMeshEvent } from '../../core/protocol/codec.js';
import { CONTENT_TYPE, EXCHANGES, routingKeys } from '../../core/protocol/topology.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { SyntheticMesh } from '../../core/telemetry/synthetic-mesh.js';
import { eventually } from '../support/mesh.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

let vhost: TestVhost;
let dir: string;
let core: MeshCore;

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-live-topics');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-live-topics-'));
  core = createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url });
  await eventually(() => core.meshes.get('cli')?.active, 'core running', 20_000);
}, 60_000);

/** One telemetry batch per instance for the last whole second, then waits for the next second. */
async function sendSecond(publisher: Publisher, mesh: SyntheticMesh, tag: string): Promise<void> {
  const windowStart = Math.floor(Date.now() / 1000) * 1000 - 1000;
  await Promise.all(mesh.instances.map((inst, n) => publisher.send({ exchange: EXCHANGES.telemetry, routingKey: inst.routingKey, contentType: CONTENT_TYPE }, mesh.body(n, windowStart, `${tag}-${n}`))));
  const next = windowStart + 2000;
  await eventually(() => Date.now() >= next, 'the next second', 3000, 20);
}

afterAll(async () => {
  await core?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('mesh.topology + mesh.traffic', () => {
  it('give back mesh.summary second by second, the topology sent only when it changes', async () => {
    const mesh = new SyntheticMesh({ services: 20, instancesPerService: 2, edgesPerInstance: 3, prefix: `lt-${randomUUID().slice(0, 6)}` });
    const summaries: MeshSummary[] = [];
    const topologies: MeshTopology[] = [];
    const traffic: MeshTraffic[] = [];
    const off = [
      core.router.subscribe('mesh.summary', (p) => summaries.push(...(p as MeshSummary[]))),
      core.router.subscribe('mesh.topology', (p) => topologies.push(...(p as MeshTopology[]))),
      core.router.subscribe('mesh.traffic', (p) => traffic.push(...(p as MeshTraffic[]))),
    ];
    const connection = new Connection({ url: vhost.url, connectionName: 'live-topics-test' });
    const publisher = connection.createPublisher({ confirm: true });
    try {
      const source = 'meshdeck://test/live-topics';
      await Promise.all(
        mesh.instances.map((inst, n) =>
          publisher.send(
            { exchange: EXCHANGES.registry, routingKey: routingKeys.register(inst.service, inst.instanceId), contentType: CONTENT_TYPE, durable: true },
            encodeMeshEvent(
              'io.meshdeck.instance.register.v1',
              { service: inst.service, instanceId: inst.instanceId, zone: 'zone-a', address: `10.0.0.${n}:8080`, weight: 100, heartbeatIntervalMs: 60_000, agent: 'sidecar', startedAt: new Date().toISOString() },
              { source },
            ),
          ),
        ),
      );
      // Telemetry for a few seconds: one batch per instance per second.
      for (let w = 0; w < 4; w++) {
        await sendSecond(publisher, mesh, `lt-${w}`);
      }
      const edges = 20 * 6;
      // Seconds with the whole mesh, as every topic saw it.
      await eventually(() => summaries.filter((s) => s.edges.length === edges && s.services.length === 20).length >= 3, 'three full summaries', 20_000, 50);
    } finally {
      for (const unsubscribe of off) unsubscribe();
      await publisher.close();
      await connection.close();
    }

    let compared = 0;
    for (const s of summaries) {
      const frame = traffic.find((t) => t.at === s.at);
      if (!frame) continue;
      // The newest topology sent before (or with) the frame: the one a client holds.
      const topology = topologies.filter((t) => t.revision <= frame.revision).at(-1)!;
      expect(topology.revision).toBe(frame.revision);
      expect(joinLive(topology, frame)).toEqual(expectedLive(s));
      compared += 1;
    }
    expect(compared).toBeGreaterThanOrEqual(3);
    // Pushed once per revision (plus the value at subscription), not every second.
    const revisions = new Set(topologies.map((t) => t.revision));
    expect(topologies.length).toBeLessThanOrEqual(revisions.size + 1);
    expect(traffic.length).toBeGreaterThan(revisions.size);
  }, 60_000);

  it('are not computed while nobody watches them; a watcher gets them at once and every second', async () => {
    const runtime = core.meshes.get('cli')!;
    let computed = 0;
    const summaries = runtime.edges.summaries.bind(runtime.edges);
    runtime.edges.summaries = (...args: Parameters<typeof summaries>) => {
      computed += 1;
      return summaries(...args);
    };
    const mesh = new SyntheticMesh({ services: 3, instancesPerService: 1, edgesPerInstance: 1, prefix: `lt-idle-${randomUUID().slice(0, 6)}` });
    const connection = new Connection({ url: vhost.url, connectionName: 'live-topics-idle-test' });
    const publisher = connection.createPublisher({ confirm: true });
    try {
      // Telemetry for 3 s with no subscriber: the core's live timer runs each second, nothing is computed.
      const until = Date.now() + 3000;
      for (let w = 0; Date.now() < until; w++) {
        await sendSecond(publisher, mesh, `lt-idle-${w}`);
      }
      // The last second's timer has had its turn.
      const settled = Date.now() + 1500;
      await eventually(() => Date.now() >= settled, 'the live timer of the last second', 3000, 20);
      expect(computed).toBe(0);
      // A watcher: the current value at once, then a frame each second while the mesh changes.
      const traffic: MeshTraffic[] = [];
      const off = core.router.subscribe('mesh.traffic', (p) => traffic.push(...(p as MeshTraffic[])));
      try {
        await eventually(() => traffic.length >= 1, 'the current traffic', 5000, 20);
        expect(computed).toBeGreaterThan(0);
        for (let w = 0; traffic.length < 3; w++) {
          await sendSecond(publisher, mesh, `lt-watched-${w}`);
          if (w > 10) expect.fail(`only ${traffic.length} traffic frames in 10 s with a watcher`);
        }
      } finally {
        off();
      }
    } finally {
      runtime.edges.summaries = summaries;
      await publisher.close();
      await connection.close();
    }
  }, 60_000);
});
