/**
 * The registry's writes while another connection holds the database's write lock (as the
 * telemetry history's worker thread does during its transactions): the runtime does not wait for
 * it on the event loop, keeps the changes and the stream offset, and writes them once the lock is
 * free. Real SQLite file, two connections.
 */
import Database from 'better-sqlite3';
import type { AsyncMessage } from 'rabbitmq-client';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { encodeMeshEvent } from '../protocol/codec.js';
import { routingKeys } from '../protocol/topology.js';
import { memorySecretStore } from '../secrets/secret-store.js';
import { tempDb, type TempDb } from '../telemetry/test-support.js';
import { MeshRuntime } from './mesh-runtime.js';

const STREAM = { consumer: 'registry:t', stream: 'meshdeck.registry' };
let temp: TempDb | null = null;
let other: Database.Database | null = null;

afterEach(() => {
  if (other?.inTransaction) other.exec('ROLLBACK');
  other?.close();
  other = null;
  temp?.cleanup();
  temp = null;
});

/** A register event as the registry stream delivers it. */
function register(instanceId: string): AsyncMessage {
  const body = encodeMeshEvent(
    'io.meshdeck.instance.register.v1',
    { service: 'shop', instanceId, zone: 'zone-a', address: '10.0.0.1:8080', weight: 100, heartbeatIntervalMs: 1000, agent: 'sidecar', startedAt: new Date().toISOString() },
    { source: 'meshdeck://test/registry-writes' },
  );
  return { body, routingKey: routingKeys.register('shop', instanceId), headers: {} } as unknown as AsyncMessage;
}

const stored = (db: Database.Database) => ({
  instances: (db.prepare("SELECT count(*) AS n FROM mesh_instances WHERE mesh = 't'").get() as { n: number }).n,
  offset: (db.prepare('SELECT offset FROM stream_offsets WHERE consumer = ?').get(STREAM.consumer) as { offset: number } | undefined)?.offset ?? null,
});

/** Resolves after the event loop has run a timer: it was not held up meanwhile. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('registry writes while the database is busy', () => {
  it('are deferred, not waited for, and land with their stream offset once the lock is free', async () => {
    temp = tempDb('meshdeck-registry-writes-');
    const runtime = new MeshRuntime({ mesh: 't', db: temp.db, logger: silentLogger, source: 'meshdeck://test', control: { secrets: memorySecretStore('t') } });
    const onRegistryMessage = (runtime as unknown as { onRegistryMessage(m: AsyncMessage, offset: number): void }).onRegistryMessage.bind(runtime);
    other = new Database(temp.path);
    other.pragma('busy_timeout = 0');

    // Another connection writes (as the history's worker does): it holds the lock until it commits.
    other.exec('BEGIN IMMEDIATE');
    onRegistryMessage(register('shop-1'), 0);
    onRegistryMessage(register('shop-2'), 1);
    runtime.flush({ ...STREAM, offset: 1 });
    expect(runtime.stats.registryWritesDeferred).toBe(1);
    await turn(); // the event loop goes on
    // Still held: the retries go on deferring, nothing is written.
    await until(() => runtime.stats.registryWritesDeferred >= 3, 'three deferred tries');
    expect(stored(other)).toEqual({ instances: 0, offset: null });

    other.exec('COMMIT');
    // A retry writes both instances and the offset they came with.
    await until(() => stored(other!).offset !== null, 'the deferred write');
    expect(stored(other)).toEqual({ instances: 2, offset: 1 });
    const deferred = runtime.stats.registryWritesDeferred;

    // With the lock free, a write goes through at once, with its offset.
    onRegistryMessage(register('shop-3'), 2);
    runtime.flush({ ...STREAM, offset: 2 });
    expect(runtime.stats.registryWritesDeferred).toBe(deferred);
    expect(stored(other)).toEqual({ instances: 3, offset: 2 });
  });
});
