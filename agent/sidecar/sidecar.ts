/**
 * The Meshdeck sidecar: an HTTP proxy in front of one service instance.
 *
 *  - Inbound: requests from other sidecars (marked with x-meshdeck-hop) or from outside the mesh
 *    go to the local service (--upstream), subject to the control plane's eject and fault
 *    commands.
 *  - Outbound: the local service calls http://127.0.0.1:<listen>/<service>/<path> (or sets
 *    Host: <service>.mesh); the sidecar picks an endpoint of that service with the configured
 *    balancer, applies a per-try timeout, retries within a retry budget, and records telemetry.
 *
 * Membership, heartbeats, telemetry publishing and control commands come from the agent SDK.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../../core/lib/log.js';
import { InstanceId, ServiceName, type ControlCommand } from '../../core/protocol/messages.js';
import { MeshAgent, type CommandOutcome } from '../sdk/mesh-agent.js';
import { outcomeOfStatus } from '../sdk/telemetry-recorder.js';
import { HEADER_EJECTED, HEADER_FAULT, HEADER_HOP, attempt, forwardableHeaders, keepAliveAgent, listenProxy, outcomeOf, readBody, stopProxy, relay, sendPlain } from './proxy.js';
import { forwardOutbound, meshRequestHeaders } from './outbound.js';
import { RetryBudget, DEFAULT_RETRY_BUDGET, type RetryBudgetOptions } from './retry-budget.js';
import { UpstreamPool, bindPoolToAgent } from './upstream-pool.js';
import { EdgeBreakers, bindBreakersToAgent } from './edge-breakers.js';
import type { BalancerKind } from '../../core/balancer/types.js';
import type { BackoffPolicy } from '../../core/bus/connection.js';

export interface SidecarOptions {
  service: string;
  zone: string;
  broker: string;
  /** Local service this sidecar fronts, e.g. http://127.0.0.1:9001 */
  upstream: string;
  listenPort: number;
  listenHost?: string;
  /** Host other sidecars use to reach this one (default: listenHost, or 127.0.0.1). */
  advertiseHost?: string;
  instanceId?: string;
  weight?: number;
  version?: string;
  balancer?: BalancerKind;
  /** Per-try timeout for outbound calls. */
  timeoutMs?: number;
  /** Attempts per outbound request, first try included. */
  maxAttempts?: number;
  retryBudget?: RetryBudgetOptions;
  heartbeatIntervalMs?: number;
  agentKind?: 'sidecar' | 'gateway';
  /** Trusted command keys (MeshAgentOptions.commandKeys); none: trust on first use. */
  commandKeys?: Array<{ keyId: string; publicKey: string }>;
  /** Reconnect back-off of the agent's broker connection (default: DEFAULT_BACKOFF). */
  backoff?: BackoffPolicy;
  logger: Logger;
}

interface ActiveFault {
  commandId: string;
  share: number;
  delayMs: number;
  abortStatus: number;
  until: number;
}

export class Sidecar {
  readonly agent: MeshAgent;
  readonly pool: UpstreamPool;
  /** Circuit breakers of the edges from this service to the services it calls. */
  readonly breakers: EdgeBreakers;
  private readonly circuitCommand: (command: ControlCommand) => CommandOutcome | null;
  private server: Server | null = null;
  private readonly upstream: { host: string; port: number };
  private readonly outboundAgent = keepAliveAgent();
  private readonly inboundAgent = keepAliveAgent();
  private readonly budget: RetryBudget;
  private inflight = 0;
  private ejectedUntil = 0;
  private ejectCommand: string | null = null;
  private fault: ActiveFault | null = null;
  /** The zone failover command in force for this instance's zone (listed in heartbeats). */
  private zoneFailover: string | null = null;
  private readonly logger: Logger;
  private port = 0;

