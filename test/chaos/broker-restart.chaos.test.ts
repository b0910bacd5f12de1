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
import type { ConnectionState, ControlActionsView } from '../../core/api/contract.js';
import { eventually } from '../support/mesh.js';
import { PrivateMesh } from '../support/private-mesh.js';
import { reconnected, startLoad } from '../support/reconnect.js';

// The application, then the whole node. Right after each start the broker refuses declares of
// queues it has not started yet ("home node … is down"); sessions whose setup fails then are
// started again on the same connection (BrokerConnection's SessionContext.failed). Before that,
// the callee's agent could be left without its control consumer and the commands sent around the
// restart were confirmed but never delivered.
const RESTARTS: Array<'app' | 'node'> = ['app', 'node'];
/** Reconnect attempts every connection makes against the stopped broker before it is started again (back-off 100 ms … 1 s: about 3 s down). */
const ATTEMPTS_WHILE_DOWN = 6;
const run = randomUUID().slice(0, 6);

let pm: PrivateMesh | undefined;

beforeAll(async () => {
  pm = await PrivateMesh.start('meshdeck-chaos-restart', `rs-web-${run}`, `rs-api-${run}`);
}, 150_000);

afterAll(async () => {
  await pm?.close();
}, 60_000);

describe('chaos: the broker restarts', () => {
  it(`reconnects everything, loses no command and no telemetry, through ${RESTARTS.length} broker restarts under load`, async () => {
    const p = pm!;
    const b = p.broker;
    const start = Date.now() - 2000;
    const load = startLoad(p.url);
    const connections = p.connections();
    const coreStatus = async () => (await p.call<ConnectionState[]>('connections.list', {})).find((c) => c.profileId === 'cli')!.status;
    // The most reconnect attempts each connection needed, per restart.
    const attempts: Record<string, number> = {};
    for (const [name, c] of Object.entries(connections)) c.on('state', (state) => (attempts[name] = Math.max(attempts[name] ?? 0, state.attempt)));
    const restarts: Array<{ kind: string; downMs: number; reconnectMs: Record<string, number>; afterBackMs: Record<string, number>; attempts: Record<string, number>; pendingWhileDown: number }> = [];
    try {
      for (const [r, kind] of RESTARTS.entries()) {
        await eventually(() => load.sent > (r + 1) * 300, 'traffic flowing', 30_000, 50);
        await p.act('just before the restart'); // most likely published, maybe not yet acked
        for (const name of Object.keys(connections)) attempts[name] = 0;
        const back = reconnected(connections);
        const downAt = Date.now();
        if (kind === 'app') await b.stopApp();
        else await b.stopNode();
        // Down: every connection is retrying (the API shows it), and it stays down for a few attempts.
        await eventually(async () => (await coreStatus()) === 'reconnecting', 'the API shows the core reconnecting', 20_000, 50);
        const whileDown = [await p.act('while the broker is down'), await p.act('while the broker is down')];
        expect(whileDown.map((a) => a.commands[0]!.state)).toEqual(['pending', 'pending']);
        await eventually(() => Object.values(connections).every((c) => c.state.status === 'reconnecting' && c.state.attempt >= ATTEMPTS_WHILE_DOWN), 'every connection retrying a while', 30_000, 50);
        const pendingWhileDown = (await p.call<ControlActionsView>('control.actions', { profileId: 'cli' })).actions.filter((a) => a.state === 'pending').length;
        if (kind === 'app') await b.startApp();
        else await b.startNode();
        const upAt = b.acceptingSince;
        await p.act('right after the restart');
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

    await p.expectEveryCommandAppliedOnce();
    const counted = await p.expectHistoryCounts(load, start, restarts);
    console.info(
      `chaos restart: ${JSON.stringify(restarts)}; sessions started again after a failed setup ${JSON.stringify(Object.fromEntries(Object.entries(connections).map(([n, c]) => [n, c.sessionRestarts])))}; commands ${p.actionIds.length} sent, ${p.applied.size} applied once, 0 lost; requests ${JSON.stringify(Object.fromEntries(load.statuses))}, ${counted} counted of ${load.handled()}`,
    );
  }, 240_000);
});
