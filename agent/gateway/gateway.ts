/**
 * The Meshdeck edge gateway: the entry point for traffic from outside the mesh.
 *
 * A request is matched against the routes (first match wins, see routes.ts), the route's
 * weighted split picks the target service, the balancer picks an endpoint (a sidecar) of that
 * service, and the request is forwarded with the same per-try timeout and budgeted retries as a
 * sidecar's outbound call (agent/sidecar/outbound.ts). The gateway marks what it forwards with
 * x-meshdeck-hop `<its service>/<its instance>`, so receiving sidecars count it as mesh traffic
 * from the gateway, and it reports an inbound edge from "external" and outbound edges to the
 * services: the core's live edges show external → gateway → services.
 *
 * It is a member of the mesh like a sidecar (agent kind "gateway", service "gateway" unless
 * configured), built on the same agent SDK, endpoint pool and retry budget. docs/gateway.md
 * documents routes, headers and telemetry.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { BalancerKind } from '../../core/balancer/types.js';
import type { Logger } from '../../core/lib/log.js';
import type { ControlCommand } from '../../core/protocol/messages.js';
import { MeshAgent, type CommandOutcome } from '../sdk/mesh-agent.js';
import { outcomeOfStatus } from '../sdk/telemetry-recorder.js';
import { forwardOutbound, meshRequestHeaders, type OutboundDeps } from '../sidecar/outbound.js';
import { keepAliveAgent, listenProxy, readBody, stopProxy } from '../sidecar/proxy.js';
import { DEFAULT_RETRY_BUDGET, RetryBudget, type RetryBudgetOptions } from '../sidecar/retry-budget.js';
import { UpstreamPool, bindPoolToAgent } from '../sidecar/upstream-pool.js';
import { EdgeBreakers, bindBreakersToAgent } from '../sidecar/edge-breakers.js';
import { RoutesError, loadRoutesFile, normaliseTarget, parseRoutes, pickWeighted, rewritePath, type RouteTable, type RoutesConfig } from './routes.js';

/** Response header naming the route that handled the request. */
export const HEADER_ROUTE = 'x-meshdeck-route';
/** Response header naming the service the split picked. */
export const HEADER_SERVICE = 'x-meshdeck-service';

export const DEFAULT_GATEWAY_SERVICE = 'gateway';

export interface GatewayOptions {
  /** Service name the gateway registers under (default "gateway"). */
  service?: string;
  zone: string;
  broker: string;
  listenPort: number;
  listenHost?: string;
  /** Host registered in the mesh (default: listenHost, or 127.0.0.1). */
  advertiseHost?: string;
  instanceId?: string;
  balancer?: BalancerKind;
  /** Routes as an object (the routes file's content) … */
  routes?: RoutesConfig;
  /** … or a .json routes file, re-read by reloadRoutes(). Exactly one of the two. */
  routesFile?: string;
  /** Per-try timeout when the route sets none (default 2000). */
  timeoutMs?: number;
  /** Tries per request when the route sets none, first included (default 3). */
  maxAttempts?: number;
  retryBudget?: RetryBudgetOptions;
  heartbeatIntervalMs?: number;
  /** Randomness of the weighted split (default Math.random). */
  random?: () => number;
  /** Trusted command keys (MeshAgentOptions.commandKeys); none: trust on first use. */
  commandKeys?: Array<{ keyId: string; publicKey: string }>;
  logger: Logger;
}

export type ReloadResult = { ok: true; routes: number } | { ok: false; error: string };

export class Gateway {
  readonly agent: MeshAgent;
  readonly pool: UpstreamPool;
  /** Circuit breakers of the edges from the gateway to the routed services. */
  readonly breakers: EdgeBreakers;
  readonly service: string;
  private table: RouteTable;
  private server: Server | null = null;
  private readonly httpAgent = keepAliveAgent();
  private readonly budget: RetryBudget;
  private readonly deps: OutboundDeps;
  private readonly random: () => number;
  private readonly logger: Logger;
  private inflight = 0;
  private port = 0;

