/**
 * Keyboard shortcuts of the console, pure: Ctrl/Cmd+K opens the palette, "?" the help, and
 * "g" then a letter jumps to a view (g t: Topology, g e: Events, …), as in GitHub or Linear.
 */

/** The second key of "g <key>" per view route. */
export const VIEW_KEYS: Readonly<Record<string, string>> = {
  topology: 't',
  traffic: 'r',
  incidents: 'i',
  events: 'e',
  connections: 'c',
  broker: 'b',
  audit: 'a',
  settings: 's',
};

/** How long after "g" the second key counts. */
export const SEQUENCE_MS = 1500;

export type ShortcutAction = { kind: 'palette' } | { kind: 'help' } | { kind: 'view'; route: string } | { kind: 'pending' };

export interface KeyInput {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  /** The focus is in a text field: only Ctrl/Cmd+K counts there. */
  typing: boolean;
}

export class ShortcutReader {
  private gAt: number | null = null;

  constructor(private readonly views: Readonly<Record<string, string>> = VIEW_KEYS) {}

  /** What a key press means; null: not ours (let it through). */
  read(input: KeyInput, now: number): ShortcutAction | null {
    if ((input.ctrlKey || input.metaKey) && !input.altKey && input.key.toLowerCase() === 'k') {
      this.gAt = null;
      return { kind: 'palette' };
    }
    if (input.typing || input.ctrlKey || input.metaKey || input.altKey) {
      this.gAt = null;
      return null;
    }
    const pending = this.gAt !== null && now - this.gAt <= SEQUENCE_MS;
    this.gAt = null;
    if (pending) {
      const route = Object.keys(this.views).find((r) => this.views[r] === input.key.toLowerCase());
      return route ? { kind: 'view', route } : null;
    }
    if (input.key === 'g') {
      this.gAt = now;
      return { kind: 'pending' };
    }
    if (input.key === '?') return { kind: 'help' };
    return null;
  }
}

/** Ctrl+K or ⌘K, as the platform says it. */
export function paletteKeyLabel(platform: string): string {
  return /mac|iphone|ipad/i.test(platform) ? '⌘K' : 'Ctrl+K';
}

/** The focus is somewhere that takes text (so single-letter shortcuts must not fire). */
export function isTypingTarget(target: EventTarget | null): boolean {
  const el = target as { tagName?: string; isContentEditable?: boolean; type?: string } | null;
  if (!el?.tagName) return false;
  if (el.isContentEditable) return true;
  if (el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') return true;
  return el.tagName === 'INPUT' && !['button', 'checkbox', 'radio', 'submit', 'reset'].includes(el.type ?? 'text');
}
