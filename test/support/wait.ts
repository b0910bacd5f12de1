import type { EventEmitter } from 'node:events';

/** Resolves with the first event payload that matches, or rejects after `timeoutMs` naming what it waited for. */
export function waitForEvent<T>(
  emitter: EventEmitter,
  event: string,
  predicate: (value: T) => boolean,
  timeoutMs = 10_000,
  what = event,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const listener = (value: T) => {
      if (!predicate(value)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(value);
    };
    emitter.on(event, listener);
  });
}
