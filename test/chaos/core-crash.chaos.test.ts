/**
 * SIGKILL of the headless core (`meshdeck serve`, the built CLI, its history written by a worker
 * thread) while it ingests telemetry as fast as a publisher can send it. After each kill: `PRAGMA integrity_check` is ok, and the
 * history holds exactly what the stream held up to the stored offset (every batch carries one
 * request, so the sum of requests counts the batches). The core is started again on the same
 * database while publishing goes on; at the end the history holds every batch sent, once.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Connection } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMeshEvent } from '../../core/protocol/codec.js';
import { CONTENT_TYPE, EXCHANGES, QUEUES, routingKeys } from '../../core/protocol/topology.js';
import { eventually } from '../support/mesh.js';
import { startServe, type ServedConsole } from '../support/serve.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const KILLS = 3;
const run = randomUUID().slice(0, 6);
const caller = `crash-web-${run}`;
const prober = `crash-probe-${run}`;
const callee = `crash-api-${run}`;

let vhost: TestVhost;
let dir: string;
let dbPath: string;
let amqp: Connection;
let served: ServedConsole | null = null;

interface Snapshot {
  integrity: string;
  /** Offset of the last telemetry message the history includes (null: none yet). */
  offset: number | null;
  /** Requests on the edge in the 1 s history (staging + compacted), one per batch. */
  requests: number;
}

function snapshot(from = caller): Snapshot {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const integrity = (db.pragma('integrity_check', { simple: true }) as string) ?? '';
    const row = db.prepare(`SELECT offset FROM stream_offsets WHERE stream = ?`).get(QUEUES.telemetryStream) as { offset: number } | undefined;
    const sum = (table: string) =>
      (
        db
          .prepare(`SELECT coalesce(sum(r.requests), 0) AS n FROM ${table} r JOIN telemetry_series s ON s.id = r.series WHERE s.kind = 'edge' AND s.a = ? AND s.b = ?`)
          .get(from, callee) as { n: number }
      ).n;
    return { integrity, offset: row?.offset ?? null, requests: sum('telemetry_recent') + sum('telemetry_1s') };
  } finally {
    db.close();
  }
}

/** Offsets of the measured edge's messages in the telemetry stream (the probe's left out), read from the start. */
async function streamOffsets(expected: number): Promise<number[]> {
  const offsets: number[] = [];
  const ch = await amqp.acquire();
  try {
    await ch.basicQos({ prefetchCount: 1000 });
    const { consumerTag } = await ch.basicConsume({ queue: QUEUES.telemetryStream, arguments: { 'x-stream-offset': 'first' } }, (m) => {
      if (m.routingKey.startsWith(`telemetry.${caller}.`)) offsets.push(Number(m.headers?.['x-stream-offset']));
      ch.basicAck({ deliveryTag: m.deliveryTag });
    });
    await eventually(() => offsets.length >= expected, `${expected} messages read back from the stream`, 90_000, 100);
    await ch.basicCancel({ consumerTag });
  } finally {
    await ch.close();
  }
  return offsets;
}

beforeAll(() => {
  vhost = createTestVhost('meshdeck-chaos-crash');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-crash-'));
  dbPath = join(dir, 'meshdeck.db');
  amqp = new Connection({ url: vhost.url });
});

