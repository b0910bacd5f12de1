import type { EventEmitter } from 'node:events';
import type { BrowserWindowConstructorOptions, WebContents } from 'electron';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

type OpenHandler = (details: { url: string }) => { action: string };
type PermissionHandler = (contents: unknown, permission: string, callback: (granted: boolean) => void, details?: unknown) => void;

interface FakeWebContents extends EventEmitter {
  openHandler: OpenHandler | null;
  permissionHandler: PermissionHandler | null;
  setWindowOpenHandler: (handler: OpenHandler) => void;
  session: { setPermissionRequestHandler: (handler: PermissionHandler) => void };
}

interface FakeWindow extends EventEmitter {
  options: BrowserWindowConstructorOptions;
  webContents: FakeWebContents;
  show: ReturnType<typeof vi.fn>;
  maximize: ReturnType<typeof vi.fn>;
  loadURL: ReturnType<typeof vi.fn>;
  loadedUrls: string[];
}

const fake = vi.hoisted(() => ({
  windows: [] as FakeWindow[],
  openExternal: vi.fn(async (_url: string) => undefined),
}));

vi.mock('electron', async () => {
  const { EventEmitter } = await import('node:events');

  function fakeWebContents(): FakeWebContents {
    const contents = new EventEmitter() as FakeWebContents;
    contents.openHandler = null;
    contents.permissionHandler = null;
    contents.setWindowOpenHandler = (handler) => {
      contents.openHandler = handler;
    };
    contents.session = {
      setPermissionRequestHandler: (handler) => {
        contents.permissionHandler = handler;
      },
    };
    return contents;
  }

  class BrowserWindow extends EventEmitter {
    readonly options: BrowserWindowConstructorOptions;
    readonly webContents = fakeWebContents();
    readonly loadedUrls: string[] = [];
    readonly show = vi.fn();
    readonly maximize = vi.fn();
    readonly loadURL = vi.fn(async (url: string) => {
      this.loadedUrls.push(url);
    });

    constructor(options: BrowserWindowConstructorOptions) {
      super();
      this.options = options;
      fake.windows.push(this as unknown as FakeWindow);
    }
  }

  return { BrowserWindow, shell: { openExternal: fake.openExternal } };
});

const { createMainWindow, hardenWebContents } = await import('./window');

const ORIGIN = 'meshdeck://app';
const PRELOAD = '/opt/Meshdeck/resources/app/out/preload/index.cjs';

function openWindow(origin = ORIGIN, rendererUrl = `${ORIGIN}/index.html`): FakeWindow {
  const returned = createMainWindow({ preloadPath: PRELOAD, rendererUrl, origin });
  expect(fake.windows).toHaveLength(1);
  const window = fake.windows[0]!;
  expect(returned).toBe(window);
  return window;
}

/** Emits a navigation-style event and says whether the guard prevented it. */
function emitPrevented(contents: EventEmitter, event: string, ...args: unknown[]): boolean {
  const preventDefault = vi.fn();
  contents.emit(event, { preventDefault }, ...args);
  return preventDefault.mock.calls.length > 0;
}

function openHandlerOf(window: FakeWindow): OpenHandler {
  const handler = window.webContents.openHandler;
  if (!handler) throw new Error('no window open handler was set');
  return handler;
}

beforeEach(() => {
  fake.windows.length = 0;
  fake.openExternal.mockClear();
});

afterEach(() => {
  vi.clearAllMocks();
});

