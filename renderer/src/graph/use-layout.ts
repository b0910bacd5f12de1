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

function startWorker(): Worker | null {
  try {
    return new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return null;
  }
}

/**
 * The layout of `input`, computed in a Web Worker (on the main thread where workers are not
 * available), seeded with the previous result so positions stay put between updates. Only runs
 * when the structure changes; the newest request wins.
 */
export function useLayout(input: LayoutInput | null): LayoutResult | null {
  const [result, setResult] = useState<LayoutResult | null>(null);
  const previous = useRef<LayoutResult | null>(null);
  const worker = useRef<Worker | null>(null);
  const seq = useRef(0);
  const key = useMemo(() => (input ? layoutKey(input) : ''), [input]);
  const latestInput = useRef(input);
  useEffect(() => {
    latestInput.current = input;
  });

  useEffect(() => {
    const w = startWorker();
    worker.current = w;
    if (w) {
      w.onmessage = (e: MessageEvent<{ seq: number; result: LayoutResult }>) => {
        if (e.data.seq !== seq.current) return;
        previous.current = e.data.result;
        setResult(e.data.result);
      };
      w.onerror = () => {
        // A worker that cannot run (e.g. blocked by policy): lay out on the main thread from now on.
        worker.current = null;
        w.terminate();
        const current = latestInput.current;
        if (current) {
          previous.current = layoutGraph(current, previous.current);
          setResult(previous.current);
        }
      };
    }
    return () => {
      w?.terminate();
      worker.current = null;
    };
  }, []);

  useEffect(() => {
    const current = latestInput.current;
    if (!current) return;
    seq.current += 1;
    const mine = seq.current;
    if (worker.current) {
      // Packed: the edges travel as transferred typed arrays, not 30 000 cloned objects.
      const { packed, transfer } = packLayoutInput(current);
      worker.current.postMessage({ seq: mine, input: packed, previous: previous.current }, transfer);
      return;
    }
    const timer = setTimeout(() => {
      if (mine !== seq.current) return;
      previous.current = layoutGraph(current, previous.current);
      setResult(previous.current);
    }, 0);
    return () => clearTimeout(timer);
  }, [key]);

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
