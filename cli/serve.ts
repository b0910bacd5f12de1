/**
 * `meshdeck serve`: the headless console — the mesh control core plus the web UI and the API.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMeshCore } from '../core/app.js';
import { parseBrokerUrl } from '../core/bus/broker-url.js';
import { MeshdeckError } from '../core/lib/errors.js';
import { HEAP_GROWING_PERCENT, HOST_NODE_FLAGS, semiSpaceCap, tuneHeap } from '../core/lib/heap.js';
import { createLogger } from '../core/lib/log.js';
import { defaultDataDir } from '../core/lib/paths.js';
import { headlessSecretStore } from '../core/secrets/secret-store.js';
import { DEFAULT_PORT, startHost } from '../core/server/host.js';
import { generateToken } from '../core/server/security.js';
import { DEFAULT_BROKER, UsageError, parseOptions, parsePort, reportFailure, untilSignal } from './common.js';

/** The telemetry history's worker thread (core/telemetry/history-worker.ts), as built. */
const HISTORY_WORKER = fileURLToPath(new URL('./history-worker.js', import.meta.url));

export const SERVE_USAGE = `Usage: meshdeck serve [--broker URL] [--db FILE] [--port N] [--host H]

Start the headless console: the mesh control core plus the web UI and API.
  --broker URL  RabbitMQ to connect to at start (env MESHDECK_BROKER; default ${DEFAULT_BROKER}).
                Use --broker none to start without one.
  --management URL  its management HTTP API, for the Broker view and the queue incident rules
                (env MESHDECK_MANAGEMENT_URL; default http://<broker host>:15672 for a broker on
                this machine, none for another machine)
  --db FILE     SQLite database (env MESHDECK_DB; default ${join(defaultDataDir(), 'meshdeck.db')})
  --port N      HTTP port (env MESHDECK_PORT; default ${DEFAULT_PORT}; 0 picks a free one)
  --host H      Address to bind (env MESHDECK_HOST; default 127.0.0.1). Anything else is reachable
                from other machines: the token then guards the whole mesh.

Environment:
  MESHDECK_TOKEN       API token to use instead of a random one (at least 16 characters)
  MESHDECK_SECRET_KEY  passphrase (12+ characters) that encrypts saved broker passwords and the
                       command signing key; without it both are kept in memory for this session
                       only (a restart makes a new signing key, which running agents refuse)
  MESHDECK_LOG_LEVEL   debug | info | warn | error (logs are JSON lines on stderr)
`;

export async function serve(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values;
  try {
    ({ values } = parseOptions(argv, {
      broker: { type: 'string' },
      management: { type: 'string' },
      db: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
    }));
  } catch (err) {
    return reportFailure(err, SERVE_USAGE, null);
  }
  if (values.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  // Heaps sized for memory before the core allocates anything (core/lib/heap.ts).
  tuneHeap();
  const logger = createLogger();
  // semiSpaceMb null: started without HOST_NODE_FLAGS, the young generation at V8's default; the hint says how to give them.
  const semiSpaceMb = semiSpaceCap();
  logger.info('heap sizing', {
    growingPercent: HEAP_GROWING_PERCENT,
    semiSpaceMb,
    ...(semiSpaceMb === null ? { hint: `the young generation is at V8's default: start with NODE_OPTIONS="${HOST_NODE_FLAGS.join(' ')}" for ~25–50 MB less resident memory` } : {}),
  });
  try {
    const broker = values.broker ?? env.MESHDECK_BROKER ?? DEFAULT_BROKER;
    if (broker !== 'none') parseBrokerUrl(broker, 'broker');
    const management = values.management ?? env.MESHDECK_MANAGEMENT_URL;
    if (management !== undefined && broker === 'none') throw new UsageError('--management needs a --broker');
    const port = parsePort(values.port ?? env.MESHDECK_PORT ?? String(DEFAULT_PORT));
    const host = values.host ?? env.MESHDECK_HOST ?? '127.0.0.1';
    const databasePath = values.db ?? env.MESHDECK_DB ?? join(defaultDataDir(env), 'meshdeck.db');
    const token = env.MESHDECK_TOKEN ?? generateToken();
    if (token.length < 16) throw new UsageError('MESHDECK_TOKEN must be at least 16 characters');

    const core = createMeshCore({
      databasePath,
      secrets: headlessSecretStore(env),
      logger,
      host: 'headless',
      // Built next to this bundle (cli/vite.config.ts); run from source, the history is written inline.
      ...(existsSync(HISTORY_WORKER) ? { historyWorker: HISTORY_WORKER } : {}),
      ...(broker === 'none' ? {} : { commandLineBroker: broker }),
      ...(management ? { commandLineManagementUrl: management } : {}),
    });
    const staticDir = fileURLToPath(new URL('../renderer/', import.meta.url));
    let running;
    try {
      running = await startHost({ router: core.router, token, logger, staticDir, host, port, metrics: () => core.metrics() });
    } catch (err) {
      await core.close();
      const code = (err as { code?: string }).code;
      if (code === 'EADDRINUSE') throw new MeshdeckError('CONFLICT', `Port ${port} on ${host} is already in use; pick another with --port`);
      throw err;
    }
    process.stdout.write(`Meshdeck console: ${running.consoleUrl}\n`);

    await untilSignal(logger);
    await running.close();
    await core.close();
    return 0;
  } catch (err) {
    return reportFailure(err, SERVE_USAGE, logger);
  }
}
