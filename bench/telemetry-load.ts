/**
 * What the ingest and mesh-size benchmarks share: the synthetic mesh's shape, the publisher
 * process (a child running the benchmark's own bundle with `--role publisher`), a lag histogram,
 * and CPU/load reporting. The publisher speaks over IPC:
 *
 *   { type: 'fill', count }          publishes `count` telemetry batches as fast as the broker
 *                                    confirms them (each the window that just ended), then
 *                                    answers { type: 'filled', count, ms }
 *   { type: 'register', heartbeatIntervalMs? }  publishes a registration per instance (heartbeat
 *                                    interval 1 000 ms unless told) → 'registered'
 *   { type: 'live', seconds, heartbeats, telemetry? }
 *                                    for `seconds`, every second, one telemetry batch per instance
 *                                    (unless telemetry is false) and a heartbeat (when asked), spread over 10 slots of 100 ms;
 *                                    a batch sent at time T covers [T − 1000, T), as an agent's
 *                                    does (agents' windows have their own phase, so they are not
 *                                    all sent at the top of the second); 'progress' after each
 *                                    slot, 'live-done' at the end
 *   { type: 'usage' } → usage();     { type: 'stop' }
 */
import { randomUUID } from 'node:crypto';
import { Connection } from 'rabbitmq-client';
import { BINARY_TELEMETRY_CONTENT_TYPE } from '../core/protocol/binary-telemetry.js';
import { encodeMeshEvent } from '../core/protocol/codec.js';
import { CONTENT_TYPE, EXCHANGES, routingKeys } from '../core/protocol/topology.js';
import { SyntheticMesh, type SyntheticMeshShape } from '../core/telemetry/synthetic-mesh.js';
import { fileURLToPath } from 'node:url';
import { machine, otherLoad, processCpu, sleep, toParent, usage, type Message, type ProcessCpu, type Usage } from './lib.js';

/** The size the issue asks for: 1 000 services × 10 instances, 3 edges each = 30 000 edges. */
export const FULL_MESH = { services: 1000, instancesPerService: 10, edgesPerInstance: 3 } as const;
export const SLOTS_PER_SECOND = 10;

/** What every run starts with: its script (for children), the machine, a run id, and `say` (prints and keeps the line). */
export function runContext(entryUrl: string): { script: string; host: ReturnType<typeof machine>; run: string; lines: string[]; say: (line: string) => void } {
  const lines: string[] = [];
  return {
    script: fileURLToPath(entryUrl),
    host: machine(),
    run: randomUUID().slice(0, 6),
    lines,
    say: (line) => {
      lines.push(line);
      console.log(line);
    },
  };
}

export function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * How the synthetic agents encode telemetry: `--encoding binary` (the default, as Meshdeck's
 * agents send it: docs/protocol.md §6.4.1) or `--encoding json`. Passed on to the publisher.
 */
export const ENCODING: 'binary' | 'json' = option('encoding') === 'json' ? 'json' : 'binary';

/** Batch n of `mesh` for windowStart, in ENCODING, with its content type. */
export function telemetryBody(mesh: SyntheticMesh, n: number, windowStart: number, id: string): { body: Buffer; contentType: string } {
  return ENCODING === 'json' ? { body: mesh.body(n, windowStart, id), contentType: CONTENT_TYPE } : { body: mesh.binaryBody(n, windowStart, id), contentType: BINARY_TELEMETRY_CONTENT_TYPE };
}

/**
 * The mesh a run uses: FULL_MESH, or with `--services N` (1–1 000) a smaller one of the same shape
 * (10 instances a service, 3 edges an instance), to find the largest a machine keeps live. The
 * parent passes the option on to its publisher.
 */
export function meshShape(): typeof FULL_MESH | { services: number; instancesPerService: 10; edgesPerInstance: 3 } {
  const given = option('services');
  if (given === undefined) return FULL_MESH;
  const services = Number(given);
  if (!Number.isInteger(services) || services < 1 || services > FULL_MESH.services) throw new Error(`--services must be a whole number from 1 to ${FULL_MESH.services}, got ${JSON.stringify(given)}`);
  return { ...FULL_MESH, services };
}

export function shapeFor(run: string): SyntheticMeshShape {
  return { ...meshShape(), prefix: `b${run}` };
}

