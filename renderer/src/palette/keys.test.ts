import { describe, expect, it } from 'vitest';
import { ShortcutReader, isTypingTarget, paletteKeyLabel, type KeyInput } from './keys';

const key = (k: string, over: Partial<KeyInput> = {}): KeyInput => ({ key: k, ctrlKey: false, metaKey: false, altKey: false, typing: false, ...over });

describe('ShortcutReader', () => {
  it('opens the palette with Ctrl+K or Cmd+K, even while typing', () => {
    const r = new ShortcutReader();
    expect(r.read(key('k', { ctrlKey: true }), 0)).toEqual({ kind: 'palette' });
    expect(r.read(key('K', { metaKey: true, typing: true }), 0)).toEqual({ kind: 'palette' });
  });

  it('jumps to a view with g then its letter, within the time allowed', () => {
    const r = new ShortcutReader();
    expect(r.read(key('g'), 1000)).toEqual({ kind: 'pending' });
    expect(r.read(key('e'), 1500)).toEqual({ kind: 'view', route: 'events' });
    expect(r.read(key('g'), 2000)).toEqual({ kind: 'pending' });
    expect(r.read(key('t'), 5000)).toBeNull(); // too late
    expect(r.read(key('g'), 6000)).toEqual({ kind: 'pending' });
    expect(r.read(key('x'), 6100)).toBeNull(); // no view on x
    expect(r.read(key('t'), 6200)).toBeNull(); // the sequence is over
  });

  it('opens the help with ?, and ignores letters typed into fields or with modifiers', () => {
    const r = new ShortcutReader();
    expect(r.read(key('?'), 0)).toEqual({ kind: 'help' });
    expect(r.read(key('g', { typing: true }), 0)).toBeNull();
    expect(r.read(key('?', { typing: true }), 0)).toBeNull();
    expect(r.read(key('g', { altKey: true }), 0)).toBeNull();
  });
});

describe('helpers', () => {
  it('names the palette key per platform', () => {
    expect(paletteKeyLabel('MacIntel')).toBe('⌘K');
    expect(paletteKeyLabel('Linux x86_64')).toBe('Ctrl+K');
  });
  it('knows text fields from buttons', () => {
    expect(isTypingTarget({ tagName: 'INPUT', type: 'search' } as unknown as EventTarget)).toBe(true);
    expect(isTypingTarget({ tagName: 'INPUT', type: 'checkbox' } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget({ tagName: 'DIV', isContentEditable: true } as unknown as EventTarget)).toBe(true);
    expect(isTypingTarget({ tagName: 'BUTTON' } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
  });
});
