/**
 * The test oracle for the live topics (mesh.topology + mesh.traffic): what they promise to carry
 * of a mesh summary — these fields, latencies to the microsecond. Written out here, not taken
 * from core/api/mesh-live.ts, so the tests compare the split against an independent statement.
 */
import type { MeshSummary } from '../../core/api/contract.js';
import { roundLatency, type LiveMesh } from '../../core/api/mesh-live.js';

export function expectedLive(s: MeshSummary): LiveMesh {
  return {
    profileId: s.profileId,
    at: s.at,
    services: s.services,
    edges: s.edges.map((e) => ({ from: e.from, to: e.to, rps: e.rps, requests: e.requests, errorRate: e.errorRate, p50: roundLatency(e.p50), p99: roundLatency(e.p99), refused: e.refused ?? 0, ...(e.circuit ? { circuit: e.circuit } : {}) })),
    events: s.events,
    ...(s.ingest ? { ingest: s.ingest } : {}),
  };
}
