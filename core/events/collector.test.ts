import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { MeshRuntime } from '../mesh/mesh-runtime.js';
import { tempDb, type TempDb } from '../telemetry/test-support.js';
import { EventCollector } from './collector.js';
import { EventTail } from './tail.js';

let tmp: TempDb | null = null;
afterEach(() => {
  tmp?.cleanup();
  tmp = null;
});

describe('EventCollector', () => {
  it('reads the open incidents once per burst of incident changes, not once per change', async () => {
    tmp = tempDb('meshdeck-collector-');
    const mesh = new MeshRuntime({ mesh: 'cli', db: tmp.db, logger: silentLogger, source: 'meshdeck://test/collector' });
    const tail = new EventTail();
    const collector = new EventCollector(tail, silentLogger);
    const stop = collector.watchMesh('cli', mesh);
    let reads = 0;
    const view = mesh.incidents.view.bind(mesh.incidents);
    mesh.incidents.view = () => {
      reads += 1;
      return view();
    };
    for (let i = 0; i < 1000; i++) mesh.incidents.emit('changed');
    expect(reads).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads).toBe(1);
    for (let i = 0; i < 10; i++) mesh.incidents.emit('changed');
    stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads).toBe(1); // no read after the mesh is no longer followed
    collector.close();
    mesh.control.close();
  });
});
