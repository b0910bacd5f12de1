/**
 * Memory the incident monitor's traffic signals keep for their 60 s, with the mesh-size
 * benchmark's traffic (SyntheticMesh: 3 edges per instance, 1–20 requests a second each), per
 * instance of the mesh. Checked against the V8 heap plus array buffers (forced GC before and after).
 */
import { describe, expect, it } from 'vitest';
import { SyntheticMesh } from '../telemetry/synthetic-mesh.js';
import { heapInUse } from '../telemetry/test-support.js';
import { TrafficSignals } from './signals.js';

/** Bytes per instance for 60 s of its traffic (measured ~8 KB with typed-array cells and arena sketches, ~14 KB with an object per cell and second, ~114 KB with a Map-based sketch per cell): × 10 000 instances = 160 MB. */
const BUDGET_PER_INSTANCE = 16_000;
const T0 = 1_800_000_000_000;

describe('TrafficSignals memory', () => {
  it(`keeps at most ${BUDGET_PER_INSTANCE} bytes per instance with 60 s of windows`, () => {
    const mesh = new SyntheticMesh({ services: 50, instancesPerService: 10, edgesPerInstance: 3, prefix: 'sig' });
    const before = heapInUse();
    const signals = new TrafficSignals();
    for (let s = 0; s < 70; s++) {
      for (let n = 0; n < mesh.size; n++) signals.ingest(mesh.batch(n, T0 + s * 1000));
    }
    const perInstance = (heapInUse() - before) / mesh.size;
    console.log(`traffic signals: ${mesh.size} instances, 60 s kept: ${perInstance.toFixed(0)} B/instance (heap + array buffers); × 10 000 instances: ${((perInstance * 10_000) / 1e6).toFixed(1)} MB`);
    expect(perInstance).toBeLessThanOrEqual(BUDGET_PER_INSTANCE);
    expect(signals.traffic(mesh.instances[0]!.peers[0]!.service, 10, T0 + 70_000).requests).toBeGreaterThan(0);
  });
});
