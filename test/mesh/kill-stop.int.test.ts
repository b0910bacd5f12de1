/**
 * A killed instance stops getting tries from every caller (issue 4), on the real broker with real
 * sidecars. The target service has one instance per zone, as the demo: `-a` is a real sidecar
 * process (the built CLI) so it can die the hard way (SIGKILL), `-b` an in-process sidecar that
 * answers 503 on /flaky. One caller per zone sends GET /ok and GET /flaky in turn:
 *
 *  - the zone-a caller tries the victim first (its own zone), meets the refusal and sets it aside;
 *    its /flaky retries (zone b's 503) must not fall back to the endpoint it set aside;
 *  - the zone-b caller only reaches the victim on a retry after zone b's 503: it has not met the
 *    refusal when it first tries, so only the core's push stops it.
 *
 * Two callers send two reports, under the direct-signal threshold (3): the core ejects the victim
 * by the heartbeat rule's shorter TTL after a refusal (1 interval instead of 3). Every outbound
 * try of the in-process sidecars is recorded (Node's http diagnostics channels: time, target port,
 * caller from the hop header, outcome); the assertions are on those tries, not on timing. A second
 * instance is killed before its first heartbeat: its registration counts as one.
 *
 * Needs the built command line (`npm run build:cli`; `npm test` builds it), as sidecar.int.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../agent/sidecar/sidecar.js';
import type { DiscoveryEndpoints } from '../../core/protocol/messages.js';
import { eventually, freePort, startEchoService } from '../support/mesh.js';
import { MeshFixture } from '../support/mesh-fixture.js';
import { REPO_ROOT } from '../support/serve.js';

const run = randomUUID().slice(0, 6);
const target = `pay-${run}`;
const front = `front-${run}`;
const victimId = `${target}-a`;
let fx: MeshFixture;
let victim: ChildProcess | null = null;
let victimPort = 0;
let victimUpstream = '';
const children: ChildProcess[] = [];
let callerA: Sidecar;
let callerB: Sidecar;

interface Try {
  at: number;
  port: number;
  /** The caller's hop header: service/instance. */
  caller: string;
  outcome: string;
}

const tries: Try[] = [];
const started = new WeakMap<ClientRequest, Try>();
const onStart = (message: unknown) => {
  const { request } = message as { request: ClientRequest };
  const port = Number(String(request.getHeader('host') ?? '').split(':')[1]);
  const t: Try = { at: Date.now(), port, caller: String(request.getHeader('x-meshdeck-hop') ?? ''), outcome: 'pending' };
  started.set(request, t);
  tries.push(t);
};
const onError = (message: unknown) => {
  const { request, error } = message as { request: ClientRequest; error: NodeJS.ErrnoException };
  const t = started.get(request);
  if (t && t.outcome === 'pending') t.outcome = error.code ?? error.message;
};
const onResponse = (message: unknown) => {
  const { request, response } = message as { request: ClientRequest; response: { statusCode?: number } };
  const t = started.get(request);
  if (t && t.outcome === 'pending') t.outcome = String(response.statusCode ?? 0);
};

beforeAll(async () => {
  fx = await MeshFixture.start('meshdeck-kill-stop');
  const echoA = await startEchoService(victimId);
  const echoB = await startEchoService(`${target}-b`, (path) => (path.startsWith('/flaky') ? { status: 503, body: 'busy' } : { status: 200, body: `b:${path}` }));
  const frontEcho = await startEchoService('front');
  fx.echoes.push(echoA, echoB, frontEcho);
  victimUpstream = echoA.url;
  victimPort = await freePort();
  victim = spawnSidecar(victimId, victimPort);
  await fx.sidecar(target, echoB.url, `${target}-b`, undefined, 'zone-b');
  callerA = await fx.sidecar(front, frontEcho.url, `${front}-a`, undefined, 'zone-a');
  callerB = await fx.sidecar(front, frontEcho.url, `${front}-b`, undefined, 'zone-b');
  for (const c of [callerA, callerB]) {
    await eventually(() => c.agent.endpoints(target)?.endpoints.filter((e) => e.state === 'healthy').length === 2, 'caller knows both instances', 20_000);
  }
  dc.subscribe('http.client.request.start', onStart);
  dc.subscribe('http.client.request.error', onError);
  dc.subscribe('http.client.response.finish', onResponse);
}, 60_000);

afterAll(async () => {
  dc.unsubscribe('http.client.request.start', onStart);
  dc.unsubscribe('http.client.request.error', onError);
  dc.unsubscribe('http.client.response.finish', onResponse);
  for (const child of children) child.kill('SIGKILL');
  await fx?.close();
});

/** A sidecar process of the target service in zone a (the built CLI, default 1-s heartbeat), in front of the victim's echo. */
function spawnSidecar(instanceId: string, port: number): ChildProcess {
  const child = spawn(
    process.execPath,
    [join(REPO_ROOT, 'bin/meshdeck.js'), 'sidecar', '--service', target, '--zone', 'zone-a', '--listen', String(port), '--upstream', victimUpstream, '--broker', fx.vhost.url, '--instance-id', instanceId],
    { stdio: 'ignore' },
  );
  children.push(child);
  return child;
}

/**
 * SIGKILLs `child`, then has both callers send GET /ok and GET /flaky in turn (one request at a
 * time each) until each has sent 20 more after it got a set listing `id` as not healthy.
 * Returns when it was killed and when each caller got that set.
 */
