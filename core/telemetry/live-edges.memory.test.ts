/**
 * Memory the live view keeps per edge, with the mesh-size benchmark's traffic (SyntheticMesh:
 * 1–20 requests a second per edge, log-normal latencies) after more than the 300 s it answers,
 * so every ring is full. Counted structurally (typed array capacity + a fixed estimate per edge)
 * and checked against the V8 heap (a forced GC before and after; external array buffers too).
 * The budget is what docs/benchmarks.md "Mesh size kept live" states.
 */
import { describe, expect, it } from 'vitest';
import { EDGE_OBJECT_BYTES, LiveEdges } from './live-edges.js';
import { SyntheticMesh } from './synthetic-mesh.js';
import { heapInUse } from './test-support.js';

/** Bytes per edge the live view may keep (docs/benchmarks.md; measured 2 556): × 30 000 edges = 90 MB. */
const BUDGET_PER_EDGE = 3000;
const T0 = 1_800_000_000_000;

function fill(live: LiveEdges, mesh: SyntheticMesh, seconds: number): void {
  for (let s = 0; s < seconds; s++) {
    const windowStart = T0 + s * 1000;
    for (let n = 0; n < mesh.size; n++) live.ingest(mesh.batch(n, windowStart), windowStart + 1000);
  }
}

describe('LiveEdges memory', () => {
  it(`keeps at most ${BUDGET_PER_EDGE} bytes per edge with every window of 300 s filled`, () => {
    const mesh = new SyntheticMesh({ services: 20, instancesPerService: 10, edgesPerInstance: 3, prefix: 'mem' });
    const before = heapInUse();
    const live = new LiveEdges();
    fill(live, mesh, 360);
    const after = heapInUse();
    const edges = live.size;
    expect(edges).toBe(400);
    const structural = live.retainedBytes() / edges;
    const heap = (after - before) / edges;
    console.log(`live view: ${edges} edges, structural ${structural.toFixed(0)} B/edge (objects estimated at ${EDGE_OBJECT_BYTES}), heap + array buffers ${heap.toFixed(0)} B/edge; × 30 000 edges: ${((structural * 30_000) / 1e6).toFixed(1)} MB structural, ${((heap * 30_000) / 1e6).toFixed(1)} MB heap`);
    expect(structural).toBeLessThanOrEqual(BUDGET_PER_EDGE);
    // The heap roughly agrees with the structural count (it also holds array buffers freed but not yet swept).
    expect(heap).toBeLessThanOrEqual(BUDGET_PER_EDGE * 1.4);
    // Still answers: the live view was not emptied to save memory.
    expect(live.summaries(T0 + 360_000, 300_000).reduce((n, e) => n + e.requests, 0)).toBeGreaterThan(0);
  });
});
