/**
 * A core and two sidecars (caller → callee, in front of echo services) on a private RabbitMQ
 * node, with what the broker chaos tests check of them: commands issued to the callee and how
 * often its agent applied each, and the caller → callee requests in the telemetry history.
 */
import { expect } from 'vitest';
import type { ControlActionRecord, ControlActionsView } from '../../core/api/contract.js';
import type { BrokerConnection } from '../../core/bus/connection.js';
import { MeshFixture } from './mesh-fixture.js';
import { eventually, startEchoService } from './mesh.js';
import { PrivateBroker } from './private-broker.js';
import { edgeRequests, type Load } from './reconnect.js';

const ctx = { transport: 'internal' as const, actor: 'chaos' };

export class PrivateMesh {
  /** Action ids issued through `act`, in order. */
  readonly actionIds: string[] = [];
  /** How many times the callee's agent applied each command id. */
  readonly applied = new Map<string, number>();
  private weight = 10;

  private constructor(
    readonly broker: PrivateBroker,
    readonly mesh: MeshFixture,
    readonly caller: string,
    readonly callee: string,
  ) {
    mesh.sidecars[0]!.agent.on('command', (command, ack) => {
      if (ack.status === 'applied') this.applied.set(command.commandId, (this.applied.get(command.commandId) ?? 0) + 1);
    });
  }

  /** Starts the node, the core (reconnect back-off 100 ms … 1 s) and the callee's then the caller's sidecar. */
  static async start(name: string, caller: string, callee: string): Promise<PrivateMesh> {
    const broker = await PrivateBroker.start();
    try {
      const mesh = await MeshFixture.start(name, { vhost: broker.vhost(), backoff: { baseMs: 100, maxMs: 1000, jitter: 0.2 } });
      for (const service of [callee, caller]) {
        const echo = await startEchoService(service);
        mesh.echoes.push(echo);
        await mesh.sidecar(service, echo.url, `${service}-1`);
      }
      await eventually(() => mesh.sidecars[1]!.pool.has(callee), 'caller knows the callee', 20_000);
      return new PrivateMesh(broker, mesh, caller, callee);
    } catch (err) {
      await broker.destroy();
      throw err;
    }
  }

  get calleeAgent() {
    return this.mesh.sidecars[0]!.agent;
  }

  get callerAgent() {
    return this.mesh.sidecars[1]!.agent;
  }

  /** Where clients send requests: through the caller's sidecar to the callee. */
  get url(): string {
    return `http://${this.mesh.sidecars[1]!.address}/${this.callee}/x`;
  }

  /** The core's and both agents' broker connections, by name. */
  connections(): Record<string, BrokerConnection> {
    return { core: this.mesh.core.connections.get('cli')!, [this.callee]: this.calleeAgent.connection, [this.caller]: this.callerAgent.connection };
  }

  call<T>(method: string, input: unknown): Promise<T> {
    return this.mesh.core.router.call(method, input, ctx) as Promise<T>;
  }

  /** An operator's `set-weight` on the callee's instance (a new weight each time). */
  async act(reason: string): Promise<ControlActionRecord> {
    this.weight += 1;
    const target = { service: this.callee, instanceId: this.calleeAgent.instanceId };
    const result = await this.call<ControlActionRecord>('control.act', { profileId: 'cli', target, action: { action: 'set-weight', weight: this.weight }, reason });
    this.actionIds.push(result.id);
    return result;
  }

  /** Actions issued here that are not acknowledged yet. */
  async openActions(): Promise<number> {
    const { actions } = await this.call<ControlActionsView>('control.actions', { profileId: 'cli' });
    return actions.filter((a) => this.actionIds.includes(a.id) && a.state !== 'acked').length;
  }

  /** Every action acknowledged and its command applied exactly once by the callee's agent. */
  async expectEveryCommandAppliedOnce(): Promise<void> {
    const list = async () => (await this.call<ControlActionsView>('control.actions', { profileId: 'cli' })).actions.filter((a) => this.actionIds.includes(a.id));
    const actions = await eventually(async () => {
      const now = await list();
      return now.length === this.actionIds.length && now.every((a) => a.state === 'acked') ? now : null;
    }, `all ${this.actionIds.length} actions acknowledged`, 30_000, 200).catch(async (err: Error) => {
      // Say which actions are stuck, and where (outbox state, per-instance acks).
      const states = (await list()).map((a) => ({ reason: a.reason, state: a.state, progress: a.progress }));
      throw new Error(`${err.message}: ${JSON.stringify(states)}`);
    });
    const commandIds = actions.map((a) => a.commands[0]!.commandId);
    expect(commandIds.map((id) => this.applied.get(id) ?? 0)).toEqual(commandIds.map(() => 1));
    expect([...this.applied.values()].reduce((n, c) => n + c, 0)).toBe(this.actionIds.length);
  }

  /** Every request the caller's sidecar handled is in the history once, and no agent dropped a batch; returns the count. */
  async expectHistoryCounts(load: Load, start: number, context: unknown): Promise<number> {
    const handled = load.handled();
    let counted = 0;
    try {
      await eventually(async () => (counted = await edgeRequests(this.mesh.core, this.caller, this.callee, start)) === handled, `${handled} requests in the history`, 45_000, 250);
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${counted} counted; statuses ${JSON.stringify(Object.fromEntries(load.statuses))}; ${JSON.stringify(context)}`, { cause: err });
    }
    expect(this.mesh.sidecars.map((s) => s.agent.stats.telemetryDropped)).toEqual([0, 0]);
    return counted;
  }

  async close(): Promise<void> {
    await this.mesh.close();
    await this.broker.destroy();
  }
}