  constructor(private readonly options: SidecarOptions) {
    this.logger = options.logger.child('sidecar');
    const upstream = new URL(options.upstream);
    this.upstream = { host: upstream.hostname, port: Number(upstream.port || 80) };
    this.budget = new RetryBudget(options.retryBudget ?? DEFAULT_RETRY_BUDGET);
    this.pool = new UpstreamPool(options.balancer ?? 'p2c-ewma', options.zone);
    const advertise = options.advertiseHost ?? (options.listenHost && options.listenHost !== '0.0.0.0' ? options.listenHost : '127.0.0.1');
    this.agent = new MeshAgent({
      broker: options.broker,
      service: options.service,
      zone: options.zone,
      address: `${advertise}:${options.listenPort}`,
      ...(options.instanceId ? { instanceId: options.instanceId } : {}),
      weight: options.weight ?? 100,
      version: options.version ?? '',
      agent: options.agentKind ?? 'sidecar',
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
      ...(options.commandKeys?.length ? { commandKeys: options.commandKeys } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      logger: options.logger,
    });
    bindPoolToAgent(this.pool, this.agent);
    this.breakers = new EdgeBreakers(options.service);
    this.circuitCommand = bindBreakersToAgent(this.breakers, this.agent, this.logger);
    this.agent.onCommand((command) => this.circuitCommand(command) ?? this.applyCommand(command));
    this.agent.reportInflight(() => this.inflight);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.options.listenPort === 0) throw new Error('the sidecar needs a fixed --listen port: it is advertised before listening');
    const listening = await listenProxy((req, res) => this.handle(req, res), this.options.listenPort, this.options.listenHost ?? '127.0.0.1', 'sidecar', this.logger);
    this.server = listening.server;
    this.port = listening.port;
    this.agent.start();
    this.logger.info('sidecar listening', { port: this.port, service: this.options.service, instanceId: this.agent.instanceId, upstream: this.options.upstream });
  }

