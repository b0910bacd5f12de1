/**
 * `meshdeck demo`: the whole demo on the local broker — every instance in its own process
 * (service + sidecar), the load generator, and the console — so one URL shows a living mesh.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMeshCore, type MeshCore } from '../core/app.js';
import { connectOptionsFromUrl, redactUrl } from '../core/bus/broker-url.js';
import { probeConnection } from '../core/bus/connection.js';
import type { Logger } from '../core/lib/log.js';
import { headlessSecretStore } from '../core/secrets/secret-store.js';
import { startHost, type RunningHost } from '../core/server/host.js';
import { generateToken } from '../core/server/security.js';
import { LoadGenerator } from './loadgen.js';
import { removeDemoState, writeDemoState, type DemoInstanceState } from './state.js';
import { DEMO_SERVICES, instanceId } from './topology.js';
import { freePorts } from './ports.js';

export interface DemoOptions {
  broker: string;
  rps: number;
  /** Console port (0: any free one); null to run without the console. */
  consolePort: number | null;
  databasePath: string;
  /** Restart a killed instance after this long (ms); 0 never. */
  respawnAfterMs: number;
  /** The command that runs `meshdeck` (node + script), to start instance processes. */
  cli: string[];
  logger: Logger;
  token?: string;
}

export const START_A_BROKER = `Start one on this machine:
  Debian/Ubuntu:  sudo apt install rabbitmq-server && sudo rabbitmq-server -detached
  macOS:          brew install rabbitmq && brew services start rabbitmq
  Docker:         docker run -d --name rabbitmq -p 5672:5672 -p 15672:15672 rabbitmq:3-management
or point the demo at another broker with --broker amqp://user:password@host:5672`;

export class BrokerUnreachable extends Error {}

export interface RunningDemo {
  consoleUrl: string | null;
  core: MeshCore | null;
  load: LoadGenerator;
  instances: DemoInstanceState[];
  stop(): Promise<void>;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const { logger } = options;
  const probe = await probeConnection(connectOptionsFromUrl(options.broker, 'meshdeck-demo (check)'), 5000);
  if (!probe.ok) {
    throw new BrokerUnreachable(`No RabbitMQ broker answers at ${redactUrl(options.broker)}: ${probe.error}\n${START_A_BROKER}`);
  }

  let core: MeshCore | null = null;
  let host: RunningHost | null = null;
  if (options.consolePort !== null) {
    core = createMeshCore({ databasePath: options.databasePath, secrets: headlessSecretStore(), logger, host: 'headless', commandLineBroker: options.broker });
    const staticDir = fileURLToPath(new URL('../renderer/', import.meta.url));
    const running = core;
    host = await startHost({ router: core.router, token: options.token ?? generateToken(), logger, staticDir, port: options.consolePort, metrics: () => running.metrics() });
  }

  const plan = DEMO_SERVICES.flatMap((s) => s.zones.map((zone) => ({ service: s.service, kind: s.kind, zone, instanceId: instanceId(s.service, zone) })));
  const ports = await freePorts(plan.length);
  const instances: DemoInstanceState[] = plan.map((p, i) => ({ ...p, port: ports[i]!, pid: null }));
  const children = new Map<string, ChildProcess>();
  let stopping = false;

  const saveState = () =>
    writeDemoState({ pid: process.pid, broker: options.broker, consoleUrl: host?.consoleUrl ?? null, instances, load: load.snapshot(), updatedAt: Date.now() });

  const launch = (instance: DemoInstanceState) => {
    const child = spawn(
      options.cli[0]!,
      [
        ...options.cli.slice(1),
        'demo',
        'instance',
        '--service', instance.service,
        '--kind', instance.kind,
        '--zone', instance.zone,
        '--instance-id', instance.instanceId,
        '--port', String(instance.port),
        '--broker', options.broker,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHDECK_LOG_LEVEL: process.env.MESHDECK_LOG_LEVEL ?? 'warn' } },
    );
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    instance.pid = child.pid ?? null;
    children.set(instance.instanceId, child);
    child.on('exit', (code, signal) => {
      instance.pid = null;
      if (stopping) return;
      logger.warn('demo instance exited', { instanceId: instance.instanceId, code, signal, respawnInMs: options.respawnAfterMs || null });
      saveState();
      if (options.respawnAfterMs > 0) {
        setTimeout(() => {
          if (!stopping) {
            launch(instance);
            saveState();
          }
        }, options.respawnAfterMs).unref();
      }
    });
  };

  const gatewayPorts = () => instances.filter((i) => i.kind === 'gateway' && i.pid !== null).map((i) => i.port);
  const load = new LoadGenerator(gatewayPorts, options.rps);
  for (const instance of instances) launch(instance);
  saveState();
  await untilGatewaysServe(gatewayPorts(), 30_000, logger, core === null);
  load.start();
  const stateTimer = setInterval(saveState, 1000);
  stateTimer.unref();

  return {
    consoleUrl: host?.consoleUrl ?? null,
    core,
    load,
    instances,
    async stop() {
      stopping = true;
      clearInterval(stateTimer);
      load.stop();
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const force = setTimeout(() => child.kill('SIGKILL'), 5000);
              child.once('exit', () => {
                clearTimeout(force);
                resolve();
              });
              child.kill('SIGCONT');
              child.kill('SIGTERM');
            }),
        ),
      );
      removeDemoState();
      await host?.close();
      await core?.close();
    },
  };
}

/** Waits until every gateway routes a request end to end (so the load starts on a ready mesh). */
async function untilGatewaysServe(ports: number[], timeoutMs: number, logger: Logger, withoutCore: boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ready = new Set<number>();
  while (ready.size < ports.length && Date.now() < deadline) {
    for (const port of ports) {
      if (ready.has(port)) continue;
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/inventory`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.ok) ready.add(port);
      } catch {
        // not listening yet
      }
    }
    if (ready.size < ports.length) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (ready.size < ports.length) {
    logger.warn('starting the load before every gateway answers', {
      ready: ready.size,
      gateways: ports.length,
      ...(withoutCore ? { hint: 'no core runs with --no-console: sidecars get endpoints once a console (meshdeck serve, or the desktop app) connects to this broker' } : {}),
    });
  }
}

/** `node <script>` of the running CLI, so instances run the same build. */
export function currentCli(): string[] {
  const script = process.argv[1] ?? join(process.cwd(), 'bin/meshdeck.js');
  return [process.execPath, script];
}
