/** Telemetry batches for the protocol tests: valid ones with optional fields present, absent or at their limits. */
import type { Fuzzer, Json } from './protocol-fuzz.js';

/** A valid batch with a random selection of optional fields present, absent or at their limits. */
export function validBatch(f: Fuzzer): Record<string, Json> {
  const maybe = (p = 0.5) => f.random() < p;
  const count = () => f.pick([0, 1, 7, 1000, Number.MAX_SAFE_INTEGER]);
  const sketch = (): Json => ({
    zero: count(),
    buckets: Array.from({ length: f.int(6) }, () => [f.pick([-2000, -3, 0, 17, 2000]), f.pick([1, 2, Number.MAX_SAFE_INTEGER])]),
  });
  const edges: Json[] = Array.from({ length: f.int(5) }, () => {
    const edge: Record<string, Json> = {
      direction: f.pick(['outbound', 'inbound']),
      peerService: f.pick(['payments', 'external', 'a', 'x'.repeat(63), 'a-b-9']),
      requests: count(),
      errors: {},
      latency: sketch(),
    };
    const errors = edge.errors as Record<string, Json>;
    for (const k of ['http5xx', 'http4xx', 'connect', 'timeout']) if (maybe()) errors[k] = count();
    if (maybe()) edge.peerInstance = f.pick(['payments-1', 'A_b:c-9', 'x'.repeat(128), 'alls']);
    if (maybe()) edge.retries = count();
    if (maybe(0.3)) edge.refused = count();
    if (maybe(0.3)) {
      const circuit: Record<string, Json> = { state: f.pick(['closed', 'open', 'half-open']), since: count() };
      if (maybe()) circuit.until = count();
      if (maybe()) circuit.manual = f.pick([true, false]);
      if (maybe()) circuit.rule = f.pick(['', 'consecutive-failures', 'r'.repeat(64)]);
      if (maybe()) circuit.reason = f.pick(['', 'x'.repeat(512)]);
      edge.circuit = circuit;
    }
    return edge;
  });
  const batch: Record<string, Json> = {
    service: f.pick(['checkout', 'a', 'z'.repeat(63), '0-0']),
    instanceId: f.pick(['checkout-1', 'x'.repeat(128), 'i:1_2-3']),
    zone: f.pick(['eu-west-1a', 'z']),
    windowStart: f.pick([0, 1_700_000_000_000, Number.MAX_SAFE_INTEGER]),
    windowMs: f.pick([100, 1000, 60_000]),
    edges,
  };
  if (maybe(0.7)) {
    const events: Record<string, Json> = {};
    if (maybe()) events.published = Array.from({ length: f.int(3) }, () => ({ type: f.pick(['order.created', 'A'.repeat(200)]), exchange: f.pick(['', 'orders', 'e'.repeat(255)]), count: count() }));
    if (maybe()) {
      events.consumed = Array.from({ length: f.int(3) }, () => {
        const c: Record<string, Json> = { type: 'order.created', queue: f.pick(['', 'q'.repeat(255)]), count: count() };
        if (maybe()) c.failed = count();
        if (maybe()) c.latency = sketch();
        return c;
      });
    }
    batch.events = events;
  }
  return batch;
}