  /** Validates the routes first: throws RoutesError (naming the field) before anything starts. */
  constructor(private readonly options: GatewayOptions) {
    this.logger = options.logger.child('gateway');
    if ((options.routes === undefined) === (options.routesFile === undefined)) throw new Error('the gateway needs either routes or routesFile');
    this.service = options.service ?? DEFAULT_GATEWAY_SERVICE;
    this.table = this.load(options.routes);
    this.random = options.random ?? Math.random;
    this.budget = new RetryBudget(options.retryBudget ?? DEFAULT_RETRY_BUDGET);
    this.pool = new UpstreamPool(options.balancer ?? 'p2c-ewma', options.zone);
    const advertise = options.advertiseHost ?? (options.listenHost && options.listenHost !== '0.0.0.0' ? options.listenHost : '127.0.0.1');
    this.agent = new MeshAgent({
      broker: options.broker,
      service: this.service,
      zone: options.zone,
      address: `${advertise}:${options.listenPort}`,
      ...(options.instanceId ? { instanceId: options.instanceId } : {}),
      agent: 'gateway',
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
      ...(options.commandKeys?.length ? { commandKeys: options.commandKeys } : {}),
      logger: options.logger,
    });
    this.breakers = new EdgeBreakers(this.service);
    this.deps = { pool: this.pool, budget: this.budget, httpAgent: this.httpAgent, telemetry: this.agent.telemetry, breakers: this.breakers };
    bindPoolToAgent(this.pool, this.agent);
    const circuitCommand = bindBreakersToAgent(this.breakers, this.agent, this.logger);
    this.agent.onCommand((command) => circuitCommand(command) ?? this.applyCommand(command));
    this.agent.reportInflight(() => this.inflight);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get routes(): RouteTable {
    return this.table;
  }

  async start(): Promise<void> {
    if (this.options.listenPort === 0) throw new Error('the gateway needs a fixed --listen port: it is advertised before listening');
    const listening = await listenProxy((req, res) => this.handle(req, res), this.options.listenPort, this.options.listenHost ?? '127.0.0.1', 'gateway', this.logger);
    this.server = listening.server;
    this.port = listening.port;
    this.agent.start();
    this.logger.info('gateway listening', { port: this.port, service: this.service, instanceId: this.agent.instanceId, routes: this.table.size });
  }

  /** Graceful: flush telemetry, deregister, stop accepting, close. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    await stopProxy(this.agent, server);
    this.httpAgent.destroy();
  }

  /** Replaces the routes with a validated object; throws RoutesError and keeps the old ones on error. */
  setRoutes(routes: RoutesConfig): void {
    this.table = this.load(routes);
    this.logger.info('routes replaced', { routes: this.table.size });
  }

  /**
   * Re-reads the routes file (the CLI calls this on SIGHUP). A file that does not validate is
   * logged and the routes in use stay in force.
   */
  reloadRoutes(): ReloadResult {
    const file = this.options.routesFile;
    if (file === undefined) return { ok: false, error: 'the gateway was given routes as an object, not a file' };
    try {
      this.table = this.load();
    } catch (err) {
      const error = (err as Error).message;
      this.logger.error('routes not reloaded: keeping the routes in use', { file, error });
      return { ok: false, error };
    }
    this.logger.info('routes reloaded', { file, routes: this.table.size });
    return { ok: true, routes: this.table.size };
  }

  /** Validates routes (the object, or else the file), refusing routes back to the gateway itself. */
  private load(routes?: RoutesConfig): RouteTable {
    const table = routes !== undefined ? parseRoutes(routes) : loadRoutesFile(this.options.routesFile!);
    assertNoRouteTo(table, this.service, routes !== undefined ? 'routes' : `routes file ${this.options.routesFile}`);
    return table;
  }

  // --- requests -----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    // Everything arriving at the edge counts as external: a client-supplied x-meshdeck-hop is
    // not trusted here (it would hide traffic from the external edge), only replaced.
    const finish = (status: number) => this.agent.telemetry.record('inbound', 'external', undefined, outcomeOfStatus(status), performance.now() - started);
    const method = req.method ?? 'GET';

    const target = normaliseTarget(req.url ?? '/');
    if (!target) {
      req.resume();
      sendJson(res, 400, { error: 'bad request target', path: req.url ?? '' });
      return finish(400);
    }
    const route = this.table.match({ method, path: target.path, headers: req.headers });
    if (!route) {
      req.resume();
      sendJson(res, 404, { error: 'no route', path: target.path });
      return finish(404);
    }
    const { service } = pickWeighted(route.split, this.random);

    this.inflight += 1;
    try {
      const body = await readBody(req);
      const result = await forwardOutbound(
        this.deps,
        {
          service,
          method,
          path: rewritePath(route, target.path, target.search),
          headers: meshRequestHeaders(req.headers, `${this.service}/${this.agent.instanceId}`),
          body,
          timeoutMs: route.timeoutMs ?? this.options.timeoutMs ?? 2000,
          maxAttempts: route.attempts ?? this.options.maxAttempts ?? 3,
          responseHeaders: { [HEADER_ROUTE]: route.name, [HEADER_SERVICE]: service },
        },
        res,
      );
      finish(result.status);
    } finally {
      this.inflight -= 1;
    }
  }

  // --- control ------------------------------------------------------------------------------

  private applyCommand(command: ControlCommand): CommandOutcome {
    const action = command.command;
    switch (action.action) {
      case 'set-weight':
        this.agent.setWeight(action.weight);
        return { status: 'applied', detail: `weight ${action.weight}` };
      case 'drain':
        this.agent.setState('draining');
        return { status: 'applied', detail: 'draining' };
      case 'restore':
        this.agent.setState('serving');
        return { status: 'applied', detail: 'serving' };
      default:
        return { status: 'rejected', detail: `the gateway does not apply "${action.action}"` };
    }
  }
}

/** A route to the gateway's own service would send requests round in a loop. */
function assertNoRouteTo(table: RouteTable, service: string, source: string): void {
  const issues = table.routes.flatMap((route, i) =>
    route.split.flatMap((target, j) => (target.service === service ? [{ path: `routes[${i}].split[${j}].service`, message: `"${service}" is the gateway itself` }] : [])),
  );
  if (issues.length > 0) throw new RoutesError(`${source} is not a valid routes file:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, issues, source);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
