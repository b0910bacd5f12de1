/**
 * The broker drops every connection of the mesh (`rabbitmqctl close_connection` for each
 * connection in the mesh's vhost, what a broker restart or a network cut does to clients) while
 * traffic flows through two sidecars, three times. The core and both sidecars reconnect on their
 * own; an operator command issued while the core is disconnected is applied exactly once; the
 * telemetry history counts every request the load sent, once.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../../agent/sidecar/sidecar.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import type { ControlActionRecord, ControlActionsView } from '../../core/api/contract.js';
import { silentLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { reconnected } from '../support/reconnect.js';
import { eventually, freePort, startEchoService, type EchoService } from '../support/mesh.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const CUTS = 3;
const run = randomUUID().slice(0, 6);
const caller = `cut-web-${run}`;
const callee = `cut-api-${run}`;
const ctx = { transport: 'internal' as const, actor: 'chaos' };

let vhost: TestVhost;
let dir: string;
let core: MeshCore;
const echoes: EchoService[] = [];
const sidecars: Sidecar[] = [];

/** Closes every client connection of the vhost; returns how many were closed. */
function closeAllConnections(vhostName: string): number {
  const out = execFileSync('rabbitmqctl', ['list_connections', 'pid', 'vhost', '--no-table-headers', '--quiet'], { encoding: 'utf8' });
  const pids = out
    .split('\n')
    .map((line) => line.split('\t'))
    .filter(([pid, vh]) => pid && vh === vhostName)
    .map(([pid]) => pid!);
  for (const pid of pids) {
    try {
      execFileSync('rabbitmqctl', ['close_connection', pid, 'chaos: broker cut'], { stdio: 'ignore' });
    } catch {
      // closed meanwhile
    }
  }
  return pids.length;
}

/** Client requests on the edge in the history: every attempt is a request, a retry is one more attempt. */
async function totalRequests(start: number): Promise<number> {
  const series = (await core.router.call('telemetry.series', { profileId: 'cli', kind: 'edge', from: caller, to: callee, start, end: Date.now() + 2000, resolution: '1s' }, ctx)) as {
    points: Array<{ requests: number; retries: number }>;
  };
  return series.points.reduce((n, p) => n + p.requests - p.retries, 0);
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-chaos-cut');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-cut-'));
  core = createMeshCore({
    databasePath: join(dir, 'm.db'),
    secrets: memorySecretStore('t'),
    logger: silentLogger,
    host: 'headless',
    commandLineBroker: vhost.url,
    backoff: { baseMs: 100, maxMs: 1000 },
  });
  await eventually(() => core.meshes.get('cli')?.active, 'core running', 20_000);
  for (const service of [callee, caller]) {
    const echo = await startEchoService(service);
    echoes.push(echo);
    const sidecar = new Sidecar({ service, zone: 'zone-a', broker: vhost.url, upstream: echo.url, listenPort: await freePort(), heartbeatIntervalMs: 250, logger: silentLogger });
    await sidecar.start();
    sidecars.push(sidecar);
  }
  await eventually(() => sidecars[1]!.pool.has(callee), 'caller knows the callee', 20_000);
}, 60_000);

afterAll(async () => {
  for (const s of sidecars) await s.stop();
  for (const e of echoes) await e.close();
  await core?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('chaos: the broker drops every connection', () => {
  it(`reconnects everything, loses no command and no telemetry, through ${CUTS} cuts under load`, async () => {
    const start = Date.now() - 2000;
    const statuses = new Map<number, number>();
    let sent = 0;
    let loading = true;
    const url = `http://${sidecars[1]!.address}/${callee}/x`;
    const worker = async () => {
      while (loading) {
        sent += 1;
        const status = await fetch(url).then(
          (r) => r.arrayBuffer().then(() => r.status),
          () => 0,
        );
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    const load = Promise.all([worker(), worker(), worker(), worker()]);

    const connections = {
      core: core.connections.get('cli')!,
      [callee]: sidecars[0]!.agent.connection,
      [caller]: sidecars[1]!.agent.connection,
    };
    // What the callee's agent applied, by command id (a duplicate delivery is answered, not applied).
    const applied = new Map<string, number>();
    sidecars[0]!.agent.on('command', (command, ack) => {
      if (ack.status === 'applied') applied.set(command.commandId, (applied.get(command.commandId) ?? 0) + 1);
    });
    const cuts: Array<{ closed: number; reconnectMs: Record<string, number> }> = [];
    const target = { service: callee, instanceId: sidecars[0]!.agent.instanceId };
    let actionId = '';
    try {
      for (let c = 0; c < CUTS; c++) {
        await eventually(() => sent > (c + 1) * 200, 'traffic flowing', 20_000, 50);
        const back = reconnected(connections);
        const closed = closeAllConnections(vhost.name);
        expect(closed).toBeGreaterThanOrEqual(3);
        if (c === 1) {
          // An operator action while the core is (most likely) still reconnecting: written to the
          // outbox at once, published once the core is back.
          const result = (await core.router.call('control.act', { profileId: 'cli', target, action: { action: 'set-weight', weight: 7 }, reason: 'chaos' }, ctx)) as ControlActionRecord;
          actionId = result.id;
        }
        cuts.push({ closed, reconnectMs: await back });
      }
      // Traffic keeps flowing after the last cut.
      const after = sent;
      await eventually(() => sent > after + 200, 'traffic after the cuts', 20_000, 50);
    } finally {
      loading = false;
      await load;
    }

    // The command: acknowledged, applied exactly once by the one agent, in effect in the registry.
    const action = await eventually(async () => {
      const list = (await core.router.call('control.actions', { profileId: 'cli' }, ctx)) as ControlActionsView;
      const found = list.actions.find((a) => a.id === actionId);
      return found?.state === 'acked' ? found : null;
    }, 'the action acknowledged', 30_000, 200);
    const commandId = action.commands[0]!.commandId;
    expect(applied.get(commandId)).toBe(1);
    await eventually(() => core.meshes.get('cli')!.registry.get(callee, target.instanceId)?.weight === 7, 'weight 7 via heartbeat', 20_000, 100);

    // Telemetry: every request the caller's sidecar handled is in the history once. Requests that
    // never reached the sidecar (status 0: the client itself failed) are not counted by it.
    const handled = [...statuses].filter(([status]) => status !== 0).reduce((n, [, count]) => n + count, 0);
    let counted = 0;
    try {
      await eventually(async () => (counted = await totalRequests(start)) === handled, `${handled} requests in the history`, 30_000, 250);
    } catch (err) {
      // Where the telemetry stopped: the agents' sends, the core's ingest, the stored offset.
      const runtime = core.meshes.get('cli')!;
      const trail = {
        agents: sidecars.map((s) => ({ service: s.agent.service, ...s.agent.stats })),
        core: runtime.stats,
        ingest: runtime.ingest.view(Date.now()),
        historyOffset: runtime.history.offset(),
      };
      throw new Error(`${(err as Error).message}: ${counted} counted; statuses ${JSON.stringify(Object.fromEntries(statuses))}; cuts ${JSON.stringify(cuts)}; telemetry ${JSON.stringify(trail)}`, { cause: err });
    }
    console.info(
      `chaos cut: ${CUTS} cuts of ${cuts.map((c) => c.closed).join('/')} connections; reconnect ms ${JSON.stringify(cuts.map((c) => c.reconnectMs))}; requests ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
  }, 180_000);
});
