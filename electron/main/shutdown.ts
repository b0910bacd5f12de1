/**
 * Crash-safe shutdown: on quit (menu, window closed, SIGTERM/SIGINT) the core closes its broker
 * connections and the database before the process goes — once, however many quit requests come —
 * and a core that does not finish within `deadlineMs` does not keep the app alive.
 */
import type { Logger } from '../../core/lib/log';

export interface QuittableApp {
  on(event: 'before-quit', listener: (event: { preventDefault(): void }) => void): unknown;
  quit(): void;
  exit(code: number): void;
}

export interface SignalSource {
  once(signal: NodeJS.Signals, listener: () => void): unknown;
}

export function installShutdown(options: {
  app: QuittableApp;
  /** Closes the core; null before it exists. */
  close: () => Promise<void> | null;
  logger: Logger;
  signals?: SignalSource;
  deadlineMs?: number;
}): void {
  const { app, logger } = options;
  let state: 'running' | 'closing' | 'closed' = 'running';
  app.on('before-quit', (event) => {
    if (state === 'closed') return;
    event.preventDefault();
    if (state === 'closing') return;
    state = 'closing';
    const closing = options.close();
    if (!closing) {
      state = 'closed';
      app.quit();
      return;
    }
    const timer = setTimeout(() => {
      logger.error('shutdown took too long; exiting', { deadlineMs: options.deadlineMs ?? 10_000 });
      app.exit(1);
    }, options.deadlineMs ?? 10_000);
    closing
      .catch((err: unknown) => logger.error('shutdown failed', { err }))
      .finally(() => {
        clearTimeout(timer);
        state = 'closed';
        app.quit();
      });
  });
  const signals = options.signals ?? process;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    signals.once(signal, () => {
      logger.info('shutting down', { signal });
      app.quit();
    });
  }
}
