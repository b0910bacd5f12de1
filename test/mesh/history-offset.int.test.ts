/**
 * The telemetry history's stored stream offset once the stream goes quiet, through a real core
 * on the real broker. History writes are throttled to one a second; a batch that arrives within
 * that second is written as soon as the second is over, with its offset, not at the next
 * housekeeping tick (here 10 minutes, so only that retry can write it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Connection } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { silentLogger } from '../../core/lib/log.js';
import { BINARY_TELEMETRY_CONTENT_TYPE } from '../../core/protocol/binary-telemetry.js';
import { EXCHANGES } from '../../core/protocol/topology.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { SyntheticMesh } from '../../core/telemetry/synthetic-mesh.js';
import { eventually } from '../support/mesh.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

let vhost: TestVhost;
let dir: string;
let core: MeshCore;

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-history-offset');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-history-offset-'));
  core = createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url, housekeepingIntervalMs: 600_000 });
  await eventually(() => core.meshes.get('cli')?.active, 'core running', 20_000);
}, 60_000);

afterAll(async () => {
  await core?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('telemetry history offset', () => {
  it('is stored within the write interval of the last batch, not at the next housekeeping tick', async () => {
    const synthetic = new SyntheticMesh({ services: 10, instancesPerService: 2, edgesPerInstance: 3, prefix: `ho-${randomUUID().slice(0, 6)}` });
    const mesh = core.meshes.get('cli')!;
    const connection = new Connection({ url: vhost.url, connectionName: 'history-offset-test' });
    const publisher = connection.createPublisher({ confirm: true });
    const windowStart = Math.floor(Date.now() / 1000) * 1000 - 1000;
    const send = (tag: string) =>
      Promise.all(synthetic.instances.map((inst, n) => publisher.send({ exchange: EXCHANGES.telemetry, routingKey: inst.routingKey, contentType: BINARY_TELEMETRY_CONTENT_TYPE }, synthetic.binaryBody(n, windowStart, `${tag}-${n}`))));
    try {
      // A burst right after a history write comes within the same second: its write is throttled.
      // (The first burst is written at once, no write having come before it; on a machine so busy
      // that a burst takes over a second, the next one tries again.)
      let sent = 0;
      let last: number | null = null;
      let throttled = false;
      for (let burst = 0; burst < 4 && !throttled; burst++) {
        const before = { writes: mesh.history.stats.writes, throttled: mesh.history.stats.throttled };
        await send(`b${burst}`);
        sent += synthetic.size;
        await eventually(() => mesh.stats.telemetryBatches === sent, `burst ${burst} ingested`, 10_000, 10);
        // The stream consumer hands the burst to the history (onBatch) once it goes quiet: written, or throttled.
        await eventually(() => mesh.history.stats.writes > before.writes || mesh.history.stats.throttled > before.throttled, `burst ${burst} handed to the history`, 10_000, 5);
        last = mesh.ingest.view(Date.now()).reachedOffset;
        throttled = mesh.history.stats.throttled > before.throttled && last !== null && (mesh.history.offset() ?? -1) < last;
      }
      expect(throttled, 'no burst came within a second of the write before it').toBe(true);
      await eventually(() => mesh.history.offset() === last, `stored offset ${last}`, 5000, 20).catch(() =>
        expect.fail(`stored offset ${mesh.history.offset()} 5 s after the last batch (offset ${last}); housekeeping is 10 min away`),
      );
      expect(mesh.history.pendingWindows).toBe(0);
    } finally {
      await publisher.close();
      await connection.close();
    }
  }, 60_000);
});
