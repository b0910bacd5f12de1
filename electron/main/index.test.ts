/**
 * The desktop entry wired end to end with Electron replaced at the module boundary: a real core
 * (SQLite in a temp user-data folder, no broker), the real resources (tray icons), the log file,
 * the remembered window state, the menu, the IPC bridge, second launch and quit.
 */
import type { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const fake = vi.hoisted(() => ({
  userData: '',
  app: null as unknown as EventEmitter & { gone: boolean; quit(): void },
  windows: [] as Array<EventEmitter & { options: Record<string, unknown>; focus: () => void; restore: () => void; focused: number; restored: number }>,
  trays: [] as Array<{ image: string; tooltip: string }>,
  menu: null as unknown as Array<{ label?: string; role?: string }>,
  handlers: new Map<string, (...args: unknown[]) => unknown>(),
  shownInFolder: [] as string[],
}));

vi.mock('electron', async () => {
  const { EventEmitter } = await import('node:events');
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
    dialog: { showMessageBox: async () => ({ response: 0 }) },
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
});

fake.userData = mkdtempSync(join(tmpdir(), 'meshdeck-desktop-'));
// Saved on the second display last time.
writeFileSync(join(fake.userData, 'window-state.json'), JSON.stringify({ bounds: { x: 2100, y: 40, width: 1500, height: 950 }, maximized: false }));
const signalListeners = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
await import('./index');

afterAll(() => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    for (const listener of process.listeners(signal)) if (!signalListeners[signal].includes(listener)) process.off(signal, listener);
  }
  rmSync(fake.userData, { recursive: true, force: true });
});

const logLines = () =>
  readFileSync(join(fake.userData, 'logs', 'meshdeck.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string });

describe('the desktop entry', () => {
  it('opens the window on the remembered display, with the menu and the health tray', async () => {
    await vi.waitFor(() => expect(fake.trays).toHaveLength(1), { timeout: 10_000 });
    expect(fake.windows).toHaveLength(1);
    expect(fake.windows[0]!.options).toMatchObject({ x: 2100, y: 40, width: 1500, height: 950 });
    expect(fake.menu.map((m) => m.label ?? m.role)).toEqual(process.platform === 'darwin' ? ['Meshdeck', 'File', 'Edit', 'View', 'Window', 'help'] : ['File', 'Edit', 'View', 'Window', 'help']);
    expect(fake.trays[0]!.image).toBe(join(process.cwd(), 'resources', 'tray', 'disconnected.png'));
    expect(existsSync(fake.trays[0]!.image)).toBe(true);
    expect(fake.trays[0]!.tooltip).toBe('Meshdeck — not connected');
  });

  it('logs to a file in the user-data folder, which Reveal Logs shows', () => {
    expect(logLines()[0]).toMatchObject({ msg: 'starting', component: 'desktop' });
    const file = fake.menu.find((m) => m.label === 'File') as { submenu: Array<{ label?: string; click?: () => void }> };
    file.submenu.find((i) => i.label?.startsWith('Reveal Logs'))!.click!();
    expect(fake.shownInFolder).toEqual([join(fake.userData, 'logs', 'meshdeck.log')]);
  });

  it('answers the renderer over IPC from the core it hosts', async () => {
    const invoke = fake.handlers.get('meshdeck:invoke')!;
    const event = { senderFrame: { url: 'meshdeck://app/index.html', parent: null }, sender: {} };
    const answer = (await invoke(event, 'system.info', {})) as { ok: boolean; result: { host: string; databasePath: string } };
    expect(answer.ok).toBe(true);
    expect(answer.result).toMatchObject({ host: 'electron', databasePath: join(fake.userData, 'meshdeck.db') });
  });

  it('focuses the window on a second launch', () => {
    fake.app.emit('second-instance');
    expect(fake.windows[0]!.restored).toBe(1);
    expect(fake.windows[0]!.focused).toBe(1);
  });

  it('closes the core before quitting', async () => {
    fake.app.quit();
    await vi.waitFor(() => expect(fake.app.gone).toBe(true), { timeout: 10_000 });
    expect(logLines().map((l) => l.msg)).toContain('core closed');
  });
});
