/**
 * The broker itself goes down and comes back, twice, on a private RabbitMQ node
 * (test/support/private-broker.ts; the shared node is never stopped): first the RabbitMQ
 * application (`rabbitmqctl stop_app` / `start_app`, the VM stays), then the whole node
 * (`rabbitmqctl stop`, then a new VM on the same data). A core and two sidecars run on it with
 * clients sending requests through the caller's sidecar all along. The core and the sidecars
 * reconnect on their own; control commands issued just before, while the broker is down and right
 * after it is back are each applied once; the telemetry history counts every request the clients
 * sent, once (the durable stream keeps what was published before the restart, the agents resend
 * what was not confirmed).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionState, ControlActionRecord, ControlActionsView } from '../../core/api/contract.js';
import type { BrokerConnection } from '../../core/bus/connection.js';
import { MeshFixture } from '../support/mesh-fixture.js';
import { eventually, startEchoService } from '../support/mesh.js';
import { PrivateBroker } from '../support/private-broker.js';
import { edgeRequests, reconnected, startLoad } from '../support/reconnect.js';

const RESTARTS: Array<'app' | 'node'> = ['app', 'node'];
/** Reconnect attempts every connection makes against the stopped broker before it is started again (back-off 100 ms … 1 s: about 3 s down). */
const ATTEMPTS_WHILE_DOWN = 6;
const run = randomUUID().slice(0, 6);
const caller = `rs-web-${run}`;
const callee = `rs-api-${run}`;
const ctx = { transport: 'internal' as const, actor: 'chaos' };

let broker: PrivateBroker | undefined;
let mesh: MeshFixture | undefined;

beforeAll(async () => {
  broker = await PrivateBroker.start();
  mesh = await MeshFixture.start('meshdeck-chaos-restart', { vhost: broker.vhost(), backoff: { baseMs: 100, maxMs: 1000, jitter: 0.2 } });
  for (const [service, id] of [[callee, `${callee}-1`], [caller, `${caller}-1`]] as const) {
    const echo = await startEchoService(service);
    mesh.echoes.push(echo);
    await mesh.sidecar(service, echo.url, id);
  }
  await eventually(() => mesh!.sidecars[1]!.pool.has(callee), 'caller knows the callee', 20_000);
}, 150_000);

afterAll(async () => {
  await mesh?.close();
  await broker?.destroy();
}, 60_000);