  /** Graceful: deregister, stop accepting, close. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    await stopProxy(this.agent, server);
    this.outboundAgent.destroy();
    this.inboundAgent.destroy();
  }

  // --- routing ------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const hop = req.headers[HEADER_HOP];
    if (typeof hop !== 'string') {
      const route = this.outboundRoute(req);
      if (route) return this.outbound(req, res, route.service, route.path);
    }
    return this.inbound(req, res, typeof hop === 'string' ? hop : null);
  }

  /** /<service>/rest for a service the mesh knows, or Host: <service>.mesh. */
  private outboundRoute(req: IncomingMessage): { service: string; path: string } | null {
    const host = (req.headers.host ?? '').split(':')[0] ?? '';
    if (host.endsWith('.mesh')) return { service: host.slice(0, -'.mesh'.length), path: req.url ?? '/' };
    const match = /^\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\/.*|\?.*)?$/.exec(req.url ?? '');
    if (match && this.pool.has(match[1]!)) return { service: match[1]!, path: match[2]?.startsWith('?') ? `/${match[2]}` : match[2] ?? '/' };
    return null;
  }

  // --- inbound ------------------------------------------------------------------------------

  private async inbound(req: IncomingMessage, res: ServerResponse, hop: string | null): Promise<void> {
    // The hop header comes from the network: anything that is not a valid name counts as external,
    // so a malformed header can never make this instance's telemetry batch unencodable.
    const [hopService, hopInstance] = hop?.split('/') ?? [];
    const caller = hopService && ServiceName.safeParse(hopService).success ? hopService : 'external';
    const callerInstance = caller !== 'external' && hopInstance && InstanceId.safeParse(hopInstance).success ? hopInstance : undefined;
    const started = performance.now();
    const record = (status: number) =>
      this.agent.telemetry.record('inbound', caller, callerInstance, outcomeOfStatus(status), performance.now() - started);
    const now = Date.now();

    if (this.ejectedUntil > now) {
      record(503);
      req.resume();
      return sendPlain(res, 503, `${this.options.service}/${this.agent.instanceId} is ejected`, { [HEADER_EJECTED]: '1' });
    }
    const fault = this.fault && this.fault.until > now ? this.fault : null;
    let faultNote: string | null = null;
    if (fault && Math.random() < fault.share) {
      if (fault.delayMs > 0) {
        faultNote = `delay=${fault.delayMs}`;
        await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      }
      if (fault.abortStatus >= 400) {
        record(fault.abortStatus);
        req.resume();
        return sendPlain(res, fault.abortStatus, 'fault injected by the mesh', { [HEADER_FAULT]: faultNote ? `${faultNote},abort` : 'abort' });
      }
    }

    this.inflight += 1;
    try {
      const body = await readBody(req);
      const result = await attempt({
        agent: this.inboundAgent,
        host: this.upstream.host,
        port: this.upstream.port,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: forwardableHeaders(req.headers),
        body,
        timeoutMs: 30_000,
      });
      if (result.kind === 'response') {
        record(result.response.statusCode ?? 502);
        relay(result.response, res, faultNote ? { [HEADER_FAULT]: faultNote } : {});
      } else {
        this.agent.telemetry.record('inbound', caller, callerInstance, outcomeOf(result), result.latencyMs);
        sendPlain(res, result.kind === 'timeout' ? 504 : 502, `local service ${this.options.upstream} ${result.kind === 'timeout' ? 'timed out' : 'is unreachable'}`);
      }
    } finally {
      this.inflight -= 1;
    }
  }

  // --- outbound -----------------------------------------------------------------------------

  private async outbound(req: IncomingMessage, res: ServerResponse, service: string, path: string): Promise<void> {
    const body = await readBody(req);
    await forwardOutbound(
      { pool: this.pool, budget: this.budget, httpAgent: this.outboundAgent, telemetry: this.agent.telemetry, breakers: this.breakers },
      {
        service,
        method: req.method ?? 'GET',
        path,
        headers: meshRequestHeaders(req.headers, `${this.options.service}/${this.agent.instanceId}`),
        body,
        timeoutMs: this.options.timeoutMs ?? 2000,
        maxAttempts: this.options.maxAttempts ?? 3,
      },
      res,
    );
  }

  // --- control ------------------------------------------------------------------------------

  private applyCommand(command: ControlCommand): CommandOutcome {
    const action = command.command;
    const now = Date.now();
    switch (action.action) {
      case 'set-weight':
        this.agent.setWeight(action.weight);
        return { status: 'applied', detail: `weight ${action.weight}` };
      case 'drain':
        this.agent.setState('draining');
        return { status: 'applied', detail: 'draining: no new mesh traffic' };
      case 'eject':
        this.ejectedUntil = action.durationMs ? now + action.durationMs : Number.MAX_SAFE_INTEGER;
        if (this.ejectCommand) this.agent.setCommandActive(this.ejectCommand, false);
        this.ejectCommand = command.commandId;
        this.agent.setCommandActive(command.commandId, true);
        return { status: 'applied', detail: action.durationMs ? `ejected for ${action.durationMs} ms` : 'ejected until restored' };
      case 'restore':
        this.ejectedUntil = 0;
        if (this.ejectCommand) this.agent.setCommandActive(this.ejectCommand, false);
        this.ejectCommand = null;
        this.agent.setState('serving');
        return { status: 'applied', detail: 'serving' };
      case 'fault': {
        if (this.fault) this.agent.setCommandActive(this.fault.commandId, false);
        const { share, delayMs, abortStatus, durationMs } = action.fault;
        this.fault = { commandId: command.commandId, share, delayMs, abortStatus, until: now + durationMs };
        this.agent.setCommandActive(command.commandId, true);
        const clear = setTimeout(() => {
          if (this.fault?.commandId === command.commandId) {
            this.fault = null;
            this.agent.setCommandActive(command.commandId, false);
          }
        }, durationMs);
        clear.unref();
        return { status: 'applied', detail: `fault on ${Math.round(share * 100)} % for ${durationMs} ms` };
      }
      case 'clear-fault':
        if (this.fault) this.agent.setCommandActive(this.fault.commandId, false);
        this.fault = null;
        return { status: 'applied', detail: 'fault cleared' };
      case 'failover-zone':
      case 'restore-zone': {
        // The core moves the traffic (the endpoint set's zone caps); this instance confirms it is in
        // that zone, keeps serving what still reaches it, and lists the failover while it lasts.
        if (action.zone !== this.options.zone) return { status: 'rejected', detail: `this instance is in zone ${this.options.zone}, not ${action.zone}` };
        if (this.zoneFailover) this.agent.setCommandActive(this.zoneFailover, false);
        this.zoneFailover = action.action === 'failover-zone' ? command.commandId : null;
        if (this.zoneFailover) this.agent.setCommandActive(this.zoneFailover, true);
        return { status: 'applied', detail: action.action === 'failover-zone' ? `zone ${action.zone} failed over: callers send no new requests here` : `zone ${action.zone} restored: traffic comes back gradually` };
      }
      default:
        return { status: 'rejected', detail: `the sidecar does not apply "${action.action}"` };
    }
  }
}
