/**
 * How the hosts size the V8 heaps the core runs in: for memory, not V8's defaults for throughput.
 *
 * A core at a few thousand instances allocates far more than it keeps (decoded batches,
 * heartbeats, windows), and its live data is a few tens of MB. V8 lets the old generation grow to
 * up to four times what survived the last full collection before it collects again, and its
 * young generation to 3 × 16 MB: `bench:mesh-size -- --services 200` held a core's main heap at
 * 200 MB committed for 80 MB used, and its RSS at 410 MB. With the old generation allowed to grow
 * by half (HEAP_GROWING_PERCENT) and the history worker's young generation capped, the same run
 * kept 286 MB (docs/benchmarks.md, "Mesh size kept live"), at the same CPU.
 *
 * tuneHeap() must run first thing in a host's process (the headless host's `serve`, the desktop
 * main process): the growing factor applies to every later limit V8 computes. The young
 * generation of the main thread can only be set on the command line (`--max-semi-space-size`),
 * so it is left at V8's default; the history worker's is set where it is started (HISTORY_WORKER_YOUNG_MB, in
 * core/telemetry/history-writer.ts).
 */
import { setFlagsFromString } from 'node:v8';

/** The old generation may grow to (1 + this / 100) × what survived the last full collection. */
export const HEAP_GROWING_PERCENT = 50;

/** Young generation of the history's worker thread (MB): V8's default is 48. */
export const HISTORY_WORKER_YOUNG_MB = 24;

let tuned = false;

/** Applies the heap flags to this process (once). */
export function tuneHeap(setFlags: (flags: string) => void = setFlagsFromString): void {
  if (tuned) return;
  tuned = true;
  setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
