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
 * main process): the growing factor applies to every later limit V8 computes.
 *
 * The young generation of the main thread can only be set on the command line or in
 * NODE_OPTIONS (`--max-semi-space-size`; set at run time, V8 ignores it): HOST_NODE_FLAGS. `npm run
 * serve` / `npm run demo` and the core benchmarks pass them, the desktop app's Linux launchers as
 * `--js-flags` (electron-builder.yml), and a headless deployment gives them in NODE_OPTIONS
 * (README); `serve` logs whether it has them (`heap sizing`). V8's default lets the new space
 * commit 32 MB; 2 × 4 MB collect the core's short-lived garbage too, with more scavenges:
 * `bench:core-memory` at the full size, RSS 503 → 446 MB after 10 minutes with the history's
 * smaller page cache, 169 → 144 MB at the baseline, the main thread's scavenges ~2.5 % of a core
 * more (docs/benchmarks.md, 2026-11-30). The history worker's young generation is set where it
 * is started (HISTORY_WORKER_YOUNG_MB, core/telemetry/history-writer.ts).
 */
import { setFlagsFromString } from 'node:v8';

/** Semi-space of the main thread's young generation (MB); V8's default is 16. */
export const MAIN_SEMI_SPACE_MB = 4;

/** Node flags a host's process starts with (V8 takes them only on the command line). */
export const HOST_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${MAIN_SEMI_SPACE_MB}`];

/** The old generation may grow to (1 + this / 100) × what survived the last full collection. */
export const HEAP_GROWING_PERCENT = 50;

/** Young generation of the history's worker thread (MB): V8's default is 48. */
export const HISTORY_WORKER_YOUNG_MB = 24;

/**
 * The semi-space cap given on this process's command line or in NODE_OPTIONS (MB; the last one
 * given wins, as in V8), or null.
 */
export function semiSpaceCap(execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): number | null {
  let cap: number | null = null;
  const args = [...(nodeOptions?.split(/\s+/) ?? []), ...execArgv];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const match = /^--max[-_]semi[-_]space[-_]size(?:=(.*))?$/.exec(arg);
    if (!match) continue;
    const value = Number(match[1] ?? args[++i]);
    if (Number.isFinite(value) && value > 0) cap = value;
  }
  return cap;
}

/** The V8 flags an Electron process was started with (`--js-flags=…` on its command line), one per entry. */
export function electronJsFlags(argv: readonly string[] = process.argv): string[] {
  return argv.filter((a) => a.startsWith('--js-flags=')).flatMap((a) => a.slice('--js-flags='.length).split(/\s+/).filter(Boolean));
}

let tuned = false;

/** Applies the heap flags to this process (once). */
export function tuneHeap(setFlags: (flags: string) => void = setFlagsFromString): void {
  if (tuned) return;
  tuned = true;
  setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
