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
      // The first burst is written at once (no write yet this second)...
      await send('a');
      await eventually(() => mesh.history.stats.writes >= 1 && mesh.stats.telemetryBatches === synthetic.size, 'the first burst written', 10_000, 10);
      // ...the second comes within the same second: its batch's write is throttled.
      await send('b');
      await eventually(() => mesh.stats.telemetryBatches === 2 * synthetic.size, 'the second burst ingested', 10_000, 10);
      const last = mesh.ingest.view(Date.now()).reachedOffset;
      expect(last).not.toBeNull();
      // Not yet stored: the write came too soon after the first one (20 messages take a few ms).
      expect(mesh.history.offset()).toBeLessThan(last!);
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
