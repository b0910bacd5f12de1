/**
 * Sums a V8 heap snapshot by what its objects are: `node out/bench/heap-summary.js FILE [--top N] [--shapes]`
 * (built with the benchmarks; a snapshot of a few hundred MB of heap needs
 * `node --max-old-space-size=8192`). Prints, per (node type, constructor or name), the count
 * and the total self size, largest first — where a core's memory goes, e.g. after
 * `npm run bench:mesh-size -- --baseline-only --heap-snapshot`. Self sizes only: what an object
 * holds through others is counted on those others.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapRow {
  type: string;
  name: string;
  count: number;
  bytes: number;
}

/**
 * Rows per (type, name), largest total self size first. Strings and code are grouped by type
 * alone. With `shapes`, plain objects (constructor Object) are told apart by their property
 * names ("Object {at, requests, …}"), which usually says which code made them.
 */
export function summarize(snap: Snapshot, shapes = false): HeapRow[] {
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const edgeCountAt = fields.indexOf('edge_count');
  const edgeFields = snap.snapshot.meta.edge_fields;
  const edgeWidth = edgeFields.length;
  const edgeTypeAt = edgeFields.indexOf('type');
  const edgeNameAt = edgeFields.indexOf('name_or_index');
  const propertyType = snap.snapshot.meta.edge_types[0].indexOf('property');
  const rows = new Map<string, HeapRow>();
  let edge = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!] ?? '?';
    const grouped = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'code' || type === 'number';
    let name = grouped ? '' : (snap.strings[snap.nodes[i + nameAt]!] ?? '?');
    const edges = snap.nodes[i + edgeCountAt]!;
    if (shapes && type === 'object' && name === 'Object') {
      const props: string[] = [];
      for (let e = edge; e < edge + edges * edgeWidth && props.length < 8; e += edgeWidth) {
        if (snap.edges[e + edgeTypeAt] === propertyType) props.push(snap.strings[snap.edges[e + edgeNameAt]!] ?? '?');
      }
      name = `Object {${props.join(', ')}}`;
    }
    edge += edges * edgeWidth;
    const key = `${type}\u0000${name}`;
    const row = rows.get(key) ?? { type, name, count: 0, bytes: 0 };
    row.count += 1;
    row.bytes += snap.nodes[i + sizeAt]!;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => b.bytes - a.bytes);
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node out/bench/heap-summary.js FILE.heapsnapshot [--top N] [--shapes]');
    process.exit(2);
  }
  const topAt = process.argv.indexOf('--top');
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 40;
  const rows = summarize(JSON.parse(readFileSync(file, 'utf8')) as Snapshot, process.argv.includes('--shapes'));
  const total = rows.reduce((n, r) => n + r.bytes, 0);
  console.log(`${file}: ${(total / 2 ** 20).toFixed(1)} MB of self size in ${rows.reduce((n, r) => n + r.count, 0)} nodes`);
  console.log(`${'MB'.padStart(8)} ${'share'.padStart(6)} ${'count'.padStart(10)}  type / name`);
  for (const r of rows.slice(0, top)) {
    console.log(`${(r.bytes / 2 ** 20).toFixed(2).padStart(8)} ${((r.bytes * 100) / total).toFixed(1).padStart(5)}% ${String(r.count).padStart(10)}  ${r.type}${r.name ? ` / ${r.name.slice(0, 80)}` : ''}`);
  }
}

main();