async function killUnderTraffic(child: ChildProcess, id: string): Promise<{ killedAt: number; pushedAt: Map<string, number> }> {
  const pushedAt = new Map<string, number>();
  const listeners = [callerA, callerB].map((c) => {
    const listener = (set: DiscoveryEndpoints) => {
      const v = set.service === target ? set.endpoints.find((e) => e.instanceId === id) : undefined;
      if (set.service === target && (!v || v.state !== 'healthy') && !pushedAt.has(c.agent.instanceId)) pushedAt.set(c.agent.instanceId, Date.now());
    };
    c.agent.on('endpoints', listener);
    return () => c.agent.off('endpoints', listener);
  });
  let stop = false;
  const after = new Map<string, number>();
  const loop = async (c: Sidecar) => {
    while (!stop) {
      for (const path of ['/ok', '/flaky']) {
        await get(c, path).catch(() => 0);
        if (pushedAt.has(c.agent.instanceId)) after.set(c.agent.instanceId, (after.get(c.agent.instanceId) ?? 0) + 1);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const dead = new Promise((resolve) => child.once('exit', resolve));
  const killedAt = Date.now();
  child.kill('SIGKILL');
  await dead;
  const loops = [loop(callerA), loop(callerB)];
  try {
    await eventually(() => [callerA, callerB].every((c) => (after.get(c.agent.instanceId) ?? 0) >= 20), 'both callers pushed the set without the victim and sending on', 20_000);
  } finally {
    stop = true;
    await Promise.all(loops);
    for (const off of listeners) off();
  }
  return { killedAt, pushedAt };
}

/** Every caller's tries to `port` since `killedAt`: none after its push, none after its own refusal. */
function expectStopped(port: number, killedAt: number, pushedAt: Map<string, number>): void {
  const toVictim = tries.filter((t) => t.port === port && t.at >= killedAt);
  for (const c of [callerA, callerB]) {
    const id = c.agent.instanceId;
    const mine = toVictim.filter((t) => t.caller === `${front}/${id}`);
    // Once it had the set without the victim, never again.
    expect(mine.filter((t) => t.at > pushedAt.get(id)!), `${id} after the push`).toEqual([]);
    // After its first refused try, it never went back to the endpoint it set aside (retries included).
    const refused = mine.findIndex((t) => t.outcome === 'ECONNREFUSED');
    if (refused >= 0) expect(mine.slice(refused + 1), `${id} after its refusal`).toEqual([]);
  }
}

async function get(caller: Sidecar, path: string): Promise<number> {
  const res = await fetch(`http://${caller.address}/${target}${path}`);
  await res.arrayBuffer();
  return res.status;
}

describe('instance kill', () => {
  it('every caller stops trying a SIGKILLed instance once it has the set without it, and no retry goes back to an endpoint the caller set aside', async () => {
    const mesh = fx.mesh();
    // A victim that has run a while: registered and heartbeating (as every kill of the failover bench).
    const registered = mesh.registry.get(target, victimId)!.firstSeen;
    await eventually(() => mesh.registry.get(target, victimId)!.lastSeen > registered, 'the victim heartbeats', 10_000);
    // Before the kill the zone-a caller keeps to its own zone: the victim answers.
    expect(await get(callerA, '/ok')).toBe(200);
    expect(tries.some((t) => t.port === victimPort && t.caller === `${front}/${front}-a` && t.outcome === '200')).toBe(true);

    const { killedAt, pushedAt } = await killUnderTraffic(victim!, victimId);

    // The core ejected it by the heartbeat rule's shorter TTL after a refusal, before the full TTL.
    const ejection = mesh.failoverTransitions().find((t) => t.instanceId === victimId && t.to === 'ejected');
    expect(ejection?.evidence).toMatchObject({ rule: 'heartbeat', thresholds: { ttlMs: 1000, refusedIntervals: 1 } });
    if (ejection?.evidence.rule !== 'heartbeat') throw new Error('unexpected evidence');
    expect(ejection.evidence.samples.refusedAt).toBeGreaterThanOrEqual(killedAt);
    expect(ejection.evidence.samples.silentMs).toBeLessThan(3000);

    expectStopped(victimPort, killedAt, pushedAt);
  }, 60_000);

  it('an instance killed before its first heartbeat: its registration counts as one, so the shorter TTL after a refusal applies too', async (ctx) => {
    const mesh = fx.mesh();
    const id = `${target}-a2`;
    const port = await freePort();
    const child = spawnSidecar(id, port);
    // Killed as soon as the zone-a caller lists it (its first heartbeat is due 1 s after it registered).
    await eventually(() => callerA.agent.endpoints(target)?.endpoints.some((e) => e.instanceId === id && e.state === 'healthy'), 'zone-a caller lists the new instance', 20_000, 10);
    const { firstSeen, lastSeen } = mesh.registry.get(target, id)!;
    const { killedAt, pushedAt } = await killUnderTraffic(child, id);
    // On a machine too slow to kill it within its first second, it heartbeated first: the case above.
    if (lastSeen !== firstSeen || mesh.registry.get(target, id)!.lastSeen !== firstSeen) ctx.skip();
    const ejection = mesh.failoverTransitions().find((t) => t.instanceId === id && t.to === 'ejected');
    expect(ejection?.evidence).toMatchObject({ rule: 'heartbeat', thresholds: { ttlMs: 1000, refusedIntervals: 1 } });
    if (ejection?.evidence.rule !== 'heartbeat') throw new Error('unexpected evidence');
    expect(ejection.evidence.samples.refusedAt).toBeGreaterThanOrEqual(killedAt);
    expect(ejection.evidence.samples.silentMs).toBeLessThan(3000);
    expectStopped(port, killedAt, pushedAt);
  }, 60_000);
});
