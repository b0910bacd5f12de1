/**
 * A layered layout for the topology graph, in swim lanes by group (zone): traffic flows left to
 * right (callers before callees, by longest path from the sources), each group is a horizontal
 * band, and within a band and a column nodes are stacked in an order that reduces crossings
 * (barycenter sweeps).
 *
 * Stable by construction: the same input always gives the same positions, and given the previous
 * result, nodes keep their previous order in their cell and new nodes are appended, so adding a
 * node moves no other node sideways and moves none down by more than one slot (the new node's
 * height plus the gap). Pure: runs in a Web Worker (layout.worker.ts) or on the main thread.
 */

export interface LayoutNode {
  id: string;
  group: string;
  width: number;
  height: number;
}

export interface LayoutInput {
  nodes: LayoutNode[];
  edges: Array<{ from: string; to: string }>;
  /** Group (band) order, top to bottom. Groups of nodes not listed come after, by name. */
  groups: string[];
}

export interface Point {
  x: number;
  y: number;
}

export interface LayoutBand {
  id: string;
  y: number;
  height: number;
}

export interface LayoutResult {
  /** Top-left corner of each node. */
  positions: Record<string, Point>;
  bands: LayoutBand[];
  width: number;
  height: number;
}

export const LAYOUT = {
  /** Left/top margin; space for a band's label above its first row. */
  pad: 24,
  bandLabel: 22,
  bandGap: 18,
  /** Room for an edge's label between columns. */
  columnGap: 150,
  rowGap: 14,
  sweeps: 4,
};

/** Longest-path ranks; edges that would close a cycle (found by a DFS from the sources, in id order) are ignored. */
export function ranks(nodes: readonly LayoutNode[], edges: LayoutInput['edges']): Map<string, number> {
  const ids = nodes.map((n) => n.id).sort();
  const known = new Set(ids);
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) if (known.has(e.from) && known.has(e.to) && e.from !== e.to) out.get(e.from)!.push(e.to);
  for (const list of out.values()) list.sort();
  const indegree = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const list of out.values()) for (const to of list) indegree.set(to, indegree.get(to)! + 1);
  // Sources first, so a cycle is cut where it returns towards them.
  const roots = [...ids.filter((id) => indegree.get(id) === 0), ...ids.filter((id) => indegree.get(id)! > 0)];

  // Iterative DFS: post-order gives a topological order of the graph without its back edges.
  const state = new Map<string, 1 | 2>();
  const post: string[] = [];
  const back = new Set<string>();
  for (const root of roots) {
    if (state.has(root)) continue;
    const stack: Array<[string, number]> = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [id, i] = top;
      const next = out.get(id)!;
      if (i < next.length) {
        top[1] = i + 1;
        const to = next[i]!;
        const s = state.get(to);
        if (s === 1) back.add(`${id}>${to}`);
        else if (s === undefined) {
          state.set(to, 1);
          stack.push([to, 0]);
        }
      } else {
        state.set(id, 2);
        post.push(id);
        stack.pop();
      }
    }
  }
  const rank = new Map<string, number>(ids.map((id) => [id, 0]));
  for (let k = post.length - 1; k >= 0; k--) {
    const id = post[k]!;
    const r = rank.get(id)!;
    for (const to of out.get(id)!) {
      if (back.has(`${id}>${to}`)) continue;
      if (rank.get(to)! < r + 1) rank.set(to, r + 1);
    }
  }
  return rank;
}

