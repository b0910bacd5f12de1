/**
 * A stand-in for the `electron` module for tests of the desktop entry: the app, windows, tray,
 * menu, dialogs and IPC record what the entry does with them; the rest is inert.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const fake = {
  userData: '',
  app: null as unknown as EventEmitter & { gone: boolean; quit(): void },
  windows: [] as Array<EventEmitter & { options: Record<string, unknown>; focus: () => void; restore: () => void; focused: number; restored: number }>,
  trays: [] as Array<{ image: string; tooltip: string }>,
  menu: null as unknown as Array<{ label?: string; role?: string }>,
  handlers: new Map<string, (...args: unknown[]) => unknown>(),
  shownInFolder: [] as string[],
  errorBoxes: [] as Array<{ title: string; content: string }>,
};

/** Stands in for the `electron` module: `vi.mock('electron', () => import('./fake-electron'))`. */
export function fakeElectron() {
  class App extends EventEmitter {
    gone = false;
    isPackaged = false;
    requestSingleInstanceLock = () => true;
    enableSandbox = () => undefined;
    whenReady = () => Promise.resolve();
    getPath = (name: string) => {
      if (name !== 'userData') throw new Error(`unexpected path ${name}`);
      return fake.userData;
    };
    getAppPath = () => process.cwd();
    quit() {
      let prevented = false;
      this.emit('before-quit', { preventDefault: () => (prevented = true) });
      if (!prevented) this.gone = true;
    }
    exit() {
      this.gone = true;
    }
  }
  fake.app = new App();
  class WebContents extends EventEmitter {
    session = { setPermissionRequestHandler: () => undefined };
    setWindowOpenHandler = () => undefined;
    executeJavaScript = async () => undefined;
  }
  class BrowserWindow extends EventEmitter {
    webContents = new WebContents();
    focused = 0;
    restored = 0;
    constructor(readonly options: Record<string, unknown>) {
      super();
      fake.windows.push(this as never);
    }
    loadURL = async () => undefined;
    show = () => undefined;
    maximize = () => undefined;
    focus = () => void this.focused++;
    restore = () => void this.restored++;
    isMinimized = () => true;
    isDestroyed = () => false;
    isMaximized = () => false;
    getNormalBounds = () => ({ x: 0, y: 0, width: 1440, height: 900 });
  }
  class Tray extends EventEmitter {
    image: string;
    tooltip = '';
    constructor(image: { path: string }) {
      super();
      this.image = image.path;
      fake.trays.push(this);
    }
    setImage = (image: { path: string }) => void (this.image = image.path);
    setToolTip = (text: string) => void (this.tooltip = text);
    setContextMenu = () => undefined;
    destroy = () => undefined;
  }
  const display = (id: number, x: number) => ({ id, workArea: { x, y: 0, width: 1920, height: 1050 } });
  return {
    app: fake.app,
    BrowserWindow,
    Tray,
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: (m: typeof fake.menu) => void (fake.menu = m) },
    nativeImage: { createFromPath: (path: string) => ({ path }) },
    Notification: Object.assign(class {}, { isSupported: () => false }),
    screen: { getPrimaryDisplay: () => display(1, 0), getAllDisplays: () => [display(1, 0), display(2, 1920)] },
    session: { defaultSession: { webRequest: { onHeadersReceived: () => undefined } } },
    shell: { openExternal: async () => undefined, showItemInFolder: (p: string) => void fake.shownInFolder.push(p) },
    dialog: { showMessageBox: async () => ({ response: 0 }), showErrorBox: (title: string, content: string) => void fake.errorBoxes.push({ title, content }) },
    safeStorage: { isEncryptionAvailable: () => false, getSelectedStorageBackend: () => 'basic_text' },
    protocol: { registerSchemesAsPrivileged: () => undefined, handle: () => undefined },
    net: { fetch: async () => new Response('') },
    ipcMain: {
      handle: (channel: string, fn: (...args: unknown[]) => unknown) => void fake.handlers.set(channel, fn),
      on: () => undefined,
      removeHandler: () => undefined,
      removeAllListeners: () => undefined,
    },
  };
}

/**
 * Runs the desktop entry (electron/main/index.ts) against this stand-in with a fresh user-data
 * folder, prepared by `prepare` first. Returns the cleanup: the folder and the signal listeners
 * the entry installed go.
 */
export async function loadEntry(prepare: (userData: string) => void = () => undefined): Promise<() => void> {
  fake.userData = mkdtempSync(join(tmpdir(), 'meshdeck-desktop-'));
  prepare(fake.userData);
  const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  await import('./index');
  return () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      for (const listener of process.listeners(signal)) if (!before[signal].includes(listener)) process.off(signal, listener);
    }
    rmSync(fake.userData, { recursive: true, force: true });
  };
}
