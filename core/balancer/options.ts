/** Validation of balancer options: every problem becomes a FieldIssue of one ValidationError. */
import { ValidationError, type FieldIssue } from '../lib/errors.js';
import type { PeakEwmaOptions } from './peak-ewma.js';
import type { RingHashOptions } from './ring-hash.js';
import { BALANCER_KINDS, type BalancerKind, type BalancerOptions, type RandomSource } from './types.js';

export const MAX_TABLE_SIZE = 1 << 24;

export const DEFAULTS = {
  activeRequestBias: 1,
  decayMs: 10_000,
  defaultRttMs: 30,
  failurePenaltyMs: 1_000,
  vnodesPerEndpoint: 160,
  minRingSize: 1024,
  maxRingSize: 1 << 20,
  tableSize: 65_537,
  overprovisioningFactor: 1.4,
  panicThreshold: 0.5,
} as const;

export function isBalancerKind(kind: unknown): kind is BalancerKind {
  return typeof kind === 'string' && (BALANCER_KINDS as readonly string[]).includes(kind);
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

interface Range {
  min?: number;
  /** min is exclusive */
  above?: number;
  max?: number;
  integer?: boolean;
}

/** Reads an optional numeric option, recording an issue when it is present but out of range. */
export function numberOption(issues: FieldIssue[], options: object, key: string, fallback: number, range: Range): number {
  const value: unknown = (options as Record<string, unknown>)[key];
  if (value === undefined) return fallback;
  const bounds = [
    range.above !== undefined ? `> ${range.above}` : null,
    range.min !== undefined ? `>= ${range.min}` : null,
    range.max !== undefined ? `<= ${range.max}` : null,
  ].filter((b) => b !== null);
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!range.integer || Number.isInteger(value)) &&
    (range.above === undefined || value > range.above) &&
    (range.min === undefined || value >= range.min) &&
    (range.max === undefined || value <= range.max);
  if (!ok) {
    issues.push({ path: key, message: `must be a finite ${range.integer ? 'integer' : 'number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}` });
    return fallback;
  }
  return value as number;
}

export function randomOption(issues: FieldIssue[], options: object): RandomSource {
  const random: unknown = (options as Record<string, unknown>).random;
  if (random === undefined) return Math.random;
  if (typeof random !== 'function') {
    issues.push({ path: 'random', message: 'must be a function returning a number in [0, 1)' });
    return Math.random;
  }
  return random as RandomSource;
}

export function optionsObject(issues: FieldIssue[], options: unknown): object {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    issues.push({ path: '', message: 'options must be an object' });
    return {};
  }
  return options;
}

export interface ResolvedOptions {
  kind: BalancerKind;
  random: RandomSource;
  activeRequestBias: number;
  peakEwma: PeakEwmaOptions;
  ring: RingHashOptions;
  tableSize: number;
}

/** Validates createBalancer's arguments; throws one ValidationError listing every problem. */
export function resolveOptions(kind: unknown, input: BalancerOptions | undefined): ResolvedOptions {
  const issues: FieldIssue[] = [];
  if (!isBalancerKind(kind)) issues.push({ path: 'kind', message: `must be one of ${BALANCER_KINDS.join(', ')}` });
  const options = optionsObject(issues, input);
  const random = randomOption(issues, options);
  const activeRequestBias = numberOption(issues, options, 'activeRequestBias', DEFAULTS.activeRequestBias, { min: 0 });
  const decayMs = numberOption(issues, options, 'decayMs', DEFAULTS.decayMs, { above: 0 });
  const defaultRttMs = numberOption(issues, options, 'defaultRttMs', DEFAULTS.defaultRttMs, { min: 0 });
  const failurePenaltyMs = numberOption(issues, options, 'failurePenaltyMs', DEFAULTS.failurePenaltyMs, { min: 0 });
  const vnodesPerEndpoint = numberOption(issues, options, 'vnodesPerEndpoint', DEFAULTS.vnodesPerEndpoint, { integer: true, min: 1, max: 1 << 16 });
  const minRingSize = numberOption(issues, options, 'minRingSize', DEFAULTS.minRingSize, { integer: true, min: 1, max: MAX_TABLE_SIZE });
  const maxRingSize = numberOption(issues, options, 'maxRingSize', Math.max(DEFAULTS.maxRingSize, minRingSize), {
    integer: true,
    min: minRingSize,
    max: MAX_TABLE_SIZE,
  });
  const tableSize = numberOption(issues, options, 'tableSize', DEFAULTS.tableSize, { integer: true, min: 3, max: MAX_TABLE_SIZE });
  if (Number.isInteger(tableSize) && !isPrime(tableSize)) issues.push({ path: 'tableSize', message: 'must be a prime number' });
  if (issues.length > 0) throw new ValidationError('Invalid balancer options', issues, { kind: typeof kind === 'string' ? kind : null });
  return {
    kind: kind as BalancerKind,
    random,
    activeRequestBias,
    peakEwma: { decayMs, defaultRttMs, failurePenaltyMs },
    ring: { vnodesPerEndpoint, minRingSize, maxRingSize },
    tableSize,
  };
}
