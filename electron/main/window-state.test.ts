import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_WINDOW_STATE, clampWindowState, readWindowState, trackWindowState, writeWindowState, type Rect, type WindowState } from './window-state';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-window-state-'));
  file = join(dir, 'window-state.json');
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

const laptop: Rect = { x: 0, y: 0, width: 1920, height: 1050 };
const right: Rect = { x: 1920, y: 0, width: 2560, height: 1400 };

describe('window state file', () => {
  it('round-trips and falls back to the default for a missing, broken or malformed file', () => {
    expect(readWindowState(file)).toEqual(DEFAULT_WINDOW_STATE);
    const state: WindowState = { bounds: { x: 10, y: 20, width: 1500, height: 950 }, maximized: true };
    writeWindowState(file, state);
    expect(readWindowState(file)).toEqual(state);
    writeFileSync(file, '{"bounds":');
    expect(readWindowState(file)).toEqual(DEFAULT_WINDOW_STATE);
    writeFileSync(file, JSON.stringify({ bounds: { width: 'wide', height: 3 } }));
    expect(readWindowState(file)).toEqual(DEFAULT_WINDOW_STATE);
    writeFileSync(file, JSON.stringify({ bounds: { width: 1300.4, height: 800, x: null }, maximized: 'yes' }));
    expect(readWindowState(file)).toEqual({ bounds: { width: 1300, height: 800 }, maximized: false });
  });
});

describe('clampWindowState', () => {
  it('keeps a window that is on a display', () => {
    const state: WindowState = { bounds: { x: 2100, y: 100, width: 1600, height: 1000 }, maximized: false };
    expect(clampWindowState(state, [laptop, right])).toEqual(state);
  });

  it('centres a window whose display is gone on the primary display', () => {
    const state: WindowState = { bounds: { x: 2100, y: 100, width: 1600, height: 1000 }, maximized: true };
    expect(clampWindowState(state, [laptop])).toEqual({ bounds: { x: 160, y: 25, width: 1600, height: 1000 }, maximized: true });
  });

  it('centres a never-placed window and shrinks one larger than the display, not below the minimum', () => {
    expect(clampWindowState(DEFAULT_WINDOW_STATE, [laptop]).bounds).toEqual({ x: 240, y: 75, width: 1440, height: 900 });
    const huge: WindowState = { bounds: { x: 0, y: 0, width: 5000, height: 3000 }, maximized: false };
    expect(clampWindowState(huge, [laptop]).bounds).toEqual({ x: 0, y: 0, width: 1920, height: 1050 });
    const tiny: WindowState = { bounds: { x: 0, y: 0, width: 200, height: 100 }, maximized: false };
    expect(clampWindowState(tiny, [laptop]).bounds).toEqual({ x: 0, y: 0, width: 1280, height: 720 });
  });

  it('pulls a window hanging off the edge back onto its display', () => {
    const state: WindowState = { bounds: { x: 1500, y: -40, width: 1440, height: 900 }, maximized: false };
    expect(clampWindowState(state, [laptop]).bounds).toEqual({ x: 480, y: 0, width: 1440, height: 900 });
  });

  it('ignores a window whose title strip is (almost) off every display', () => {
    const state: WindowState = { bounds: { x: 1900, y: 1040, width: 1440, height: 900 }, maximized: false };
    expect(clampWindowState(state, [laptop]).bounds).toEqual({ x: 240, y: 75, width: 1440, height: 900 });
  });
});

describe('trackWindowState', () => {
  class FakeWindow extends EventEmitter {
    bounds: Rect = { x: 5, y: 6, width: 1400, height: 800 };
    maximized = false;
    destroyed = false;
    getNormalBounds = () => this.bounds;
    isMaximized = () => this.maximized;
    isDestroyed = () => this.destroyed;
  }

  it('saves after changes settle, and at once on close', () => {
    vi.useFakeTimers();
    const window = new FakeWindow();
    trackWindowState(window, file, (err) => {
      throw err;
    }, 500);
    window.emit('resize');
    window.bounds = { x: 50, y: 60, width: 1500, height: 900 };
    window.emit('move');
    vi.advanceTimersByTime(499);
    expect(readWindowState(file)).toEqual(DEFAULT_WINDOW_STATE);
    vi.advanceTimersByTime(1);
    expect(readWindowState(file)).toEqual({ bounds: { x: 50, y: 60, width: 1500, height: 900 }, maximized: false });
    window.maximized = true;
    window.emit('maximize');
    window.emit('close');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ bounds: { x: 50, y: 60, width: 1500, height: 900 }, maximized: true });
  });

  it('reports a failed write instead of throwing', () => {
    const errors: unknown[] = [];
    const save = trackWindowState(new FakeWindow(), join(dir, 'missing', 'state.json'), (err) => errors.push(err));
    save();
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/ENOENT/);
  });
});
