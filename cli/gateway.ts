/**
 * `meshdeck gateway`: run the edge gateway, routing outside traffic to mesh services by a
 * routes file. SIGHUP re-reads the routes file (an invalid file is logged; the routes in use
 * stay).
 */
import { Gateway, DEFAULT_GATEWAY_SERVICE } from '../agent/gateway/gateway.js';
import { RoutesError } from '../agent/gateway/routes.js';
import { BALANCER_KINDS } from '../core/balancer/index.js';
import { createLogger } from '../core/lib/log.js';
import { DEFAULT_BROKER, parseOptions, parsePort, reportFailure, required, untilSignal, parseNumber, meshName, balancerOption, brokerOption, commandKeysOption } from './common.js';

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
  --command-key K    trusted command keys keyId:publicKey, comma-separated (env MESHDECK_COMMAND_KEYS;
                     default: pin the first key seen)
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
      'command-key': { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(GATEWAY_USAGE);
      return 0;
    }
    const listenPort = parsePort(required(values.listen, '--listen'), '--listen', false);
    const routesFile = required(values.routes, '--routes');
    const service = meshName('service', values.service ?? DEFAULT_GATEWAY_SERVICE, '--service');
    const zone = meshName('zone', values.zone ?? 'default', '--zone');
    const instanceId = values['instance-id'] && meshName('instance', values['instance-id'], '--instance-id');
    const broker = brokerOption(values.broker, env);
    const balancer = balancerOption(values.balancer);
    const timeoutMs = parseNumber(values.timeout, '--timeout', 1, 600_000, 2000, true);
    const maxAttempts = parseNumber(values.attempts, '--attempts', 1, 10, 3, true);

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
        commandKeys: commandKeysOption(values['command-key'], env),
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