describe('createMainWindow', () => {
  it('creates the window with the secure web preferences', () => {
    const { options } = openWindow();
    const prefs = options.webPreferences!;
    expect(prefs.contextIsolation).toBe(true);
    expect(prefs.sandbox).toBe(true);
    expect(prefs.nodeIntegration).toBe(false);
    expect(prefs.nodeIntegrationInWorker).toBe(false);
    expect(prefs.nodeIntegrationInSubFrames).toBe(false);
    expect(prefs.webSecurity).not.toBe(false);
    expect(prefs.allowRunningInsecureContent).toBe(false);
    expect(prefs.webviewTag).toBe(false);
    expect(prefs.preload).toBe(PRELOAD);
  });

  it('sets the window size limits and stays hidden until ready', () => {
    const { options } = openWindow();
    expect(options.minWidth).toBe(1280);
    expect(options.minHeight).toBe(720);
    expect(options.width).toBe(1440);
    expect(options.height).toBe(900);
    expect(options.show).toBe(false);
    expect(options.title).toBe('Meshdeck');
  });

  it('loads the renderer URL once and shows the window on ready-to-show', () => {
    const window = openWindow(ORIGIN, 'meshdeck://app/index.html');
    expect(window.loadedUrls).toEqual(['meshdeck://app/index.html']);
    expect(window.show).not.toHaveBeenCalled();
    window.emit('ready-to-show');
    expect(window.show).toHaveBeenCalledTimes(1);
    window.emit('ready-to-show');
    expect(window.show).toHaveBeenCalledTimes(1);
  });

  it('prevents navigation away from the app origin', () => {
    const { webContents } = openWindow();
    expect(emitPrevented(webContents, 'will-navigate', 'https://evil.example/')).toBe(true);
    expect(emitPrevented(webContents, 'will-navigate', 'https://www.rabbitmq.com/docs')).toBe(true);
    expect(emitPrevented(webContents, 'will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(emitPrevented(webContents, 'will-navigate', 'meshdeck://other/index.html')).toBe(true);
    expect(emitPrevented(webContents, 'will-navigate', 'not a url')).toBe(true);
  });

  it('lets the app navigate within its own origin', () => {
    const { webContents } = openWindow();
    expect(emitPrevented(webContents, 'will-navigate', 'meshdeck://app/index.html')).toBe(false);
    expect(emitPrevented(webContents, 'will-navigate', 'meshdeck://app/index.html#/profiles')).toBe(false);
  });

  it('prevents redirects away from the app origin, and allows same-origin ones', () => {
    const { webContents } = openWindow();
    expect(emitPrevented(webContents, 'will-redirect', 'https://evil.example/')).toBe(true);
    expect(emitPrevented(webContents, 'will-redirect', 'http://localhost:5173/')).toBe(true);
    expect(emitPrevented(webContents, 'will-redirect', 'meshdeck://app/index.html')).toBe(false);
  });

  it('uses the dev server origin when developing', () => {
    const { webContents, loadedUrls } = openWindow('http://localhost:5173', 'http://localhost:5173/');
    expect(loadedUrls).toEqual(['http://localhost:5173/']);
    expect(emitPrevented(webContents, 'will-navigate', 'http://localhost:5173/settings')).toBe(false);
    expect(emitPrevented(webContents, 'will-navigate', 'meshdeck://app/index.html')).toBe(true);
    expect(emitPrevented(webContents, 'will-navigate', 'http://localhost:5174/')).toBe(true);
  });

  it('prevents every webview from attaching', () => {
    const { webContents } = openWindow();
    expect(emitPrevented(webContents, 'will-attach-webview', {}, { src: 'https://evil.example/' })).toBe(true);
    expect(emitPrevented(webContents, 'will-attach-webview', {}, { src: 'meshdeck://app/index.html' })).toBe(true);
  });

  it('denies every new window and opens only allow-listed https links externally', () => {
    const window = openWindow();
    const open = openHandlerOf(window);

    expect(open({ url: 'https://www.rabbitmq.com/docs' })).toEqual({ action: 'deny' });
    expect(fake.openExternal).toHaveBeenCalledTimes(1);
    expect(fake.openExternal).toHaveBeenLastCalledWith('https://www.rabbitmq.com/docs');

    expect(open({ url: 'https://github.com/meshdeck' })).toEqual({ action: 'deny' });
    expect(fake.openExternal).toHaveBeenCalledTimes(2);
    expect(fake.openExternal).toHaveBeenLastCalledWith('https://github.com/meshdeck');
  });

  it.each([
    'http://www.rabbitmq.com/docs',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'https://evil.example/',
    'https://user:pw@www.rabbitmq.com/docs',
    'https://www.rabbitmq.com.evil.example/',
    'meshdeck://app/index.html',
    'about:blank',
    '',
  ])('denies %j and does not open it', (url) => {
    const open = openHandlerOf(openWindow());
    expect(open({ url })).toEqual({ action: 'deny' });
    expect(fake.openExternal).not.toHaveBeenCalled();
  });

  it('answers every permission request with false', () => {
    const { webContents } = openWindow();
    const handler = webContents.permissionHandler;
    expect(handler).toBeTypeOf('function');
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen']) {
      const callback = vi.fn();
      handler!(webContents, permission, callback, { requestingUrl: 'meshdeck://app/index.html' });
      expect(callback).toHaveBeenCalledTimes(1);
      expect(callback).toHaveBeenCalledWith(false);
    }
  });
});

describe('hardenWebContents', () => {
  it('guards any web contents it is given (as for web-contents-created)', async () => {
    const { EventEmitter } = await import('node:events');
    const contents = new EventEmitter() as FakeWebContents;
    contents.openHandler = null;
    contents.setWindowOpenHandler = (handler) => {
      contents.openHandler = handler;
    };
    hardenWebContents(contents as unknown as WebContents, ORIGIN);

    expect(contents.listenerCount('will-navigate')).toBe(1);
    expect(contents.listenerCount('will-redirect')).toBe(1);
    expect(contents.listenerCount('will-attach-webview')).toBe(1);
    expect(emitPrevented(contents, 'will-navigate', 'https://evil.example/')).toBe(true);
    expect(emitPrevented(contents, 'will-navigate', 'meshdeck://app/')).toBe(false);
    expect(contents.openHandler!({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
    expect(fake.openExternal).not.toHaveBeenCalled();
  });
});

describe('external links and the remembered window state', () => {
  it('opens a plain link to an allow-listed site in the browser and keeps the app where it is', () => {
    const { webContents } = openWindow();
    expect(emitPrevented(webContents, 'will-navigate', 'https://www.rabbitmq.com/docs')).toBe(true);
    expect(fake.openExternal).toHaveBeenCalledWith('https://www.rabbitmq.com/docs');
    expect(emitPrevented(webContents, 'will-navigate', 'https://evil.example/')).toBe(true);
    expect(emitPrevented(webContents, 'will-navigate', 'http://www.rabbitmq.com/docs')).toBe(true);
    expect(fake.openExternal).toHaveBeenCalledTimes(1);
  });

  it('opens with the remembered bounds and maximizes before showing when it was maximized', () => {
    createMainWindow({
      preloadPath: PRELOAD,
      rendererUrl: `${ORIGIN}/index.html`,
      origin: ORIGIN,
      state: { bounds: { x: 100, y: 50, width: 1500, height: 950 }, maximized: true },
    });
    const window = fake.windows[0]!;
    expect(window.options).toMatchObject({ x: 100, y: 50, width: 1500, height: 950, minWidth: 1280, minHeight: 720 });
    window.emit('ready-to-show');
    expect(window.maximize).toHaveBeenCalledTimes(1);
    expect(window.show).toHaveBeenCalledTimes(1);
  });
});
