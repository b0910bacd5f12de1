/**
 * `meshdeck sidecar`: run the data-plane proxy in front of one service instance.
 */
import { Sidecar } from '../agent/sidecar/sidecar.js';
import { BALANCER_KINDS } from '../core/balancer/index.js';
import { createLogger } from '../core/lib/log.js';
import { DEFAULT_BROKER, UsageError, parseOptions, parsePort, reportFailure, required, untilSignal, parseNumber, meshName, balancerOption, brokerOption, commandKeysOption } from './common.js';

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
  --command-key K    trusted command keys keyId:publicKey, comma-separated (env MESHDECK_COMMAND_KEYS;
                     default: pin the first key seen)
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
      'command-key': { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(SIDECAR_USAGE);
      return 0;
    }
    const service = meshName('service', required(values.service, '--service'), '--service');
    const zone = meshName('zone', required(values.zone, '--zone'), '--zone');
    const instanceId = values['instance-id'] && meshName('instance', values['instance-id'], '--instance-id');
    const listenPort = parsePort(required(values.listen, '--listen'), '--listen', false);
    const upstream = required(values.upstream, '--upstream');
    if (!/^http:\/\/[^/\s]+/.test(upstream)) throw new UsageError(`--upstream must be an http:// URL, got "${upstream}"`);
    const broker = brokerOption(values.broker, env);
    const balancer = balancerOption(values.balancer);
    const number = (raw: string | undefined, flag: string, min: number, max: number, fallback: number) => parseNumber(raw, flag, min, max, fallback, true);

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
      commandKeys: commandKeysOption(values['command-key'], env),
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