afterAll(async () => {
  await served?.stop();
  await amqp?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('chaos: the core killed during heavy ingest', () => {
  it(`keeps an intact database and exact history through ${KILLS} SIGKILLs, and resumes without gap or double count`, async () => {
    served = await startServe({ broker: vhost.url, dbPath });
    // The core declares the stream; wait until it is consuming.
    await eventually(async () => (await fetch(`${served!.url}/healthz`)).ok, 'core up', 15_000, 100);
    await eventually(() => {
      const s = snapshot();
      return s.integrity === 'ok';
    }, 'database created', 15_000, 100);
    // As the built CLI runs it: the history is written by its worker thread (core/telemetry/history-writer.ts).
    await eventually(() => served!.stderr().includes('telemetry history written on a worker thread'), 'history worker started', 15_000, 100);
    // A console without history starts at the stream's tail: publish the measured edge only once
    // it reads the stream, i.e. once a probe edge's batches reach its history.
    const probe = amqp.createPublisher({ confirm: true });
    await eventually(async () => {
      const t = Date.now();
      await probe.send(
        { exchange: EXCHANGES.telemetry, routingKey: routingKeys.telemetry(prober, 'p0'), contentType: CONTENT_TYPE },
        encodeMeshEvent(
          'io.meshdeck.telemetry.batch.v1',
          { service: prober, instanceId: 'p0', zone: 'zone-a', windowStart: t - (t % 1000), windowMs: 1000, edges: [{ direction: 'outbound', peerService: callee, requests: 1, errors: {}, latency: { zero: 0, buckets: [[30, 1]] } }] },
          { source: 'meshdeck://chaos-probe' },
        ),
      );
      return snapshot(prober).requests > 0;
    }, 'the core reading the telemetry stream', 30_000, 250);
    await probe.close();

    const publisher = amqp.createPublisher({ confirm: true });
    let sent = 0;
    let publishing = true;
    const source = 'meshdeck://chaos-crash';
    const publishLoop = (async () => {
      while (publishing) {
        const t = Date.now();
        const chunk = Array.from({ length: 200 }, (_, i) => {
          const instance = `w${(sent + i) % 64}`;
          return publisher.send(
            { exchange: EXCHANGES.telemetry, routingKey: routingKeys.telemetry(caller, instance), contentType: CONTENT_TYPE },
            encodeMeshEvent(
              'io.meshdeck.telemetry.batch.v1',
              { service: caller, instanceId: instance, zone: 'zone-a', windowStart: t - (t % 1000), windowMs: 1000, edges: [{ direction: 'outbound', peerService: callee, requests: 1, errors: {}, latency: { zero: 0, buckets: [[30, 1]] } }] },
              { source },
            ),
          );
        });
        await Promise.all(chunk);
        sent += chunk.length;
      }
    })();

    const kills: Array<{ sentAtKill: number; offset: number | null; requests: number; integrity: string }> = [];
    try {
      for (let k = 0; k < KILLS; k++) {
        // Kill once the core has committed some history past the previous kill.
        const before = kills.at(-1)?.requests ?? 0;
        await eventually(() => snapshot().requests > before + 500, `ingest progressing (round ${k + 1})`, 30_000, 50);
        served.process.kill('SIGKILL');
        await new Promise((resolve) => served!.process.once('exit', resolve));
        const s = snapshot();
        kills.push({ sentAtKill: sent, ...s });
        expect(s.integrity).toBe('ok');
        expect(s.offset).not.toBeNull();
        served = await startServe({ broker: vhost.url, dbPath });
      }
    } finally {
      publishing = false;
      await publishLoop;
      await publisher.close();
    }

    // History at each kill = the messages in the stream up to the stored offset, no more, no less.
    const offsets = await streamOffsets(sent);
    expect(offsets).toHaveLength(sent);
    for (const kill of kills) {
      const upTo = offsets.filter((o) => o <= kill.offset!).length;
      expect(kill.requests, `history at a kill (offset ${kill.offset})`).toBe(upTo);
      // The kill really happened mid-ingest: messages were sent beyond what was stored.
      expect(kill.sentAtKill).toBeGreaterThan(kill.requests);
    }

    // Resumed: every message sent is in the history exactly once.
    await eventually(() => snapshot().requests === sent, `all ${sent} batches in the history`, 60_000, 200);
    await served.stop();
    served = null;
    const last = snapshot();
    expect(last.integrity).toBe('ok');
    expect(last.requests).toBe(sent);
    console.info(`chaos crash: ${KILLS} SIGKILLs during ingest of ${sent} batches; history at each kill ${kills.map((k) => `${k.requests}/${k.sentAtKill}`).join(', ')}; integrity ok`);
  }, 180_000);
});
