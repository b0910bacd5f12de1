/**
 * Memory the incident monitor's traffic signals keep, with the mesh-size
 * benchmark's traffic (SyntheticMesh: 3 edges per instance, 1–20 requests a second each), per
 * instance of the mesh. Checked against the V8 heap plus array buffers (forced GC before and after).
 */
import { describe, expect, it } from 'vitest';
import { SyntheticMesh } from '../telemetry/synthetic-mesh.js';
import { heapInUse } from '../telemetry/test-support.js';
import { TrafficSignals } from './signals.js';

/**
 * Bytes per instance for its traffic as kept (services 32 s, instances and edges 20 s): measured
 * 3.8–4.2 KB. Before: ~8 KB with everything kept 60 s, ~14 KB with an object per cell and second,
 * ~114 KB with a Map-based sketch per cell. × 10 000 instances = 60 MB.
 */
const BUDGET_PER_INSTANCE = 6_000;
const T0 = 1_800_000_000_000;

describe('TrafficSignals memory', () => {
  it(`keeps at most ${BUDGET_PER_INSTANCE} bytes per instance once every window is filled`, () => {
    const mesh = new SyntheticMesh({ services: 50, instancesPerService: 10, edgesPerInstance: 3, prefix: 'sig' });
    const before = heapInUse();
    const signals = new TrafficSignals();
    for (let s = 0; s < 70; s++) {
      for (let n = 0; n < mesh.size; n++) signals.ingest(mesh.batch(n, T0 + s * 1000));
    }
    const perInstance = (heapInUse() - before) / mesh.size;
    console.log(`traffic signals: ${mesh.size} instances, services 32 s, detail 20 s: ${perInstance.toFixed(0)} B/instance (heap + array buffers); × 10 000 instances: ${((perInstance * 10_000) / 1e6).toFixed(1)} MB`);
    expect(perInstance).toBeLessThanOrEqual(BUDGET_PER_INSTANCE);
    expect(signals.traffic(mesh.instances[0]!.peers[0]!.service, 10, T0 + 70_000).requests).toBeGreaterThan(0);
  });
});
