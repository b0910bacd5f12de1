/**
 * `meshdeck` command line. Today: `serve`, the headless console.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createMeshCore } from '../app.js';
import { parseBrokerUrl } from '../bus/broker-url.js';
import { MeshdeckError, errorMessage } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { defaultDataDir } from '../lib/paths.js';
import { headlessSecretStore } from '../secrets/secret-store.js';
import { DEFAULT_PORT, startHost } from '../server/host.js';
import { generateToken } from '../server/security.js';
import { MESHDECK_VERSION } from '../version.js';

export const DEFAULT_BROKER = 'amqp://guest:guest@127.0.0.1:5672';

const USAGE = `Meshdeck ${MESHDECK_VERSION} — console for event-driven service meshes

Usage:
  meshdeck serve [--broker URL] [--db FILE] [--port N] [--host H]
  meshdeck --version | --help

serve   Start the headless console: the mesh control core plus the web UI and API.
  --broker URL  RabbitMQ to connect to at start (env MESHDECK_BROKER; default ${DEFAULT_BROKER}).
                Use --broker none to start without one.
  --db FILE     SQLite database (env MESHDECK_DB; default ${join(defaultDataDir(), 'meshdeck.db')})
  --port N      HTTP port (env MESHDECK_PORT; default ${DEFAULT_PORT}; 0 picks a free one)
  --host H      Address to bind (env MESHDECK_HOST; default 127.0.0.1). Anything else is reachable
                from other machines: the token then guards the whole mesh.

Environment:
  MESHDECK_TOKEN       API token to use instead of a random one (at least 16 characters)
  MESHDECK_SECRET_KEY  passphrase (12+ characters) that encrypts saved broker passwords; without it
                       passwords are kept in memory for this session only
  MESHDECK_LOG_LEVEL   debug | info | warn | error (logs are JSON lines on stderr)
`;

class UsageError extends Error {}

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got "${raw}"`);
  return port;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        broker: { type: 'string' },
        db: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    process.stderr.write(`meshdeck: ${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${MESHDECK_VERSION}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (command !== 'serve') {
    process.stderr.write(`meshdeck: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }

  const logger = createLogger();
  try {
    const broker = values.broker ?? env.MESHDECK_BROKER ?? DEFAULT_BROKER;
    if (broker !== 'none') parseBrokerUrl(broker, 'broker');
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
      ...(broker === 'none' ? {} : { commandLineBroker: broker }),
    });
    const staticDir = fileURLToPath(new URL('../renderer/', import.meta.url));
    let running;
    try {
      running = await startHost({ router: core.router, token, logger, staticDir, host, port });
    } catch (err) {
      await core.close();
      const code = (err as { code?: string }).code;
      if (code === 'EADDRINUSE') throw new UsageError(`Port ${port} on ${host} is already in use; pick another with --port`);
      throw err;
    }
    process.stdout.write(`Meshdeck console: ${running.consoleUrl}\n`);

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info('shutting down', { signal });
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    await running.close();
    await core.close();
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`meshdeck: ${err.message}\n`);
      return 2;
    }
    if (err instanceof MeshdeckError) {
      process.stderr.write(`meshdeck: ${err.message}\n`);
      logger.error('startup failed', { err });
      return 1;
    }
    logger.error('startup failed', { err });
    process.stderr.write(`meshdeck: ${errorMessage(err)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isEntry) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
