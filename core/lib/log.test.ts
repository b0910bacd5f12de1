import { afterEach, describe, expect, it, vi } from 'vitest';
import { MeshdeckError, StoreError } from './errors.js';
import { createLogger, silentLogger, type LoggerOptions } from './log.js';

function capture(options: Omit<LoggerOptions, 'sink'> = {}) {
  const raw: string[] = [];
  const logger = createLogger({ ...options, sink: (line) => raw.push(line) });
  const records = () => raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, raw, records };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('createLogger', () => {
  it('writes one JSON object per call with time, level and message', () => {
    const { logger, raw, records } = capture({ level: 'debug' });
    const before = Date.now();
    logger.info('hello', { queue: 'orders', depth: 3 });
    expect(raw).toHaveLength(1);
    expect(raw[0]).not.toContain('\n');
    const [record] = records();
    expect(record).toMatchObject({ level: 'info', msg: 'hello', queue: 'orders', depth: 3 });
    expect(Object.keys(record ?? {}).slice(0, 3)).toEqual(['time', 'level', 'msg']);
    const time = Date.parse(String(record?.time));
    expect(time).toBeGreaterThanOrEqual(before - 1);
    expect(time).toBeLessThanOrEqual(Date.now());
    expect(record).not.toHaveProperty('component');
  });

  it('respects the level threshold', () => {
    const { logger, records } = capture({ level: 'warn' });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => [r.level, r.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  it('writes everything at debug', () => {
    const { logger, records } = capture({ level: 'debug' });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => r.level)).toEqual(['debug', 'info', 'warn', 'error']);
  });

  it('defaults to info, or to MESHDECK_LOG_LEVEL, and ignores an unknown level name', () => {
    vi.stubEnv('MESHDECK_LOG_LEVEL', '');
    const plain = capture();
    plain.logger.debug('hidden');
    plain.logger.info('shown');
    expect(plain.records().map((r) => r.msg)).toEqual(['shown']);

    vi.stubEnv('MESHDECK_LOG_LEVEL', 'error');
    const fromEnv = capture();
    fromEnv.logger.warn('hidden');
    fromEnv.logger.error('shown');
    expect(fromEnv.records().map((r) => r.msg)).toEqual(['shown']);

    vi.stubEnv('MESHDECK_LOG_LEVEL', 'verbose');
    const unknown = capture();
    unknown.logger.debug('hidden');
    unknown.logger.info('shown');
    expect(unknown.records().map((r) => r.msg)).toEqual(['shown']);

    // An explicit level wins over the environment.
    vi.stubEnv('MESHDECK_LOG_LEVEL', 'error');
    const explicit = capture({ level: 'debug' });
    explicit.logger.debug('shown');
    expect(explicit.records().map((r) => r.msg)).toEqual(['shown']);
  });

  it('names child components with dots, starting from the root component if any', () => {
    const { logger, records } = capture({ component: 'core' });
    logger.info('root');
    logger.child('bus').info('bus');
    logger.child('bus').child('profile-1').info('leaf');
    const bare = capture();
    bare.logger.child('api').info('x');
    expect(records().map((r) => r.component)).toEqual(['core', 'core.bus', 'core.bus.profile-1']);
    expect(bare.records()[0]?.component).toBe('api');
  });

  it('children share the threshold and sink of their parent', () => {
    const { logger, records } = capture({ level: 'warn' });
    const child = logger.child('store');
    child.info('hidden');
    child.warn('shown');
    expect(records()).toEqual([expect.objectContaining({ component: 'store', msg: 'shown' })]);
  });

  it('serialises errors with name, message, code, context and cause chain', () => {
    const { logger, records } = capture();
    const root = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
    const err = new StoreError('Cannot write', { path: '/data/meshdeck.db' }, root);
    logger.error('write failed', { err });
    expect(records()[0]?.err).toEqual({
      name: 'StoreError',
      message: 'Cannot write',
      code: 'STORE_ERROR',
      context: { path: '/data/meshdeck.db' },
      cause: { name: 'Error', message: 'disk full', code: 'ENOSPC' },
    });
  });

  it('serialises a plain error without inventing fields, and a non-error cause as is', () => {
    const { logger, records } = capture();
    logger.error('x', { err: new TypeError('bad'), wrapped: new Error('outer', { cause: 'just text' }) });
    const [record] = records();
    expect(record?.err).toEqual({ name: 'TypeError', message: 'bad' });
    expect(record?.wrapped).toEqual({ name: 'Error', message: 'outer', cause: 'just text' });
  });

  it('redacts secrets in fields, messages, error messages and error context', () => {
    const { logger, raw, records } = capture();
    const err = new MeshdeckError('BROKER_ERROR', 'cannot reach amqp://bob:hunter2@h:5672', {
      context: { password: 'hunter2', url: 'amqp://bob:hunter2@h' },
    });
    logger.warn('connecting to amqp://bob:hunter2@h with Bearer tok123', {
      password: 'hunter2',
      nested: { token: 'tok123', host: 'h' },
      err,
    });
    expect(raw.join('\n')).not.toContain('hunter2');
    expect(raw.join('\n')).not.toContain('tok123');
    const [record] = records();
    expect(record?.msg).toBe('connecting to amqp://bob:***@h with Bearer ***');
    expect(record?.password).toBe('***');
    expect(record?.nested).toEqual({ token: '***', host: 'h' });
    expect(record?.err).toMatchObject({
      message: 'cannot reach amqp://bob:***@h:5672',
      context: { password: '***', url: 'amqp://bob:***@h' },
    });
  });

  it('writes to stderr when no sink is given', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      createLogger({ level: 'info' }).info('to stderr');
      expect(write).toHaveBeenCalledTimes(1);
      const line = String(write.mock.calls[0]?.[0]);
      expect(line.endsWith('\n')).toBe(true);
      expect(JSON.parse(line)).toMatchObject({ level: 'info', msg: 'to stderr' });
    } finally {
      write.mockRestore();
    }
  });
});

describe('silentLogger', () => {
  it('writes nothing at any level', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      silentLogger.error('nothing');
      silentLogger.child('x').error('nothing');
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
    }
  });
});