export function heartbeatTemplate(mesh: SyntheticMesh, source: string): (n: number, seq: number) => Buffer {
  // Checked once against the schema; then only the instance and seq change.
  encodeMeshEvent('io.meshdeck.instance.heartbeat.v1', { service: mesh.instances[0]!.service, instanceId: mesh.instances[0]!.instanceId, seq: 1, state: 'serving', weight: 100, inflight: 0, activeCommands: [] }, { source });
  return (n, seq) => {
    const inst = mesh.instances[n]!;
    return Buffer.from(
      `{"specversion":"1.0","id":"${randomUUID()}","source":"${source}","type":"io.meshdeck.instance.heartbeat.v1","time":"${new Date().toISOString()}","datacontenttype":"application/json",` +
        `"data":{"service":"${inst.service}","instanceId":"${inst.instanceId}","seq":${seq},"state":"serving","weight":100,"inflight":0,"activeCommands":[]}}`,
    );
  };
}

export async function publisherRole(): Promise<void> {
  const broker = option('broker')!;
  const run = option('run')!;
  const mesh = new SyntheticMesh(shapeFor(run));
  const source = `meshdeck://bench/publisher-${process.pid}`;
  const heartbeat = heartbeatTemplate(mesh, source);
  const connection = new Connection({ url: broker, connectionName: 'meshdeck-bench-publisher' });
  await connection.onConnect(10_000);
  const confirmed = connection.createPublisher({ confirm: true });
  const fast = connection.createPublisher({ confirm: false });
  let stopping = false;
  let id = 0;

  const fill = async (count: number) => {
    const started = Date.now();
    let pending: Array<Promise<void>> = [];
    for (let i = 0; i < count && !stopping; i++) {
      const n = i % mesh.size;
      const windowStart = Math.floor(Date.now() / 1000) * 1000 - 1000;
      const { body, contentType } = telemetryBody(mesh, n, windowStart, `f${id++}`);
      pending.push(confirmed.send({ exchange: EXCHANGES.telemetry, routingKey: mesh.instances[n]!.routingKey, contentType }, body));
      if (pending.length >= 2000) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    toParent({ type: 'filled', count, ms: Date.now() - started });
  };

  const register = async (heartbeatIntervalMs: number) => {
    const started = Date.now();
    let pending: Array<Promise<void>> = [];
    for (const [n, inst] of mesh.instances.entries()) {
      const body = encodeMeshEvent(
        'io.meshdeck.instance.register.v1',
        { service: inst.service, instanceId: inst.instanceId, zone: 'zone-a', address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080`, weight: 100, heartbeatIntervalMs, agent: 'sidecar', startedAt: new Date().toISOString() },
        { source },
      );
      pending.push(confirmed.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.register(inst.service, inst.instanceId), contentType: CONTENT_TYPE, durable: true }, body));
      if (pending.length >= 1000) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    toParent({ type: 'registered', count: mesh.size, ms: Date.now() - started });
  };

  const live = async (seconds: number, heartbeats: boolean, telemetry: boolean) => {
    const perSlot = Math.ceil(mesh.size / SLOTS_PER_SECOND);
    const slotMs = 1000 / SLOTS_PER_SECOND;
    const t0 = Math.ceil(Date.now() / slotMs) * slotMs;
    let published = 0;
    let late = 0;
    let skipped = 0;
    const end = t0 + seconds * 1000;
    for (let second = 0; second < seconds && !stopping; second++) {
      for (let slot = 0; slot < SLOTS_PER_SECOND && !stopping; slot++) {
        const due = t0 + second * 1000 + slot * slotMs;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -slotMs) late += 1;
        // The run lasts `seconds` of wall time: a publisher that falls a whole second behind skips
        // slots (counted) rather than stretching the run.
        if (Date.now() >= end || wait < -1000) {
          skipped += 1;
          continue;
        }
        const pending: Array<Promise<void>> = [];
        for (let n = slot * perSlot; n < Math.min(mesh.size, (slot + 1) * perSlot); n++) {
          const inst = mesh.instances[n]!;
          if (telemetry) {
            const { body, contentType } = telemetryBody(mesh, n, due - 1000, `l${id++}`);
            pending.push(fast.send({ exchange: EXCHANGES.telemetry, routingKey: inst.routingKey, contentType }, body));
          }
          if (heartbeats) pending.push(fast.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.heartbeat(inst.service, inst.instanceId), contentType: CONTENT_TYPE }, heartbeat(n, second + 1)));
        }
        await Promise.all(pending);
        if (telemetry) published += Math.min(mesh.size, (slot + 1) * perSlot) - slot * perSlot;
        toParent({ type: 'progress', published, at: Date.now() });
      }
    }
    toParent({ type: 'live-done', started: t0, finished: Date.now(), published, lateSlots: late, skippedSlots: skipped });
  };

  const failed = (err: unknown) => toParent({ type: 'failed', error: String(err) });
  process.on('message', (raw) => {
    const message = raw as Message;
    if (message.type === 'usage') toParent(usage());
    if (message.type === 'fill') void fill(message.count as number).catch(failed);
    if (message.type === 'register') void register(typeof message.heartbeatIntervalMs === 'number' ? message.heartbeatIntervalMs : 1000).catch(failed);
    if (message.type === 'live') void live(message.seconds as number, message.heartbeats as boolean, message.telemetry !== false).catch(failed);
    if (message.type === 'stop') {
      stopping = true;
      void Promise.all([confirmed.close(), fast.close()])
        .then(() => connection.close())
        .finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  toParent({ type: 'ready' });
}

/** Milliseconds, 1 ms buckets up to 10 min: memory stays flat however long the run. */
export class LagHistogram {
  private readonly counts = new Uint32Array(600_001);
  n = 0;
  max = 0;

  add(ms: number): void {
    const v = Math.max(0, Math.round(ms));
    this.counts[Math.min(this.counts.length - 1, v)]! += 1;
    this.n += 1;
    if (v > this.max) this.max = v;
  }

  percentile(p: number): number {
    if (this.n === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * this.n);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i;
    }
    return this.max;
  }

  summary(): { n: number; p50: number; p90: number; p99: number; max: number } {
    return { n: this.n, p50: this.percentile(50), p90: this.percentile(90), p99: this.percentile(99), max: this.max };
  }
}

/** CPU of this process, the publisher, the broker and everything else over a span. */
export interface CpuSpan {
  seconds: number;
  coreShare: number;
  publisherShare: number;
  load: ReturnType<typeof otherLoad>;
}

/**
 * How long the publisher's CPU reading may take to arrive: the core shares the parent's event
 * loop, and right after it registers 10 000 instances the loop can be busy for many seconds
 * before it reads the reply (5 s was too short on a 2-vCPU machine).
 */
const USAGE_TIMEOUT_MS = 60_000;

export async function cpuSpan(publisher: { request: <T extends Message>(m: Message, reply: string, timeoutMs: number) => Promise<T>; process: { pid?: number } }): Promise<() => Promise<CpuSpan>> {
  const machineBefore: ProcessCpu | null = processCpu();
  const coreBefore = usage();
  const pubBefore = await publisher.request<Usage>({ type: 'usage' }, 'usage', USAGE_TIMEOUT_MS);
  return async () => {
    const coreAfter = usage();
    const pubAfter = await publisher.request<Usage>({ type: 'usage' }, 'usage', USAGE_TIMEOUT_MS);
    const seconds = (coreAfter.at - coreBefore.at) / 1000;
    const share = (a: Usage, b: Usage) => (b.user - a.user + b.system - a.system) / 1e6 / seconds;
    return {
      seconds,
      coreShare: share(coreBefore, coreAfter),
      publisherShare: share(pubBefore, pubAfter),
      load: otherLoad(machineBefore, processCpu(), seconds, [process.pid, publisher.process.pid ?? -1]),
    };
  };
}

export function cpuText(cpu: CpuSpan, coreName = 'core'): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
  const load = cpu.load;
  return (
    `CPU over ${cpu.seconds.toFixed(1)} s (share of one core): ${coreName} ${pct(cpu.coreShare)}, publisher ${pct(cpu.publisherShare)}` +
    (load
      ? `, broker ${pct(load.brokerCores)}, other processes ${pct(load.otherCores - load.brokerCores)} (${load.top
          .filter((t) => t.name !== 'beam.smp')
          .slice(0, 3)
          .map((t) => `${t.name} ${pct(t.cores)}`)
          .join(', ')}), steal ${pct(load.stealCores)}`
      : '')
  );
}

/** Above this much CPU used by other processes (the broker aside), a run is flagged as disturbed. */
export const DISTURBED_CORES = 0.25;

export function disturbed(cpu: CpuSpan): boolean {
  return cpu.load !== null && (cpu.load.otherCores - cpu.load.brokerCores > DISTURBED_CORES || cpu.load.stealCores > 0.05);
}
