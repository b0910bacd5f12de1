/** Shared pieces of the `meshdeck` commands: usage errors, option parsing, signals. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MeshdeckError, errorMessage } from '../core/lib/errors.js';
import type { Logger } from '../core/lib/log.js';
import { BALANCER_KINDS, isBalancerKind, type BalancerKind } from '../core/balancer/index.js';
import { parseBrokerUrl } from '../core/bus/broker-url.js';
import { parseTrustedKeys } from '../core/control/signing.js';
import { InstanceId, ServiceName, Zone } from '../core/protocol/messages.js';

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

/** A number option in [min, max] (whole numbers only when `integer`), or `fallback` when absent. */
export function parseNumber(raw: string | undefined, flag: string, min: number, max: number, fallback: number, integer = false): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (integer ? !Number.isInteger(n) : !Number.isFinite(n)) throw new UsageError(`${flag} must be ${integer ? 'an integer ' : ''}${min}..${max}, got "${raw}"`);
  if (n < min || n > max) throw new UsageError(`${flag} must be ${integer ? 'an integer ' : ''}${min}..${max}, got "${raw}"`);
  return n;
}

const NAME_RULES = {
  service: { schema: ServiceName, rule: 'lowercase letters, digits and "-", 1-63 characters' },
  zone: { schema: Zone, rule: 'lowercase letters, digits and "-", 1-63 characters' },
  instance: { schema: InstanceId, rule: 'letters, digits, "_", ":" or "-"' },
} as const;

/** A service, zone or instance name as the protocol accepts it (docs/protocol.md §4). */
export function meshName(kind: keyof typeof NAME_RULES, value: string, flag: string): string {
  const { schema, rule } = NAME_RULES[kind];
  if (!schema.safeParse(value).success) throw new UsageError(`${flag} "${value}": ${rule}`);
  return value;
}

/** --balancer, p2c-ewma by default. */
export function balancerOption(raw: string | undefined): BalancerKind {
  const balancer = raw ?? 'p2c-ewma';
  if (!isBalancerKind(balancer)) throw new UsageError(`--balancer must be one of ${BALANCER_KINDS.join(', ')}`);
  return balancer;
}

/** --broker, else MESHDECK_BROKER, else the local broker; checked as a broker URL. */
/** --command-key / MESHDECK_COMMAND_KEYS: comma-separated keyId:publicKey pairs (none: trust on first use). */
export function commandKeysOption(raw: string | undefined, env: NodeJS.ProcessEnv): Array<{ keyId: string; publicKey: string }> {
  const spec = raw ?? env.MESHDECK_COMMAND_KEYS ?? '';
  try {
    return parseTrustedKeys(spec);
  } catch (err) {
    throw new UsageError(`--command-key: ${(err as Error).message}`);
  }
}

export function brokerOption(raw: string | undefined, env: NodeJS.ProcessEnv): string {
  const broker = raw ?? env.MESHDECK_BROKER ?? DEFAULT_BROKER;
  parseBrokerUrl(broker, 'broker');
  return broker;
}
