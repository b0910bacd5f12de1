/** Shared pieces of the `meshdeck` commands: usage errors, option parsing, signals. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MeshdeckError, errorMessage } from '../core/lib/errors.js';
import type { Logger } from '../core/lib/log.js';

export const DEFAULT_BROKER = 'amqp://guest:guest@127.0.0.1:5672';

export class UsageError extends Error {}

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

export function parsePort(raw: string, flag = '--port', allowZero = true): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new UsageError(`${flag} must be ${allowZero ? 0 : 1}..65535, got "${raw}"`);
  }
  return port;
}

export function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

/** Resolves on SIGINT or SIGTERM. */
export function untilSignal(logger: Logger): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      logger.info('shutting down', { signal });
      resolve(signal);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/** Exit code and message for an error that ended a command. */
export function reportFailure(err: unknown, usage: string, logger: Logger | null): number {
  if (err instanceof UsageError) {
    process.stderr.write(`meshdeck: ${err.message}\n\n${usage}`);
    return 2;
  }
  process.stderr.write(`meshdeck: ${errorMessage(err)}\n`);
  if (!(err instanceof MeshdeckError) || err.code === 'INTERNAL') logger?.error('command failed', { err });
  return 1;
}
