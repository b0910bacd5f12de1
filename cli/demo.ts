/**
 * `meshdeck demo`: the demo mesh on the local broker, its instances, and scripted faults.
 */
import { join } from 'node:path';
import { createLogger } from '../core/lib/log.js';
import { defaultDataDir } from '../core/lib/paths.js';
import { DEFAULT_PORT } from '../core/server/host.js';
import { FAULT_KINDS, FaultError, runFault, type FaultKind } from '../demo/fault.js';
import { runInstance } from '../demo/instance.js';
import { BrokerUnreachable, currentCli, startDemo } from '../demo/run.js';
import type { DemoKind } from '../demo/topology.js';
import { DEFAULT_BROKER, UsageError, parseOptions, parsePort, reportFailure, required, untilSignal, parseNumber, brokerOption } from './common.js';

export const DEMO_USAGE = `Usage:
  meshdeck demo [--broker URL] [--rps N] [--port N] [--db FILE] [--respawn-after S] [--no-console]
  meshdeck demo fault <kind> [target] [--for S] [--ms N] [--share F] [--status N]

Start the demo mesh on the broker: a small shop of six services (gateway, web, checkout,
payments, inventory, notifications) in three zones, each instance in its own process behind a
real sidecar, a load generator, and the console. Open the URL it prints.
  --broker URL         RabbitMQ (env MESHDECK_BROKER; default ${DEFAULT_BROKER})
  --rps N              requests per second sent through the gateway (default 50)
  --port N             console port (default ${DEFAULT_PORT}; 0 picks a free one)
  --db FILE            console database (default ${join(defaultDataDir(), 'demo.db')})
  --respawn-after S    restart a killed instance after S seconds (default 15; 0 never)
  --no-console         run the mesh and the load only, without a core: sidecars get no
                       endpoints (every request 503s) until a console — 'meshdeck serve
                       --broker URL' or the desktop app — connects to the same broker

Faults (against the running demo):
  kill <instance|service>      SIGKILL one instance process
  latency <instance|service>   add --ms (default 200) to --share (default 1) of requests
  errors <instance|service>    answer --share (default 0.5) of requests with --status (default 503)
  partition <zone>             freeze every instance of a zone
  backlog [service]            pause a service's event consumers (default notifications)
  clear                        undo every fault still active
  --for S                      how long (default 60)
`;

const number = (raw: string | undefined, flag: string, min: number, max: number, fallback: number) => parseNumber(raw, flag, min, max, fallback);

export async function demo(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'instance') return instance(rest, env);
  if (sub === 'fault') return fault(rest);
  const logger = createLogger();
  try {
    const { values, positionals } = parseOptions(argv, {
      broker: { type: 'string' },
      rps: { type: 'string' },
      port: { type: 'string' },
      db: { type: 'string' },
      'respawn-after': { type: 'string' },
      'no-console': { type: 'boolean' },
    });
    if (values.help) {
      process.stdout.write(DEMO_USAGE);
      return 0;
    }
    if (positionals.length) throw new UsageError(`unknown demo command "${positionals[0]}"`);
    const broker = brokerOption(values.broker, env);
    const running = await startDemo({
      broker,
      rps: number(values.rps, '--rps', 0, 20_000, 50),
      consolePort: values['no-console'] ? null : parsePort(values.port ?? String(DEFAULT_PORT)),
      databasePath: values.db ?? join(defaultDataDir(env), 'demo.db'),
      respawnAfterMs: number(values['respawn-after'], '--respawn-after', 0, 3600, 15) * 1000,
      cli: currentCli(),
      logger,
      ...(env.MESHDECK_TOKEN ? { token: env.MESHDECK_TOKEN } : {}),
    });
    const services = new Set(running.instances.map((i) => i.service)).size;
    process.stdout.write(`Meshdeck demo: ${running.instances.length} instances of ${services} services, ${number(values.rps, '--rps', 0, 20_000, 50)} requests/s through the gateway\n`);
    if (running.consoleUrl) process.stdout.write(`Meshdeck console: ${running.consoleUrl}\n`);
    process.stdout.write('Inject a fault: meshdeck demo fault kill checkout   (meshdeck demo --help for all of them)\n');
    await untilSignal(logger);
    await running.stop();
    return 0;
  } catch (err) {
    if (err instanceof BrokerUnreachable) {
      process.stderr.write(`meshdeck: ${err.message}\n`);
      return 1;
    }
    return reportFailure(err, DEMO_USAGE, logger);
  }
}

async function instance(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const logger = createLogger();
  try {
    const { values } = parseOptions(argv, {
      service: { type: 'string' },
      kind: { type: 'string' },
      zone: { type: 'string' },
      'instance-id': { type: 'string' },
      port: { type: 'string' },
      broker: { type: 'string' },
    });
    const kind = required(values.kind, '--kind') as DemoKind;
    if (!['gateway', 'http', 'events-only'].includes(kind)) throw new UsageError(`--kind must be gateway, http or events-only`);
    const running = await runInstance({
      service: required(values.service, '--service'),
      kind,
      zone: required(values.zone, '--zone'),
      instanceId: required(values['instance-id'], '--instance-id'),
      port: parsePort(required(values.port, '--port'), '--port', false),
      broker: values.broker ?? env.MESHDECK_BROKER ?? DEFAULT_BROKER,
      logger,
    });
    await untilSignal(logger);
    await running.stop();
    return 0;
  } catch (err) {
    return reportFailure(err, DEMO_USAGE, logger);
  }
}

async function fault(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseOptions(argv, {
      for: { type: 'string' },
      ms: { type: 'string' },
      share: { type: 'string' },
      status: { type: 'string' },
    });
    if (values.help) {
      process.stdout.write(DEMO_USAGE);
      return 0;
    }
    const kind = positionals[0];
    if (!kind || !(FAULT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`fault kind must be one of ${FAULT_KINDS.join(', ')}`);
    await runFault({
      kind: kind as FaultKind,
      target: positionals[1],
      forSeconds: number(values.for, '--for', 1, 3600, 60),
      ms: number(values.ms, '--ms', 1, 60_000, 200),
      share: number(values.share, '--share', 0, 1, kind === 'errors' ? 0.5 : 1),
      status: number(values.status, '--status', 400, 599, 503),
      hold: true,
      print: (line) => process.stdout.write(`${line}\n`),
    });
    return 0;
  } catch (err) {
    if (err instanceof FaultError) {
      process.stderr.write(`meshdeck demo fault: ${err.message}\n`);
      return 1;
    }
    return reportFailure(err, DEMO_USAGE, null);
  }
}
