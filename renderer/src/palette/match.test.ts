import { describe, expect, it } from 'vitest';
import { fuzzyMatch, rank } from './match';

describe('fuzzyMatch', () => {
  it('matches characters in order, case-insensitively, ignoring spaces in the query', () => {
    expect(fuzzyMatch('tpl', 'Topology')?.indices).toEqual([0, 2, 4]);
    expect(fuzzyMatch('GO TOP', 'Go to Topology')).not.toBeNull();
    expect(fuzzyMatch('xyz', 'Topology')).toBeNull();
    expect(fuzzyMatch('topologyy', 'Topology')).toBeNull();
    expect(fuzzyMatch('', 'anything')).toEqual({ score: 0, indices: [] });
  });

  it('prefers word starts and consecutive characters', () => {
    const wordStarts = fuzzyMatch('dc', 'Drain checkout-a1')!;
    expect(wordStarts.indices).toEqual([0, 6]);
    const prefix = fuzzyMatch('even', 'Events')!.score;
    const scattered = fuzzyMatch('even', 'Drain eleven-node')!.score;
    expect(prefix).toBeGreaterThan(scattered);
  });

  it('picks the best placement, not the first', () => {
    // "a1" should land on the instance suffix "-a1", not the "a" of "Drain".
    expect(fuzzyMatch('a1', 'Drain checkout-a1')!.indices).toEqual([15, 16]);
  });
});

describe('rank', () => {
  const items = [
    { title: 'Topology', keywords: 'view graph' },
    { title: 'Traffic', keywords: 'view charts' },
    { title: 'Events', keywords: 'view tail log' },
    { title: 'Drain checkout-a1', keywords: 'checkout instance action' },
    { title: 'Eject checkout-a1', keywords: 'checkout instance action' },
    { title: 'Drain payments-b2', keywords: 'payments instance action' },
  ];

  it('returns everything in the given order for an empty query', () => {
    expect(rank('', items).map((r) => r.item.title)).toEqual(items.map((i) => i.title));
  });

  it('ranks the intended command first', () => {
    expect(rank('ev', items)[0]!.item.title).toBe('Events');
    expect(rank('top', items)[0]!.item.title).toBe('Topology');
    expect(rank('dra pay', items)[0]!.item.title).toBe('Drain payments-b2');
    expect(rank('ej ch', items)[0]!.item.title).toBe('Eject checkout-a1');
  });

  it('finds items by their keywords, below title matches', () => {
    const ranked = rank('tail', items);
    expect(ranked.map((r) => r.item.title)).toEqual(['Events']);
    expect(ranked[0]!.indices).toEqual([]);
    // A word in the keywords beats letters scattered inside a title ("topoLOGy").
    expect(rank('log', items).map((r) => r.item.title)).toEqual(['Events', 'Topology']);
    expect(rank('graph', items)[0]!.item.title).toBe('Topology');
    // Letters strewn across the hidden words do not count: "dra" is not "checkout instance action" … "graph".
    expect(rank('dra', items).map((r) => r.item.title)).toEqual(['Drain checkout-a1', 'Drain payments-b2']);
  });

  it('keeps the given order between equal scores and honours the limit', () => {
    expect(rank('drain', items).map((r) => r.item.title)).toEqual(['Drain checkout-a1', 'Drain payments-b2']);
    expect(rank('', items, 2)).toHaveLength(2);
  });
});
