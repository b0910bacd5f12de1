/**
 * A synthetic mesh's telemetry, for the ingest benchmarks and tests: `services` services with
 * `instancesPerService` instances each, every instance reporting `edgesPerInstance` outbound
 * edges per 1 s window. Instance i of service s calls service s + 1 + i·E + k (k < E, modulo
 * the service count) at instance (i + k) mod I, so each service has I·E distinct callees: with
 * 1 000 services × 10 instances × 3 edges that is 30 000 service-to-service edges, reported as
 * 10 000 batches a second.
 *
 * Bodies are built without a schema pass per message (one template per instance, checked once
 * with encodeMeshEvent; then only the window, id and time change) so a publisher process can
 * send 10 000+ a second. Each edge's requests and sketch come from a small set of pre-built
 * log-normal sketches (capped at HEALTHY_MAX_MS), picked deterministically from (instance, edge,
 * window), so a test can compute the exact totals it sent.
 */
import { writeBinaryTelemetry } from '../protocol/binary-telemetry.js';
import { encodeMeshEvent } from '../protocol/codec.js';
import type { EdgeStats, TelemetryBatch } from '../protocol/messages.js';
import { LatencySketch, type SketchWire } from '../protocol/sketch.js';
import { routingKeys } from '../protocol/topology.js';
import { logNormal, prng } from './test-support.js';

export interface SyntheticMeshShape {
  services: number;
  instancesPerService: number;
  edgesPerInstance: number;
  /** Prefix of the service names (unique per run). */
  prefix: string;
}

export interface SyntheticInstance {
  service: string;
  instanceId: string;
  routingKey: string;
  peers: Array<{ service: string; instanceId: string }>;
}

interface Variant {
  requests: number;
  sketch: SketchWire;
  json: string;
}

const VARIANTS = 16;
/**
 * No sample above this (ms): the mesh is healthy. The same few sketches recur by formula, so one
 * with a rare tail (a 68.7 ms sample) gave the same hosts a p99 of 3 × the others' again and
 * again, and the failover engine ejected hundreds of them a minute (bench:mesh-size: 381 in a
 * 30-s run) — work a healthy mesh does not cause. Below the latency rule's 50 ms floor, no host
 * can be a latency outlier; log-normal(8 ms, 0.6) exceeds 40 ms in 0.4 % of samples.
 */
const HEALTHY_MAX_MS = 40;

export class SyntheticMesh {
  readonly instances: SyntheticInstance[] = [];
  private readonly variants: Variant[] = [];
  private readonly source: string;

  constructor(
    readonly shape: SyntheticMeshShape,
    seed = 1,
  ) {
    const { services, instancesPerService: per, edgesPerInstance: edges, prefix } = shape;
    const name = (s: number) => `${prefix}-svc-${s}`;
    for (let s = 0; s < services; s++) {
      for (let i = 0; i < per; i++) {
        const service = name(s);
        const instanceId = `${service}-${i}`;
        const peers: SyntheticInstance['peers'] = [];
        for (let k = 0; k < edges; k++) {
          const peer = (s + 1 + i * edges + k) % services;
          peers.push({ service: name(peer), instanceId: `${name(peer)}-${(i + k) % per}` });
        }
        this.instances.push({ service, instanceId, routingKey: routingKeys.telemetry(service, instanceId), peers });
      }
    }
    const random = prng(seed);
    for (let v = 0; v < VARIANTS; v++) {
      const sketch = new LatencySketch();
      const requests = 1 + Math.floor(random() * 20);
      for (let r = 0; r < requests; r++) sketch.add(Math.min(HEALTHY_MAX_MS, logNormal(random, 8, 0.6)));
      const wire = sketch.toWire();
      this.variants.push({ requests, sketch: wire, json: JSON.stringify(wire) });
    }
    this.source = `meshdeck://bench/${prefix}`;
    // One schema pass, so what the fast path builds is known to be valid.
    if (this.instances.length > 0) encodeMeshEvent('io.meshdeck.telemetry.batch.v1', this.batch(0, 1_800_000_000_000), { source: this.source, encoding: 'binary' });
  }

  get size(): number {
    return this.instances.length;
  }

  /** Which pre-built sketch edge k of instance n carries in the window starting at windowStart. */
  private variant(n: number, k: number, windowStart: number): Variant {
    return this.variants[(n * 7 + k * 3 + Math.floor(windowStart / 1000)) % VARIANTS]!;
  }

  /** Requests edge k of instance n reports for that window. */
  requests(n: number, k: number, windowStart: number): number {
    return this.variant(n, k, windowStart).requests;
  }

  /** The batch instance n reports for [windowStart, windowStart + 1000). */
  batch(n: number, windowStart: number): TelemetryBatch {
    const inst = this.instances[n]!;
    const edges: EdgeStats[] = inst.peers.map((peer, k) => {
      const v = this.variant(n, k, windowStart);
      return { direction: 'outbound', peerService: peer.service, peerInstance: peer.instanceId, requests: v.requests, errors: { http5xx: 0, http4xx: 0, connect: 0, timeout: 0 }, retries: 0, latency: v.sketch };
    });
    return { service: inst.service, instanceId: inst.instanceId, zone: 'zone-a', windowStart, windowMs: 1000, edges, events: { published: [], consumed: [] } };
  }

  /**
   * The binary body (docs/protocol.md §6.4.1) of batch(n, windowStart), as agents send it: no
   * schema pass (the constructor checked one batch; the batches differ only in values).
   */
  binaryBody(n: number, windowStart: number, id: string, time = new Date(windowStart + 1000)): Buffer {
    return writeBinaryTelemetry({ id, source: this.source, time: time.getTime() }, this.batch(n, windowStart));
  }

  /** The encoded CloudEvent of batch(n, windowStart) in JSON, built by string concatenation (no schema pass). */
  body(n: number, windowStart: number, id: string, time = new Date(windowStart + 1000)): Buffer {
    const inst = this.instances[n]!;
    let edges = '';
    for (let k = 0; k < inst.peers.length; k++) {
      const peer = inst.peers[k]!;
      const v = this.variant(n, k, windowStart);
      edges += `${k ? ',' : ''}{"direction":"outbound","peerService":"${peer.service}","peerInstance":"${peer.instanceId}","requests":${v.requests},"errors":{"http5xx":0,"http4xx":0,"connect":0,"timeout":0},"retries":0,"latency":${v.json}}`;
    }
    return Buffer.from(
      `{"specversion":"1.0","id":"${id}","source":"${this.source}","type":"io.meshdeck.telemetry.batch.v1","time":"${time.toISOString()}","datacontenttype":"application/json",` +
        `"data":{"service":"${inst.service}","instanceId":"${inst.instanceId}","zone":"zone-a","windowStart":${windowStart},"windowMs":1000,"edges":[${edges}],"events":{"published":[],"consumed":[]}}}`,
    );
  }
}
