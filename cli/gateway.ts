/**
 * `meshdeck gateway`: run the edge gateway, routing outside traffic to mesh services by a
 * routes file. SIGHUP re-reads the routes file (an invalid file is logged; the routes in use
 * stay).
 */
import { Gateway, DEFAULT_GATEWAY_SERVICE } from '../agent/gateway/gateway.js';
import { RoutesError } from '../agent/gateway/routes.js';
import { BALANCER_KINDS, isBalancerKind } from '../core/balancer/index.js';
import { parseBrokerUrl } from '../core/bus/broker-url.js';
import { createLogger } from '../core/lib/log.js';
import { InstanceId, ServiceName, Zone } from '../core/protocol/messages.js';
import { DEFAULT_BROKER, UsageError, parseOptions, parsePort, reportFailure, required, untilSignal } from './common.js';

export const GATEWAY_USAGE = `Usage: meshdeck gateway --listen PORT --routes FILE [options]

Run the mesh's edge gateway: requests from outside the mesh are matched against the routes
(first match wins), sent to a service picked by the route's weighted split, and forwarded to
one of its instances with per-try timeouts and budgeted retries. kill -HUP reloads the routes.
See docs/gateway.md for the routes file.
  --listen PORT      port to listen on
  --routes FILE      routes file (.json)
  --broker URL       RabbitMQ (env MESHDECK_BROKER; default ${DEFAULT_BROKER})
  --zone ZONE        availability zone of the gateway (default "default"); endpoints in it are preferred
  --instance-id ID   instance id (default: <service>-<host>-<pid>-<random>)
  --service NAME     service name the gateway registers under (default "${DEFAULT_GATEWAY_SERVICE}")
  --bind HOST        address to listen on (default 127.0.0.1)
  --advertise HOST   host registered in the mesh (default 127.0.0.1)
  --balancer KIND    ${BALANCER_KINDS.join(' | ')} (default p2c-ewma)
  --timeout MS       per-try timeout when a route sets no timeoutMs (default 2000)
  --attempts N       tries per request when a route sets no attempts (default 3; retries are budgeted)
`;

export async function gateway(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = createLogger();
  try {
    const { values } = parseOptions(argv, {
      listen: { type: 'string' },
      routes: { type: 'string' },
      broker: { type: 'string' },
      zone: { type: 'string' },
      'instance-id': { type: 'string' },
      service: { type: 'string' },
      bind: { type: 'string' },
      advertise: { type: 'string' },
      balancer: { type: 'string' },
      timeout: { type: 'string' },
      attempts: { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(GATEWAY_USAGE);
      return 0;
    }
    const listenPort = parsePort(required(values.listen, '--listen'), '--listen', false);
    const routesFile = required(values.routes, '--routes');
    const service = values.service ?? DEFAULT_GATEWAY_SERVICE;
    if (!ServiceName.safeParse(service).success) throw new UsageError(`--service "${service}": lowercase letters, digits and "-", 1-63 characters`);
    const zone = values.zone ?? 'default';
    if (!Zone.safeParse(zone).success) throw new UsageError(`--zone "${zone}": lowercase letters, digits and "-", 1-63 characters`);
    const instanceId = values['instance-id'];
    if (instanceId && !InstanceId.safeParse(instanceId).success) throw new UsageError(`--instance-id "${instanceId}": letters, digits, "_", ":" or "-"`);
    const broker = values.broker ?? env.MESHDECK_BROKER ?? DEFAULT_BROKER;
    parseBrokerUrl(broker, 'broker');
    const balancer = values.balancer ?? 'p2c-ewma';
    if (!isBalancerKind(balancer)) throw new UsageError(`--balancer must be one of ${BALANCER_KINDS.join(', ')}`);
    const number = (raw: string | undefined, flag: string, min: number, max: number, fallback: number) => {
      if (raw === undefined) return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer ${min}..${max}, got "${raw}"`);
      return n;
    };
    const timeoutMs = number(values.timeout, '--timeout', 1, 600_000, 2000);
    const maxAttempts = number(values.attempts, '--attempts', 1, 10, 3);

    let proxy: Gateway;
    try {
      proxy = new Gateway({
        service,
        zone,
        broker,
        listenPort,
        listenHost: values.bind ?? '127.0.0.1',
        ...(values.advertise ? { advertiseHost: values.advertise } : {}),
        ...(instanceId ? { instanceId } : {}),
        balancer,
        routesFile,
        timeoutMs,
        maxAttempts,
        logger,
      });
    } catch (err) {
      // A routes file that does not parse is a usage error: exit 2 naming the file and the
      // fields (the usage text would only bury them).
      if (!(err instanceof RoutesError)) throw err;
      process.stderr.write(`meshdeck: ${err.message}\n`);
      return 2;
    }
    const onHangup = () => {
      const result = proxy.reloadRoutes();
      if (result.ok) process.stdout.write(`Meshdeck gateway: reloaded ${result.routes} route(s) from ${routesFile}\n`);
      else process.stderr.write(`meshdeck gateway: routes not reloaded, keeping the routes in use: ${result.error}\n`);
    };
    process.on('SIGHUP', onHangup);
    try {
      await proxy.start();
      process.stdout.write(`Meshdeck gateway: ${service}/${proxy.agent.instanceId} on ${proxy.address}, ${proxy.routes.size} route(s) from ${routesFile}\n`);
      await untilSignal(logger);
      await proxy.stop();
    } finally {
      process.off('SIGHUP', onHangup);
    }
    return 0;
  } catch (err) {
    return reportFailure(err, GATEWAY_USAGE, logger);
  }
}
