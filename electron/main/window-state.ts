/**
 * The main window's size, position and maximized state, remembered in `window-state.json` in the
 * user-data folder and clamped to the displays present at the next start (a window saved on a
 * monitor that is gone comes back on the primary one). The rules are plain functions; only
 * `trackWindowState` touches a window.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState {
  /** Bounds when not maximized; x/y absent for a window never placed by the user. */
  bounds: { x?: number; y?: number; width: number; height: number };
  maximized: boolean;
}

export const DEFAULT_WINDOW_STATE: WindowState = { bounds: { width: 1440, height: 900 }, maximized: false };
export const MIN_SIZE = { width: 1280, height: 720 };
/** How much of the window's title area must be on a display for its position to be kept. */
const VISIBLE_MIN = 64;

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads the saved state; anything missing, unreadable or malformed gives the default. */
export function readWindowState(file: string): WindowState {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return structuredClone(DEFAULT_WINDOW_STATE);
  }
  const r = raw as { bounds?: Record<string, unknown>; maximized?: unknown } | null;
  const b = r?.bounds;
  if (!b || !isFiniteNumber(b.width) || !isFiniteNumber(b.height)) return structuredClone(DEFAULT_WINDOW_STATE);
  const bounds: WindowState['bounds'] = { width: Math.round(b.width), height: Math.round(b.height) };
  if (isFiniteNumber(b.x) && isFiniteNumber(b.y)) Object.assign(bounds, { x: Math.round(b.x), y: Math.round(b.y) });
  return { bounds, maximized: r?.maximized === true };
}

/** Writes atomically (temp file + rename), so a crash mid-write never leaves half a file. */
export function writeWindowState(file: string, state: WindowState): void {
  const temp = `${file}.tmp`;
  writeFileSync(temp, JSON.stringify(state));
  renameSync(temp, file);
}

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Fits the saved bounds to the displays' work areas (the first is the primary): the size within
 * the minimum and the largest work area it lands on; the position kept if the window's top strip
 * is visible on some display, else centred on the primary display.
 */
export function clampWindowState(state: WindowState, workAreas: readonly Rect[]): WindowState {
  const primary = workAreas[0];
  if (!primary) return state;
  const { x, y } = state.bounds;
  const placed = x !== undefined && y !== undefined;
  const titleStrip = placed ? { x, y, width: state.bounds.width, height: VISIBLE_MIN } : null;
  const host = titleStrip
    ? workAreas
        .map((area) => ({ area, seen: overlap(titleStrip, area) }))
        .filter((c) => c.seen >= VISIBLE_MIN * Math.min(VISIBLE_MIN, titleStrip.width))
        .sort((a, b) => b.seen - a.seen)[0]?.area
    : undefined;
  const area = host ?? primary;
  const width = Math.max(Math.min(state.bounds.width, area.width), Math.min(MIN_SIZE.width, area.width));
  const height = Math.max(Math.min(state.bounds.height, area.height), Math.min(MIN_SIZE.height, area.height));
  if (host && placed) {
    // Keep the position, but pull the window fully onto the display it is on.
    const nx = Math.min(Math.max(x, area.x), area.x + area.width - width);
    const ny = Math.min(Math.max(y, area.y), area.y + area.height - height);
    return { bounds: { x: nx, y: ny, width, height }, maximized: state.maximized };
  }
  return {
    bounds: { x: area.x + Math.round((area.width - width) / 2), y: area.y + Math.round((area.height - height) / 2), width, height },
    maximized: state.maximized,
  };
}

/** The part of a BrowserWindow this module needs. */
export interface TrackedWindow {
  getNormalBounds(): Rect;
  isMaximized(): boolean;
  isDestroyed(): boolean;
  on(event: 'resize' | 'move' | 'maximize' | 'unmaximize' | 'close', listener: () => void): unknown;
}

/**
 * Saves the window's state when it changes (debounced by `delayMs`) and at once when it closes.
 * Returns a function that saves immediately (for shutdown).
 */
export function trackWindowState(window: TrackedWindow, file: string, onError: (err: unknown) => void, delayMs = 500): () => void {
  let timer: NodeJS.Timeout | null = null;
  const save = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (window.isDestroyed()) return;
    try {
      writeWindowState(file, { bounds: window.getNormalBounds(), maximized: window.isMaximized() });
    } catch (err) {
      onError(err);
    }
  };
  const later = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(save, delayMs);
  };
  for (const event of ['resize', 'move', 'maximize', 'unmaximize'] as const) window.on(event, later);
  window.on('close', save);
  return save;
}
