/// <reference lib="dom" />
/** Driving the console's topology graph in Chromium (e2e): clicking an edge where a click reaches it. */
import type { Locator, Page } from 'playwright-core';
import { eventually } from './mesh';

/**
 * Clicks an edge of the graph (`[data-edge-id]`) on its curve, at a point no node or other edge
 * covers (a long edge can pass under a node), once the view has settled: the same point on two
 * reads in a row (a re-layout or a fit moves it). On failure, says what covers the points tried.
 */
export async function clickEdge(page: Page, edge: Locator): Promise<void> {
  let last = '';
  let covered: string[] = [];
  const at = await eventually(
    async () => {
      const { point, hits } = await edge.evaluate((g) => {
        const path = g.querySelector<SVGPathElement>('path.edge-hit');
        const m = path?.getScreenCTM();
        const hits: string[] = [];
        if (!path || !m) return { point: null, hits: ['no hit path or no screen transform'] };
        const length = path.getTotalLength();
        for (const share of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
          const p = path.getPointAtLength(length * share);
          const x = m.a * p.x + m.c * p.y + m.e;
          const y = m.b * p.x + m.d * p.y + m.f;
          const hit = document.elementFromPoint(x, y);
          if (hit && g.contains(hit)) return { point: { x, y }, hits };
          const owner = hit?.closest('[data-edge-id],[data-node]');
          hits.push(`(${Math.round(x)}, ${Math.round(y)}): ${hit ? `${hit.tagName}.${hit.getAttribute('class') ?? ''} in ${owner?.getAttribute('data-edge-id') ?? owner?.getAttribute('data-node') ?? 'nothing pickable'}` : 'outside the page'}`);
        }
        return { point: null, hits };
      });
      covered = hits;
      const key = JSON.stringify(point);
      const settled = point !== null && key === last;
      last = key;
      return settled ? point : null;
    },
    'a point of the edge a click reaches, with the view settled',
    10_000,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the points tried were covered: ${covered.join('; ')}`);
  });
  await page.mouse.click(at.x, at.y);
}
