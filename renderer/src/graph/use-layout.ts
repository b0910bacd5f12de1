import { useEffect, useMemo, useRef, useState } from 'react';
import { layoutGraph, packLayoutInput, type LayoutInput, type LayoutResult } from './layout';

/**
 * A key that changes only when the layout's input does (ids, groups, sizes, edges): two 32-bit
 * hashes of it and its counts, so a mesh of 30 000 edges does not build a megabyte string a second.
 */
export function layoutKey(input: LayoutInput): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  const add = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
    }
    h1 = Math.imul(h1 ^ 0x1f, 0x01000193);
    h2 = Math.imul(h2 ^ 0x1f, 0x5bd1e995);
  };
  for (const g of input.groups) add(g);
  for (const n of input.nodes) {
    add(n.id);
    add(n.group);
    add(`${n.width}x${n.height}`);
  }
  for (const e of input.edges) {
    add(e.from);
    add(e.to);
  }
  return `${input.groups.length}:${input.nodes.length}:${input.edges.length}:${(h1 >>> 0).toString(36)}:${(h2 >>> 0).toString(36)}`;
}

interface Pending {
  input: LayoutInput;
  previous: LayoutResult | null;
  done: (result: LayoutResult) => void;
}

/** One layout worker for the page, started before the first graph needs it (prewarmLayout). undefined: not started yet. */
let shared: Worker | null | undefined;
const pending = new Map<number, Pending>();
let nextRequest = 0;

function layoutWorker(): Worker | null {
  if (shared !== undefined) return shared;
  try {
    shared = new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' });
  } catch {
    shared = null;
    return null;
  }
  shared.onmessage = (e: MessageEvent<{ seq: number; result?: LayoutResult; skipped?: true }>) => {
    const request = pending.get(e.data.seq);
    pending.delete(e.data.seq);
    // Skipped: a newer request superseded it (the worker lays out only the newest).
    if (e.data.result) request?.done(e.data.result);
  };
  shared.onerror = () => {
    // A worker that cannot run (e.g. blocked by policy): lay out on the main thread from now on.
    shared?.terminate();
    shared = null;
    for (const request of pending.values()) request.done(layoutGraph(request.input, request.previous));
    pending.clear();
  };
  return shared;
}

/**
 * Starts the layout worker (fetching its script) ahead of the first layout: the topology view
 * calls it when it mounts, so the worker is ready when the mesh arrives.
 */
export function prewarmLayout(): void {
  layoutWorker();
}

let nextChannel = 0;

function requestLayout(channel: number, input: LayoutInput, previous: LayoutResult | null, done: (result: LayoutResult) => void): void {
  const worker = layoutWorker();
  if (!worker) {
    setTimeout(() => done(layoutGraph(input, previous)), 0);
    return;
  }
  const seq = ++nextRequest;
  pending.set(seq, { input, previous, done });
  // Packed: the edges travel as transferred typed arrays, not 30 000 cloned objects.
  const { packed, transfer } = packLayoutInput(input);
  worker.postMessage({ seq, channel, input: packed, previous }, transfer);
}

/**
 * The layout of `input`, computed in the page's layout worker (on the main thread where workers
 * are not available), seeded with the previous result so positions stay put between updates.
 * Only runs when the structure changes; the newest request wins.
 */
export function useLayout(input: LayoutInput | null): LayoutResult | null {
  const [result, setResult] = useState<LayoutResult | null>(null);
  const previous = useRef<LayoutResult | null>(null);
  const [channel] = useState(() => ++nextChannel);
  const key = useMemo(() => (input ? layoutKey(input) : ''), [input]);
  const latestInput = useRef(input);
  useEffect(() => {
    latestInput.current = input;
  });

  useEffect(() => {
    const current = latestInput.current;
    if (!current) return;
    let newest = true;
    requestLayout(channel, current, previous.current, (laid) => {
      if (!newest) return;
      previous.current = laid;
      setResult(laid);
    });
    return () => {
      newest = false;
    };
  }, [key, channel]);

  return result;
}

/** The newest value, at most once per `ms` (the graph re-renders at most about once a second). */
export function useThrottled<T>(value: T, ms: number): T {
  const [out, setOut] = useState(value);
  const last = useRef(0);
  useEffect(() => {
    const wait = Math.max(0, last.current + ms - Date.now());
    const timer = setTimeout(() => {
      last.current = Date.now();
      setOut(value);
    }, wait);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return out;
}
