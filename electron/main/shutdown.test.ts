import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/lib/log';
import { installShutdown } from './shutdown';

class FakeApp extends EventEmitter {
  quits = 0;
  exited: number | null = null;
  /** Like Electron: quit() emits before-quit; the app only goes if nobody prevented it. */
  quit() {
    this.quits++;
    let prevented = false;
    this.emit('before-quit', { preventDefault: () => (prevented = true) });
    if (!prevented) this.gone = true;
  }
  gone = false;
  exit(code: number) {
    this.exited = code;
  }
}

function setup(close: () => Promise<void> | null, deadlineMs = 10_000) {
  const app = new FakeApp();
  const signals = new EventEmitter();
  const lines: string[] = [];
  installShutdown({ app, close, logger: createLogger({ sink: (l) => lines.push(l) }), signals, deadlineMs });
  return { app, signals, lines };
}

afterEach(() => vi.useRealTimers());

describe('installShutdown', () => {
  it('closes the core once, then quits', async () => {
    let finish!: () => void;
    const close = vi.fn(() => new Promise<void>((resolve) => (finish = resolve)));
    const { app } = setup(close);
    app.quit();
    app.quit();
    expect(close).toHaveBeenCalledTimes(1);
    expect(app.gone).toBe(false);
    finish();
    await vi.waitFor(() => expect(app.gone).toBe(true));
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('quits on SIGTERM and SIGINT through the same path', async () => {
    const close = vi.fn(async () => undefined);
    const { app, signals, lines } = setup(close);
    signals.emit('SIGTERM');
    await vi.waitFor(() => expect(app.gone).toBe(true));
    expect(close).toHaveBeenCalledTimes(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'shutting down', signal: 'SIGTERM' });
  });

  it('quits even if closing fails, and logs why', async () => {
    const { app, lines } = setup(async () => {
      throw new Error('broker gone');
    });
    app.quit();
    await vi.waitFor(() => expect(app.gone).toBe(true));
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ level: 'error', msg: 'shutdown failed', err: { message: 'broker gone' } });
  });

  it('quits at once when there is no core yet', () => {
    const { app } = setup(() => null);
    app.quit();
    expect(app.gone).toBe(true);
  });

  it('exits after the deadline if the core never finishes closing', () => {
    vi.useFakeTimers();
    const { app } = setup(() => new Promise<void>(() => undefined), 5000);
    app.quit();
    vi.advanceTimersByTime(4999);
    expect(app.exited).toBeNull();
    vi.advanceTimersByTime(1);
    expect(app.exited).toBe(1);
  });
});
