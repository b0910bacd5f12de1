/**
 * The events tail on the real broker (a vhost of its own) and real SQLite: a sidecar joins, an
 * operator drains it, the agent acknowledges, and the `events.tail` subscriber sees each of these
 * as a line, in batches at most once a second.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TailBatch, TailEvent } from '../../core/api/contract.js';
import type { CallContext } from '../../core/api/router.js';
import { MeshFixture } from '../support/mesh-fixture.js';
import { eventually, startEchoService } from '../support/mesh.js';

const run = randomUUID().slice(0, 6);
const service = `tally-${run}`;
const instanceId = `${service}-1`;
const ctx: CallContext = { transport: 'http', actor: 'http 127.0.0.1 (test)' };
let fixture: MeshFixture;
const batches: Array<TailBatch & { receivedAt: number }> = [];
let unsubscribe: () => void = () => undefined;

beforeAll(async () => {
  fixture = await MeshFixture.start('meshdeck-events-tail');
  unsubscribe = fixture.core.router.subscribe('events.tail', (payload) => batches.push({ ...(payload as TailBatch), receivedAt: Date.now() }));
}, 30_000);

afterAll(async () => {
  unsubscribe();
  await fixture?.close();
}, 30_000);

const events = (): TailEvent[] => batches.flatMap((b) => b.events);
const find = (predicate: (e: TailEvent) => boolean) => eventually(() => events().find(predicate), 'an event in the tail', 15_000);

describe('events.tail', () => {
  it('starts with the backlog: the connection and leadership of this core', () => {
    expect(batches[0]!.mode).toBe('backlog');
    const kinds = batches[0]!.events.map((e) => e.kind);
    expect(kinds).toContain('connection');
    expect(kinds).toContain('leadership');
  });

  it('tails a join, an operator drain, the agent’s ack and the state change, batched', async () => {
    const echo = await startEchoService('tally');
    fixture.echoes.push(echo);
    const started = Date.now();
    await fixture.sidecar(service, echo.url, instanceId);
    const joined = await find((e) => e.kind === 'registry' && e.instanceId === instanceId && e.text.includes('joined'));
    expect(joined).toMatchObject({ profileId: 'cli', service, level: 'info' });

    await fixture.core.router.call('control.act', { profileId: 'cli', action: { action: 'drain' }, target: { service, instanceId }, reason: 'tail test' }, ctx);
    const requested = await find((e) => e.kind === 'control' && e.text.includes('requested'));
    expect(requested.text).toBe(`drain ${instanceId} requested: tail test`);
    expect(requested.actor).toBe('http 127.0.0.1 (test)');
    await find((e) => e.kind === 'ack' && e.instanceId === instanceId && e.text.includes('applied'));
    await find((e) => e.kind === 'registry' && e.instanceId === instanceId && e.text.includes('healthy → draining'));
    await find((e) => e.kind === 'control' && e.text === `drain ${instanceId}: acked`);

    // Numbered without gaps (the backlog may repeat what the first live batch brings: a
    // subscriber keeps the first copy), and never more than about one live batch a second.
    const liveSeqs = batches.filter((b) => b.mode === 'live').flatMap((b) => b.events.map((e) => e.seq));
    expect(liveSeqs).toEqual([...new Set(liveSeqs)].sort((a, b) => a - b));
    const all = [...new Set(events().map((e) => e.seq))].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    const live = batches.filter((b) => b.mode === 'live' && b.receivedAt >= started);
    expect(live.length).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 1000) + 1);
    for (let i = 1; i < live.length; i++) expect(live[i]!.receivedAt - live[i - 1]!.receivedAt).toBeGreaterThanOrEqual(900);
  }, 45_000);
});