describe('chaos: the broker restarts', () => {
  it(`reconnects everything, loses no command and no telemetry, through ${RESTARTS.length} broker restarts under load`, async () => {
    const m = mesh!;
    const b = broker!;
    const core = m.core;
    const [calleeCar, callerCar] = m.sidecars as [(typeof m.sidecars)[0], (typeof m.sidecars)[0]];
    const start = Date.now() - 2000;
    const load = startLoad(`http://${callerCar.address}/${callee}/x`);
    const connections: Record<string, BrokerConnection> = { core: core.connections.get('cli')!, [callee]: calleeCar.agent.connection, [caller]: callerCar.agent.connection };
    const coreStatus = async () => ((await core.router.call('connections.list', {}, ctx)) as ConnectionState[]).find((c) => c.profileId === 'cli')!.status;
    // The most reconnect attempts each connection needed, per restart.
    const attempts: Record<string, number> = {};
    for (const [name, c] of Object.entries(connections)) c.on('state', (state) => (attempts[name] = Math.max(attempts[name] ?? 0, state.attempt)));
    const applied = new Map<string, number>();
    calleeCar.agent.on('command', (command, ack) => {
      if (ack.status === 'applied') applied.set(command.commandId, (applied.get(command.commandId) ?? 0) + 1);
    });
    const target = { service: callee, instanceId: calleeCar.agent.instanceId };
    const actionIds: string[] = [];
    let weight = 10;
    const act = async () => {
      weight += 1;
      const result = (await core.router.call('control.act', { profileId: 'cli', target, action: { action: 'set-weight', weight }, reason: 'chaos restart' }, ctx)) as ControlActionRecord;
      actionIds.push(result.id);
      return result;
    };
    const restarts: Array<{ kind: string; downMs: number; reconnectMs: Record<string, number>; afterBackMs: Record<string, number>; attempts: Record<string, number>; pendingWhileDown: number }> = [];
    try {
      for (const [r, kind] of RESTARTS.entries()) {
        await eventually(() => load.sent > (r + 1) * 300, 'traffic flowing', 30_000, 50);
        await act(); // just before: most likely published, maybe not yet acked
        for (const name of Object.keys(connections)) attempts[name] = 0;
        const back = reconnected(connections);
        const downAt = Date.now();
        if (kind === 'app') await b.stopApp();
        else await b.stopNode();
        // Down: every connection is retrying (the API shows it), and it stays down for a few attempts.
        await eventually(async () => (await coreStatus()) === 'reconnecting', 'the API shows the core reconnecting', 20_000, 50);
        const whileDown = [await act(), await act()];
        expect(whileDown.map((a) => a.commands[0]!.state)).toEqual(['pending', 'pending']);
        await eventually(() => Object.values(connections).every((c) => c.state.status === 'reconnecting' && c.state.attempt >= ATTEMPTS_WHILE_DOWN), 'every connection retrying a while', 30_000, 50);
        const pendingWhileDown = ((await core.router.call('control.actions', { profileId: 'cli' }, ctx)) as ControlActionsView).actions.filter((a) => a.state === 'pending').length;
        if (kind === 'app') await b.startApp();
        else await b.startNode();
        const upAt = b.acceptingSince;
        await act(); // right after
        const reconnectMs = await back;
        // From the first AMQP handshake the broker accepted again to the connection being back (the
        // probe polls every 100 ms, so a connection can be back a little before it: then 0).
        const afterBackMs = Object.fromEntries(Object.entries(connections).map(([name, c]) => [name, Math.max(0, (c.state.connectedAt ?? 0) - upAt)]));
        expect(await coreStatus()).toBe('connected');
        restarts.push({ kind, downMs: upAt - downAt, reconnectMs, afterBackMs, attempts: { ...attempts }, pendingWhileDown });
      }
      const after = load.sent;
      await eventually(() => load.sent > after + 300, 'traffic after the restarts', 30_000, 50);
    } finally {
      await load.stop();
    }

    // Every command: acknowledged, applied exactly once by the one agent.
    const actions = await eventually(async () => {
      const list = ((await core.router.call('control.actions', { profileId: 'cli' }, ctx)) as ControlActionsView).actions.filter((a) => actionIds.includes(a.id));
      return list.length === actionIds.length && list.every((a) => a.state === 'acked') ? list : null;
    }, `all ${actionIds.length} actions acknowledged`, 30_000, 200);
    const commandIds = actions.map((a) => a.commands[0]!.commandId);
    expect(commandIds.map((id) => applied.get(id) ?? 0)).toEqual(commandIds.map(() => 1));
    expect([...applied.values()].reduce((n, c) => n + c, 0)).toBe(actionIds.length);

    // Telemetry: every request the caller's sidecar handled is in the history once.
    const handled = load.handled();
    let counted = 0;
    try {
      await eventually(async () => (counted = await edgeRequests(core, caller, callee, start)) === handled, `${handled} requests in the history`, 45_000, 250);
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${counted} counted; statuses ${JSON.stringify(Object.fromEntries(load.statuses))}; restarts ${JSON.stringify(restarts)}`, { cause: err });
    }
    const dropped = m.sidecars.map((s) => s.agent.stats.telemetryDropped);
    expect(dropped).toEqual([0, 0]);
    console.info(
      `chaos restart: ${JSON.stringify(restarts)}; commands ${actionIds.length} sent, ${applied.size} applied once, 0 lost; requests ${JSON.stringify(Object.fromEntries(load.statuses))}, ${counted} counted of ${handled}`,
    );
  }, 240_000);
});
