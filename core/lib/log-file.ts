/**
 * A log sink that appends JSON lines (as createLogger writes them, already redacted) to a file,
 * rotated by size: when the next line would take `meshdeck.log` past `maxBytes`, it becomes
 * `meshdeck.log.1`, the older ones move up by one and the one past `keep` is deleted. Writes are
 * synchronous appends, so a crash loses nothing that was logged before it.
 */
import { appendFileSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LogSink } from './log.js';

export interface RotatingFileOptions {
  dir: string;
  /** File name of the current log (default meshdeck.log). */
  name?: string;
  /** Size at which the file is rotated (default 5 MiB). */
  maxBytes?: number;
  /** Rotated files kept besides the current one (default 4). */
  keep?: number;
  /** Where a line goes if the file cannot be written (default stderr). */
  fallback?: LogSink;
}

export interface RotatingFileSink {
  sink: LogSink;
  /** The current log file. */
  path: string;
}

export function rotatingFileSink(options: RotatingFileOptions): RotatingFileSink {
  const name = options.name ?? 'meshdeck.log';
  const maxBytes = options.maxBytes ?? 5 * 1024 * 1024;
  const keep = options.keep ?? 4;
  const fallback: LogSink = options.fallback ?? ((line) => process.stderr.write(line + '\n'));
  const path = join(options.dir, name);
  mkdirSync(options.dir, { recursive: true });
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    size = 0;
  }
  const rotate = () => {
    rmSync(`${path}.${keep}`, { force: true });
    for (let n = keep - 1; n >= 1; n--) {
      try {
        renameSync(`${path}.${n}`, `${path}.${n + 1}`);
      } catch {
        // that generation does not exist (yet)
      }
    }
    if (keep > 0) renameSync(path, `${path}.1`);
    else rmSync(path, { force: true });
    size = 0;
  };
  const sink: LogSink = (line) => {
    const bytes = Buffer.byteLength(line) + 1;
    try {
      if (size > 0 && size + bytes > maxBytes) rotate();
      appendFileSync(path, line + '\n');
      size += bytes;
    } catch (err) {
      fallback(line);
      fallback(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'log file not writable', path, err: String(err) }));
    }
  };
  return { sink, path };
}

/** A sink writing to every one of `sinks`. */
export function teeSink(...sinks: LogSink[]): LogSink {
  return (line) => {
    for (const sink of sinks) sink(line);
  };
}