export function layoutGraph(input: LayoutInput, previous?: LayoutResult | null): LayoutResult {
  const { pad, bandLabel, bandGap, columnGap, rowGap } = LAYOUT;
  const rank = ranks(input.nodes, input.edges);
  const groupOrder = [...input.groups];
  for (const g of [...new Set(input.nodes.map((n) => n.group))].sort()) if (!groupOrder.includes(g)) groupOrder.push(g);
  const usedGroups = groupOrder.filter((g) => input.nodes.some((n) => n.group === g));
  const maxRank = Math.max(0, ...rank.values());
  const columnWidth = Math.max(0, ...input.nodes.map((n) => n.width)) + columnGap;

  // Cells: (group, rank) → nodes in stacking order.
  const cells = new Map<string, LayoutNode[]>();
  const cellKey = (g: string, r: number) => `${g}\u0000${r}`;
  for (const n of [...input.nodes].sort((a, b) => a.id.localeCompare(b.id))) {
    const key = cellKey(n.group, rank.get(n.id)!);
    const cell = cells.get(key);
    if (cell) cell.push(n);
    else cells.set(key, [n]);
  }

  const neighbours = new Map<string, string[]>(input.nodes.map((n) => [n.id, []]));
  for (const e of input.edges) {
    if (!neighbours.has(e.from) || !neighbours.has(e.to) || e.from === e.to) continue;
    neighbours.get(e.from)!.push(e.to);
    neighbours.get(e.to)!.push(e.from);
  }

  const prev = previous?.positions;
  if (prev && input.nodes.some((n) => prev[n.id])) {
    // Keep the previous order; new nodes go last, in id order.
    for (const cell of cells.values()) {
      cell.sort((a, b) => {
        const pa = prev[a.id];
        const pb = prev[b.id];
        if (pa && pb) return pa.y - pb.y || a.id.localeCompare(b.id);
        if (pa || pb) return pa ? -1 : 1;
        return a.id.localeCompare(b.id);
      });
    }
  } else {
    // Barycenter sweeps, left to right then right to left: a node's key is its band and its place
    // in its cell; each cell is sorted by the mean key of its neighbours, then renumbered.
    const key = new Map<string, number>();
    const BAND = 1e6;
    const cellsByRank: Array<Array<[number, LayoutNode[]]>> = Array.from({ length: maxRank + 1 }, () => []);
    usedGroups.forEach((g, gi) => {
      for (let r = 0; r <= maxRank; r++) {
        const cell = cells.get(cellKey(g, r));
        if (!cell) continue;
        cellsByRank[r]!.push([gi, cell]);
        cell.forEach((n, i) => key.set(n.id, gi * BAND + i));
      }
    });
    for (let sweep = 0; sweep < LAYOUT.sweeps; sweep++) {
      const ranksInOrder = [...Array(maxRank + 1).keys()];
      if (sweep % 2) ranksInOrder.reverse();
      for (const r of ranksInOrder) {
        for (const [gi, cell] of cellsByRank[r]!) {
          if (cell.length < 2) continue;
          const bary = new Map<string, number>();
          for (const n of cell) {
            const ns = neighbours.get(n.id)!;
            bary.set(n.id, ns.length ? ns.reduce((sum, id) => sum + key.get(id)!, 0) / ns.length : key.get(n.id)!);
          }
          cell.sort((a, b) => bary.get(a.id)! - bary.get(b.id)! || a.id.localeCompare(b.id));
          cell.forEach((n, i) => key.set(n.id, gi * BAND + i));
        }
      }
    }
  }

  const positions: Record<string, Point> = {};
  const bands: LayoutBand[] = [];
  let y = pad;
  for (const g of usedGroups) {
    const top = y + bandLabel;
    let tallest = 0;
    for (let r = 0; r <= maxRank; r++) {
      let cy = top;
      for (const n of cells.get(cellKey(g, r)) ?? []) {
        positions[n.id] = { x: pad + r * columnWidth, y: cy };
        cy += n.height + rowGap;
      }
      tallest = Math.max(tallest, cy - top);
    }
    bands.push({ id: g, y, height: bandLabel + tallest });
    y += bandLabel + tallest + bandGap;
  }
  return { positions, bands, width: pad * 2 + (maxRank + 1) * columnWidth - columnGap, height: Math.max(y - bandGap + pad, pad * 2) };
}

/**
 * A layout input as a few arrays, for posting to the layout worker: the typed arrays are
 * transferred, not copied, so handing 30 000 edges to the worker costs the main thread almost
 * nothing (a structured clone of 30 000 edge objects was a long task of its own). Edges whose
 * ends are not nodes are left out: the layout ignores them.
 */
export interface PackedLayoutInput {
  ids: string[];
  groups: string[];
  /** Width and height of node i at 2i and 2i + 1. */
  sizes: Float64Array;
  /** Edge k: node from[k] → node to[k]. */
  from: Int32Array;
  to: Int32Array;
  order: string[];
}

export function packLayoutInput(input: LayoutInput): { packed: PackedLayoutInput; transfer: ArrayBuffer[] } {
  const index = new Map<string, number>();
  const sizes = new Float64Array(input.nodes.length * 2);
  input.nodes.forEach((n, i) => {
    index.set(n.id, i);
    sizes[2 * i] = n.width;
    sizes[2 * i + 1] = n.height;
  });
  const from = new Int32Array(input.edges.length);
  const to = new Int32Array(input.edges.length);
  let k = 0;
  for (const e of input.edges) {
    const a = index.get(e.from);
    const b = index.get(e.to);
    if (a === undefined || b === undefined) continue;
    from[k] = a;
    to[k] = b;
    k += 1;
  }
  const packed: PackedLayoutInput = { ids: input.nodes.map((n) => n.id), groups: input.nodes.map((n) => n.group), sizes, from: from.slice(0, k), to: to.slice(0, k), order: input.groups };
  return { packed, transfer: [packed.sizes.buffer as ArrayBuffer, packed.from.buffer as ArrayBuffer, packed.to.buffer as ArrayBuffer] };
}

export function unpackLayoutInput(p: PackedLayoutInput): LayoutInput {
  return {
    nodes: p.ids.map((id, i) => ({ id, group: p.groups[i]!, width: p.sizes[2 * i]!, height: p.sizes[2 * i + 1]! })),
    edges: Array.from(p.from, (a, k) => ({ from: p.ids[a]!, to: p.ids[p.to[k]!]! })),
    groups: p.order,
  };
}
