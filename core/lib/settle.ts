/**
 * Waits for `promise` to settle, but at most `ms` milliseconds; never rejects. For session
 * teardowns that let a start still in progress finish (it stops at its next step once told the
 * session ended) before closing what it opened, without a stuck start holding up the shutdown.
 */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
