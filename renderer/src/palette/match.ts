/**
 * Fuzzy matching and ranking for the command palette. Pure.
 *
 * A query matches a text when its characters appear in the text in order (case-insensitive,
 * spaces in the query ignored). The score rewards what people mean when they type a few letters:
 * a match at the start of the text or of a word, consecutive characters, and a whole-word or
 * prefix hit; it penalises gaps and long texts a little, so "dra ch" puts "Drain checkout-a1"
 * above "Open checkout in Traffic".
 */

export interface Match {
  score: number;
  /** Positions in the text of the matched characters, for highlighting. */
  indices: number[];
}

const isWordStart = (text: string, i: number) => i === 0 || /[\s\-_./:·(]/.test(text[i - 1]!) || (/[a-z]/.test(text[i - 1]!) && /[A-Z]/.test(text[i]!));

/** The best in-order match of `query` in `text`, or null. */
export function fuzzyMatch(query: string, text: string): Match | null {
  const q = query.toLowerCase().replace(/\s+/g, '');
  if (!q) return { score: 0, indices: [] };
  const t = text.toLowerCase();
  // Each query character at its best position given the previous: dynamic programming over
  // (query index, text index) keeping the best score ending there.
  const n = q.length;
  const m = t.length;
  if (n > m) return null;
  const NEG = Number.NEGATIVE_INFINITY;
  let prev: number[] = new Array<number>(m).fill(NEG);
  const back: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const cur: number[] = new Array<number>(m).fill(NEG);
    const from = new Int32Array(m).fill(-1);
    let bestPrev = NEG;
    let bestPrevAt = -1;
    for (let j = i; j < m; j++) {
      // best previous ending strictly before j
      if (i > 0 && j - 1 >= 0 && prev[j - 1]! > bestPrev) {
        bestPrev = prev[j - 1]!;
        bestPrevAt = j - 1;
      }
      if (t[j] !== q[i]) continue;
      let bonus = 1;
      if (isWordStart(text, j)) bonus += j === 0 ? 8 : 6;
      if (i === 0) {
        cur[j] = bonus - Math.min(j, 10) * 0.2;
        continue;
      }
      const consecutive = prev[j - 1] !== undefined && prev[j - 1]! > NEG ? prev[j - 1]! + bonus + 5 : NEG;
      const gapped = bestPrev > NEG ? bestPrev + bonus - Math.min(j - bestPrevAt - 1, 10) * 0.3 : NEG;
      if (consecutive >= gapped && consecutive > NEG) {
        cur[j] = consecutive;
        from[j] = j - 1;
      } else if (gapped > NEG) {
        cur[j] = gapped;
        from[j] = bestPrevAt;
      }
    }
    back.push(from);
    prev = cur;
  }
  let end = -1;
  let best = NEG;
  for (let j = 0; j < m; j++) {
    if (prev[j]! > best) {
      best = prev[j]!;
      end = j;
    }
  }
  if (end < 0) return null;
  const indices: number[] = [];
  for (let i = n - 1, j = end; i >= 0; i--) {
    indices.push(j);
    j = back[i]![j]!;
  }
  indices.reverse();
  // Shorter texts win ties: "Events" over "Events of checkout" for "ev".
  return { score: best - m * 0.02, indices };
}

/** Score per query character a keyword-only match needs (a word start and a run of letters give about 5). */
const KEYWORD_MIN_PER_CHAR = 3;

export interface Rankable {
  title: string;
  /** More words it answers to (not shown): "go view", an instance's service, … */
  keywords?: string;
}

export interface Ranked<T> {
  item: T;
  score: number;
  /** Matched positions in the title (empty when the match was in the keywords). */
  indices: number[];
}

/**
 * Items matching `query`, best first; equal scores keep the given order (so the caller's order,
 * views before actions, breaks ties). An empty query returns the items as given.
 */
export function rank<T extends Rankable>(query: string, items: readonly T[], limit = 50): Ranked<T>[] {
  const out: Array<Ranked<T> & { order: number }> = [];
  items.forEach((item, order) => {
    const inTitle = fuzzyMatch(query, item.title);
    const keywordMatch = item.keywords ? fuzzyMatch(query, `${item.title} ${item.keywords}`) : null;
    // Hidden words count only when the query hits them squarely (word starts, runs of letters),
    // not as letters strewn across a long line.
    const inKeywords = keywordMatch && keywordMatch.score >= query.replace(/\s+/g, '').length * KEYWORD_MIN_PER_CHAR ? keywordMatch : null;
    // A title match is worth more than one that needs the hidden keywords.
    const best = inTitle && (!inKeywords || inTitle.score >= inKeywords.score - 2) ? { score: inTitle.score, indices: inTitle.indices } : inKeywords ? { score: inKeywords.score - 2, indices: [] } : null;
    if (best) out.push({ item, order, ...best });
  });
  out.sort((a, b) => b.score - a.score || a.order - b.order);
  return out.slice(0, limit).map(({ item, score, indices }) => ({ item, score, indices }));
}
