import { describe, expect, it } from 'vitest';
import { decodeMeshEvent } from '../protocol/codec.js';
import { SyntheticMesh } from './synthetic-mesh.js';

describe('SyntheticMesh', () => {
  const mesh = new SyntheticMesh({ services: 20, instancesPerService: 4, edgesPerInstance: 3, prefix: 'syn' });

  it('builds valid batch messages whose content equals batch()', () => {
    for (const n of [0, 17, 79]) {
      const t = 1_800_000_000_000 + n * 1000;
      const decoded = decodeMeshEvent(mesh.body(n, t, `id-${n}`), ['io.meshdeck.telemetry.batch.v1']);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) expect(decoded.event.data).toEqual(mesh.batch(n, t));
      // The binary body: the same batch, sketches as blobs (compared in their JSON form).
      const binary = decodeMeshEvent(mesh.binaryBody(n, t, `id-${n}`), ['io.meshdeck.telemetry.batch.v1']);
      expect(binary.ok && JSON.parse(JSON.stringify(binary.event.data))).toEqual(mesh.batch(n, t));
    }
  });

  it('gives every service I·E distinct callees, and requests equal to the sketch counts', () => {
    expect(mesh.size).toBe(80);
    const callees = new Map<string, Set<string>>();
    for (const inst of mesh.instances) {
      const set = callees.get(inst.service) ?? new Set<string>();
      for (const p of inst.peers) set.add(p.service);
      callees.set(inst.service, set);
    }
    expect([...callees.values()].every((s) => s.size === 12)).toBe(true);
    const batch = mesh.batch(5, 1_800_000_003_000);
    for (const [k, e] of batch.edges.entries()) {
      expect(e.requests).toBe(mesh.requests(5, k, 1_800_000_003_000));
      expect(e.latency.zero + e.latency.buckets.reduce((a, [, c]) => a + c, 0)).toBe(e.requests);
    }
  });
});
