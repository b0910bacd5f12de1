/**
 * Structured logging: one JSON object per line on stderr (or a sink of the caller's choice),
 * with secrets redacted before anything is written.
 */
import { redact } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogSink = (line: string) => void;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  component?: string;
}

function serialiseError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  const withCode = err as Error & { code?: unknown; context?: unknown };
  if (withCode.code !== undefined) out.code = withCode.code;
  if (withCode.context !== undefined) out.context = withCode.context;
  if (err.cause !== undefined) out.cause = serialiseError(err.cause);
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LEVELS[options.level ?? (process.env.MESHDECK_LOG_LEVEL as LogLevel | undefined) ?? 'info'] ?? 20;
  const sink: LogSink = options.sink ?? ((line) => process.stderr.write(line + '\n'));

  const make = (component: string | undefined): Logger => {
    const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
      if (LEVELS[level] < threshold) return;
      const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
      if (component) record.component = component;
      if (fields) {
        for (const [key, value] of Object.entries(fields)) record[key] = serialiseError(value);
      }
      sink(JSON.stringify(redact(record)));
    };
    return {
      debug: (m, f) => write('debug', m, f),
      info: (m, f) => write('info', m, f),
      warn: (m, f) => write('warn', m, f),
      error: (m, f) => write('error', m, f),
      child: (name) => make(component ? `${component}.${name}` : name),
    };
  };
  return make(options.component);
}

/** A logger that drops everything; for tests that assert on behaviour, not on logs. */
export const silentLogger: Logger = createLogger({ sink: () => undefined, level: 'error' });
