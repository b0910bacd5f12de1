/**
 * `meshdeck sidecar`: run the data-plane proxy in front of one service instance.
 */
import { Sidecar } from '../agent/sidecar/sidecar.js';
import { BALANCER_KINDS, isBalancerKind } from '../core/balancer/index.js';
import { parseBrokerUrl } from '../core/bus/broker-url.js';
import { createLogger } from '../core/lib/log.js';
import { ServiceName, Zone, InstanceId } from '../core/protocol/messages.js';
import { DEFAULT_BROKER, UsageError, parseOptions, parsePort, reportFailure, required, untilSignal } from './common.js';

export const SIDECAR_USAGE = `Usage: meshdeck sidecar --service NAME --zone ZONE --listen PORT --upstream URL [options]

Run the mesh sidecar in front of one instance of a service. Other sidecars reach the instance
through it; the service calls other services through it as http://127.0.0.1:PORT/<service>/...
(or with Host: <service>.mesh).
  --service NAME     service name (lowercase letters, digits, "-")
  --zone ZONE        availability zone of this instance
  --listen PORT      port to listen on (mesh traffic in, the service's calls out)
  --upstream URL     the local service, e.g. http://127.0.0.1:9001
  --broker URL       RabbitMQ (env MESHDECK_BROKER; default ${DEFAULT_BROKER})
  --instance-id ID   instance id (default: <service>-<host>-<pid>-<random>)
  --advertise HOST   host other sidecars use to reach this one (default 127.0.0.1)
  --bind HOST        address to listen on (default 127.0.0.1)
  --balancer KIND    ${BALANCER_KINDS.join(' | ')} (default p2c-ewma)
  --weight N         relative weight 0..10000 (default 100)
  --version V        version label of the service
  --timeout MS       per-try timeout of outbound calls (default 2000)
  --attempts N       tries per outbound call, first included (default 3; retries are budgeted)
`;

export async function sidecar(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = createLogger();
  try {
    const { values } = parseOptions(argv, {
      service: { type: 'string' },
      zone: { type: 'string' },
      listen: { type: 'string' },
      upstream: { type: 'string' },
      broker: { type: 'string' },
      'instance-id': { type: 'string' },
      advertise: { type: 'string' },
      bind: { type: 'string' },
      balancer: { type: 'string' },
      weight: { type: 'string' },
      version: { type: 'string' },
      timeout: { type: 'string' },
      attempts: { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(SIDECAR_USAGE);
      return 0;
    }
    const service = required(values.service, '--service');
    if (!ServiceName.safeParse(service).success) throw new UsageError(`--service "${service}": lowercase letters, digits and "-", 1-63 characters`);
    const zone = required(values.zone, '--zone');
    if (!Zone.safeParse(zone).success) throw new UsageError(`--zone "${zone}": lowercase letters, digits and "-", 1-63 characters`);
    const instanceId = values['instance-id'];
    if (instanceId && !InstanceId.safeParse(instanceId).success) throw new UsageError(`--instance-id "${instanceId}": letters, digits, "_", ":" or "-"`);
    const listenPort = parsePort(required(values.listen, '--listen'), '--listen', false);
    const upstream = required(values.upstream, '--upstream');
    if (!/^http:\/\/[^/\s]+/.test(upstream)) throw new UsageError(`--upstream must be an http:// URL, got "${upstream}"`);
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

    const proxy = new Sidecar({
      service,
      zone,
      broker,
      upstream,
      listenPort,
      listenHost: values.bind ?? '127.0.0.1',
      ...(values.advertise ? { advertiseHost: values.advertise } : {}),
      ...(instanceId ? { instanceId } : {}),
      balancer,
      weight: number(values.weight, '--weight', 0, 10_000, 100),
      version: values.version ?? '',
      timeoutMs: number(values.timeout, '--timeout', 1, 600_000, 2000),
      maxAttempts: number(values.attempts, '--attempts', 1, 10, 3),
      logger,
    });
    await proxy.start();
    process.stdout.write(`Meshdeck sidecar: ${service}/${proxy.agent.instanceId} on ${proxy.address} → ${upstream}\n`);
    await untilSignal(logger);
    await proxy.stop();
    return 0;
  } catch (err) {
    return reportFailure(err, SIDECAR_USAGE, logger);
  }
}
