/**
 * One supervised broker connection. rabbitmq-client does the AMQP work; this class owns the
 * reconnect loop so that every attempt is counted and shown, refusals that retrying cannot fix
 * (credentials, vhost, TLS) stop the loop with the broker's own words, and consumers and
 * publishers are set up again on each new connection through session handlers.
 */
import { EventEmitter } from 'node:events';
import { Connection } from 'rabbitmq-client';
import type { ConnectionState, ConnectionStatus } from '../api/contract.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { settleWithin } from '../lib/settle.js';
import type { ConnectOptions } from './profiles.js';
import { CERT_VERIFY_CODES, connectWarning, explainTlsError } from './tls.js';

export interface BackoffPolicy {
  /** First retry delay. */
  baseMs: number;
  /** Upper bound for the delay. */
  maxMs: number;
  /** Fraction of random spread (0.2 = ±20 %), so many consoles do not retry in lockstep. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000, jitter: 0.2 };

export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const spread = exp * policy.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(policy.maxMs, exp + spread)));
}

const FATAL_CODES = new Set([
  'ACCESS_REFUSED',
  'NOT_ALLOWED',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'INVALID_INPUT',
  'SECRETS_UNAVAILABLE',
]);

/** Refusals that the same settings will meet again: stop and ask the operator. */
export function isFatalConnectError(code: string | null): boolean {
  if (!code) return false;
  return FATAL_CODES.has(code) || CERT_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_OSSL_');
}

/** The broker's or the socket's own words, without the client library's "undefined: " prefix. */
export function brokerErrorText(err: unknown): string {
  return errorMessage(err).replace(/^undefined:\s*/, '');
}

export function errorCodeOf(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

/**
 * What a session handler can tell its connection. A session whose asynchronous setup fails (for
 * example a `queue.declare` refused with "home node … is down" while a restarted broker is still
 * starting its queues) calls `failed`: the connection then runs the session's cleanup and starts
 * the handler again on the same connection after a back-off, for as long as that connection
 * lasts. Without it a session that failed to set up would stay broken until the next reconnection,
 * which never comes while the connection itself is fine.
 */
export interface SessionContext {
  failed(err: unknown): void;
  /** 1 for a session's first run on a connection, then 2, 3 … for its retries. */
  readonly run: number;
  /**
   * What this connection was opened with (contains the password: never log it), for a session
   * that opens a connection of its own to the same broker (core/bus/stream-reader.ts).
   */
  readonly connectOptions: ConnectOptions;
}

/** Runs on each (re)established connection; returns a cleanup for when it goes away. */
export type SessionHandler = (connection: Connection, session: SessionContext) => (() => void | Promise<void>) | void;

/** One run of a session handler on one connection. */
interface SessionRun {
  cleanup: (() => void | Promise<void>) | null;
  /** Set once the run failed or its connection went away: its cleanup runs (or ran) then. */
  over: boolean;
}

export interface BrokerConnectionOptions {
  profileId: string;
  resolveOptions: () => ConnectOptions;
  logger: Logger;
  backoff?: BackoffPolicy;
  /** Max wait for one attempt (TCP + AMQP handshake). */
  connectTimeoutMs?: number;
  /** Max wait of a new connection's sessions for the previous connection's session cleanups (SESSION_CLEANUP_WAIT_MS). */
  sessionCleanupWaitMs?: number;
}

/** How long a new connection's sessions wait for the previous connection's session cleanups, at most (ms). */
export const SESSION_CLEANUP_WAIT_MS = 15_000;

export class BrokerConnection extends EventEmitter<{ state: [ConnectionState] }> {
  private connection: Connection | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly sessionHandlers = new Set<SessionHandler>();
  /** The options each connection was opened with (sessions get them). */
  private readonly optionsOf = new WeakMap<Connection, ConnectOptions>();
  private runs = new Set<SessionRun>();
  /**
   * The cleanups of the sessions of connections let go of, in order: a new connection's sessions
   * start after them, so a slow cleanup (a core flushing history) never undoes a newer session's setup.
   */
  private cleaning: Promise<void> = Promise.resolve();
  /** Teardowns whose session cleanups have not finished. */
  private cleaningCount = 0;
  /** The connection whose sessions have started (null until they do: they may wait for cleanups). */
  private sessionsOn: Connection | null = null;
  private readonly sessionRetries = new Set<NodeJS.Timeout>();
  /** Sessions whose setup failed and were started again on the same connection, since construction. */
  sessionRestarts = 0;
  private current: ConnectionState;
  private readonly backoff: BackoffPolicy;
  private readonly logger: Logger;
  /** The TLS options of the current attempt, to explain its TLS errors. */
  private tls: ConnectOptions['tls'] | undefined;
  private warnedAbout: string | null = null;

  constructor(private readonly options: BrokerConnectionOptions) {
    super();
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.logger = options.logger.child('bus').child(options.profileId);
    this.current = {
      profileId: options.profileId,
      status: 'idle',
      attempt: 0,
      error: null,
      errorCode: null,
      blockedReason: null,
      since: Date.now(),
      nextRetryAt: null,
      connectedAt: null,
      warning: null,
    };
  }

  private get cleanupWaitMs(): number {
    return this.options.sessionCleanupWaitMs ?? SESSION_CLEANUP_WAIT_MS;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The live AMQP connection, or null when not connected. */
  get amqp(): Connection | null {
    return this.current.status === 'connected' || this.current.status === 'blocked' ? this.connection : null;
  }

  /** Registers a handler that runs now (if connected) and on every reconnection. */
  onSession(handler: SessionHandler): () => void {
    this.sessionHandlers.add(handler);
    // Not before the connection's other sessions: while they wait for cleanups, it starts with them.
    if (this.amqp && this.sessionsOn === this.amqp) this.runSession(handler, this.amqp);
    return () => this.sessionHandlers.delete(handler);
  }

  /** Starts connecting; a no-op while already connected or trying. */
  start(): void {
    const active: ConnectionStatus[] = ['connecting', 'connected', 'blocked', 'reconnecting'];
    if (active.includes(this.current.status)) return;
    this.attempt(1);
  }

  async stop(): Promise<void> {
    this.clearRetry();
    await this.teardown();
    this.setState({ status: 'disconnected', attempt: 0, nextRetryAt: null, blockedReason: null, connectedAt: null });
  }

  // -------------------------------------------------------------------------------------------

  private attempt(attempt: number): void {
    this.retryTimer = null;
    this.setState({
      status: attempt === 1 && this.current.status !== 'reconnecting' ? 'connecting' : 'reconnecting',
      attempt,
      nextRetryAt: null,
    });
    let opts: ConnectOptions;
    try {
      opts = this.options.resolveOptions();
    } catch (err) {
      this.fail(err, attempt);
      return;
    }
    this.tls = opts.tls;
    const warning = connectWarning(opts);
    if (warning && warning !== this.warnedAbout) {
      this.logger.warn(warning, { host: opts.hostname, port: opts.port });
    }
    this.warnedAbout = warning;
    if ((this.current.warning ?? null) !== warning) this.setState({ warning });
    let connection: Connection;
    try {
      connection = this.open(opts);
    } catch (err) {
      // tls.connect throws at once on a key or certificate it cannot use.
      this.fail(err, attempt);
      return;
    }
    this.connection = connection;
    this.optionsOf.set(connection, opts);
    this.listen(connection, opts, attempt);
  }

  private open(opts: ConnectOptions): Connection {
    return new Connection({
      hostname: opts.hostname,
      port: opts.port,
      vhost: opts.vhost,
      username: opts.username,
      password: opts.password,
      heartbeat: opts.heartbeat,
      tls: opts.tls === false ? false : opts.tls,
      connectionName: opts.connectionName,
      connectionTimeout: this.options.connectTimeoutMs ?? 10_000,
      // This class owns retries; the library's own loop is pushed out of the way.
      retryLow: 24 * 3600_000,
      retryHigh: 24 * 3600_000,
    });
  }

  private listen(connection: Connection, opts: ConnectOptions, attempt: number): void {
    connection.on('connection', () => {
      if (this.connection !== connection) return;
      this.logger.info('connected', { host: opts.hostname, port: opts.port, vhost: opts.vhost, attempt });
      this.setState({
        status: 'connected',
        attempt: 0,
        error: null,
        errorCode: null,
        blockedReason: null,
        nextRetryAt: null,
        connectedAt: Date.now(),
      });
      // After the previous connection's sessions have cleaned up. A listener of the state change,
      // or anything meanwhile, may have let this connection go: no sessions on it then.
      const runSessions = () => {
        if (this.connection !== connection || this.amqp !== connection) return;
        this.sessionsOn = connection;
        for (const handler of this.sessionHandlers) this.runSession(handler, connection);
      };
      if (this.cleaningCount === 0) {
        runSessions();
        return;
      }
      // Bounded: a cleanup that never ends must not keep the mesh down for good.
      let cleaned = false;
      const waitMs = this.cleanupWaitMs;
      void settleWithin(this.cleaning.then(() => (cleaned = true)), waitMs).then(() => {
        if (!cleaned) this.logger.warn('the previous sessions are still cleaning up; starting the new ones anyway', { waitedMs: waitMs });
        runSessions();
      });
    });
    connection.on('connection.blocked', (reason: string) => {
      if (this.connection !== connection) return;
      this.logger.warn('broker blocked the connection', { reason });
      this.setState({ status: 'blocked', blockedReason: reason });
    });
    connection.on('connection.unblocked', () => {
      if (this.connection !== connection) return;
      this.logger.info('broker unblocked the connection');
      this.setState({ status: 'connected', blockedReason: null });
    });
    connection.on('error', (err: unknown) => {
      if (this.connection !== connection) return;
      const wasUp = this.current.status === 'connected' || this.current.status === 'blocked';
      this.fail(err, wasUp ? 1 : attempt, !wasUp);
    });
  }

  private fail(err: unknown, attempt: number, beforeOpen = true): void {
    const code = errorCodeOf(err);
    const text = explainTlsError(code, brokerErrorText(err), this.tls, beforeOpen);
    void this.teardown(true);
    if (isFatalConnectError(code)) {
      this.logger.error('connection refused; not retrying', { code, error: text, attempt });
      this.setState({ status: 'failed', attempt, error: text, errorCode: code, nextRetryAt: null, connectedAt: null });
      return;
    }
    const delay = backoffDelay(attempt, this.backoff);
    this.logger.warn('connection attempt failed; retrying', { code, error: text, attempt, retryInMs: delay });
    this.setState({
      status: 'reconnecting',
      attempt,
      error: text,
      errorCode: code,
      nextRetryAt: Date.now() + delay,
      connectedAt: null,
      blockedReason: null,
    });
    this.retryTimer = setTimeout(() => this.attempt(attempt + 1), delay);
    this.retryTimer.unref?.();
  }

  private runSession(handler: SessionHandler, connection: Connection, run = 1): void {
    const entry: SessionRun = { cleanup: null, over: false };
    this.runs.add(entry);
    const failed = (err: unknown): void => {
      if (entry.over || this.connection !== connection) return;
      entry.over = true;
      this.runs.delete(entry);
      this.sessionRestarts += 1;
      const delay = backoffDelay(run, this.backoff);
      this.logger.warn('session setup failed; starting it again on this connection', { code: errorCodeOf(err), error: brokerErrorText(err), run, retryInMs: delay });
      const cleanup = entry.cleanup;
      void (async () => {
        try {
          await cleanup?.();
        } catch (cleanupErr) {
          this.logger.warn('session cleanup failed', { err: cleanupErr });
        }
        const timer = setTimeout(() => {
          this.sessionRetries.delete(timer);
          if (this.connection === connection && this.amqp === connection && this.sessionHandlers.has(handler)) this.runSession(handler, connection, run + 1);
        }, delay);
        timer.unref?.();
        this.sessionRetries.add(timer);
      })();
    };
    let cleanup: (() => void | Promise<void>) | void;
    try {
      cleanup = handler(connection, { failed, run, connectOptions: this.optionsOf.get(connection)! });
    } catch (err) {
      failed(err);
      return;
    }
    if (!cleanup) return;
    if (entry.over) {
      // It failed before it returned: its cleanup runs now.
      void Promise.resolve()
        .then(cleanup)
        .catch((err: unknown) => this.logger.warn('session cleanup failed', { err }));
      return;
    }
    entry.cleanup = cleanup;
  }

  /**
   * Lets the current connection go: its sessions' cleanups run (in order with earlier teardowns'),
   * and the connection is closed. A connection that failed (`dead`) is closed first: what the
   * cleanups still ask of it (closing consumers and publishers) then fails at once, where it
   * waited for a connection that was never coming back, and the next connection's sessions
   * waited for those cleanups (up to SESSION_CLEANUP_WAIT_MS). On stop(), the cleanups come
   * first, while the connection can still carry them out.
   */
  private async teardown(dead = false): Promise<void> {
    const connection = this.connection;
    this.connection = null;
    for (const timer of this.sessionRetries) clearTimeout(timer);
    this.sessionRetries.clear();
    const runs = [...this.runs];
    this.runs = new Set();
    for (const run of runs) run.over = true;
    const cleanUp = async () => {
      for (const run of runs) {
        try {
          await run.cleanup?.();
        } catch (err) {
          this.logger.warn('session cleanup failed', { err });
        }
      }
    };
    // Counted at once: a new connection's sessions wait for these cleanups from this moment.
    this.cleaningCount += 1;
    const earlier = this.cleaningCount === 1 ? null : this.cleaning;
    const cleaned = (async () => {
      if (dead && connection) await this.closeConnection(connection);
      // The cleanups start now when no earlier teardown's are running; else after those, waiting
      // for them as long as a new connection's sessions would.
      if (earlier) await settleWithin(earlier, this.cleanupWaitMs);
      await cleanUp();
    })().finally(() => {
      this.cleaningCount -= 1;
    });
    this.cleaning = cleaned;
    await cleaned;
    if (!dead && connection) await this.closeConnection(connection);
  }

  /** Closes a connection let go of, ignoring its late errors. */
  private async closeConnection(connection: Connection): Promise<void> {
    connection.removeAllListeners();
    connection.on('error', () => undefined); // late errors from a connection we already let go of
    try {
      await connection.close();
    } catch (err) {
      this.logger.debug('closing a dead connection failed', { err });
    }
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private setState(patch: Partial<ConnectionState>): void {
    const next = { ...this.current, ...patch };
    if (patch.status && patch.status !== this.current.status) next.since = Date.now();
    this.current = next;
    this.emit('state', next);
  }
}

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error: string | null;
  errorCode: string | null;
}

/** Opens one connection, waits for the AMQP handshake, closes it. Never retries. */
export async function probeConnection(opts: ConnectOptions, timeoutMs = 10_000): Promise<ProbeResult> {
  const started = performance.now();
  const failed = (err: unknown): ProbeResult => {
    const code = errorCodeOf(err);
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: explainTlsError(code, brokerErrorText(err), opts.tls), errorCode: code };
  };
  let connection: Connection;
  try {
    connection = new Connection({
      ...opts,
      tls: opts.tls === false ? false : opts.tls,
      connectionName: `${opts.connectionName} (test)`,
      connectionTimeout: timeoutMs,
      retryLow: 24 * 3600_000,
      retryHigh: 24 * 3600_000,
    });
  } catch (err) {
    return failed(err); // a key or certificate tls.connect cannot use
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'TIMEOUT' })), timeoutMs);
      connection.once('connection', () => {
        clearTimeout(timer);
        resolve();
      });
      connection.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return { ok: true, latencyMs: Math.round(performance.now() - started), error: null, errorCode: null };
  } catch (err) {
    return failed(err);
  } finally {
    connection.removeAllListeners();
    connection.on('error', () => undefined);
    await connection.close().catch(() => undefined);
  }
}
