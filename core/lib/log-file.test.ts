import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import { rotatingFileSink, teeSink } from './log-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-log-file-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = (file: string) => readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean);

describe('rotatingFileSink', () => {
  it('appends the logger’s JSON lines, redacted, to meshdeck.log in the directory (created if missing)', () => {
    const logs = join(dir, 'logs');
    const { sink, path } = rotatingFileSink({ dir: logs });
    expect(path).toBe(join(logs, 'meshdeck.log'));
    const logger = createLogger({ sink, component: 'desktop' });
    logger.info('connected', { url: 'amqp://monitor:hunter2@rabbit:5672/', password: 'hunter2' });
    logger.error('failed', { err: new Error('boom') });
    const records = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.msg)).toEqual(['connected', 'failed']);
    expect(records[0]!.component).toBe('desktop');
    expect(JSON.stringify(records)).not.toContain('hunter2');
    expect(records[1]!.err).toEqual({ name: 'Error', message: 'boom' });
  });

  it('rotates by size and keeps N older files, newest first', () => {
    const { sink } = rotatingFileSink({ dir, maxBytes: 100, keep: 2 });
    const line = (n: number) => JSON.stringify({ n, pad: 'x'.repeat(30) }); // 49 bytes with the newline
    for (let n = 1; n <= 9; n++) sink(line(n));
    // Two lines per file: 1-2, 3-4, 5-6, 7-8 rotated out in turn, 9 current.
    expect(readdirSync(dir).sort()).toEqual(['meshdeck.log', 'meshdeck.log.1', 'meshdeck.log.2']);
    expect(lines('meshdeck.log').map((l) => (JSON.parse(l) as { n: number }).n)).toEqual([9]);
    expect(lines('meshdeck.log.1').map((l) => (JSON.parse(l) as { n: number }).n)).toEqual([7, 8]);
    expect(lines('meshdeck.log.2').map((l) => (JSON.parse(l) as { n: number }).n)).toEqual([5, 6]);
  });

  it('continues an existing file and counts its size', () => {
    writeFileSync(join(dir, 'meshdeck.log'), 'x'.repeat(95) + '\n');
    const { sink } = rotatingFileSink({ dir, maxBytes: 100, keep: 1 });
    sink('{"a":1}');
    expect(lines('meshdeck.log')).toEqual(['{"a":1}']);
    expect(lines('meshdeck.log.1')).toEqual(['x'.repeat(95)]);
  });

  it('never loses a line: a file that cannot be written sends it to the fallback', () => {
    const fallback: string[] = [];
    const { sink } = rotatingFileSink({ dir, fallback: (l) => fallback.push(l) });
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'a file where the directory was');
    sink('{"msg":"kept"}');
    expect(fallback[0]).toBe('{"msg":"kept"}');
    expect(JSON.parse(fallback[1]!)).toMatchObject({ level: 'error', msg: 'log file not writable' });
    rmSync(dir, { force: true });
  });

  it('tees to several sinks', () => {
    const a: string[] = [];
    const b: string[] = [];
    teeSink((l) => a.push(l), (l) => b.push(l))('x');
    expect([a, b]).toEqual([['x'], ['x']]);
  });
});
