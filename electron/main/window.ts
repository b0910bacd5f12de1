/**
 * The main window and the guards every web contents gets: no navigation away from the app,
 * no new windows, no webviews, no permissions, external links only through the allow-list.
 */
import { BrowserWindow, shell, type WebContents } from 'electron';
import { isAllowedExternalUrl, isSameOrigin, secureWebPreferences } from './security';
import { DEFAULT_WINDOW_STATE, MIN_SIZE, type WindowState } from './window-state';

export interface MainWindowOptions {
  preloadPath: string;
  /** Where the renderer is loaded from (dev server URL or the app scheme's index). */
  rendererUrl: string;
  origin: string;
  /** Remembered size, position and maximized state (already clamped to the displays). */
  state?: WindowState;
}

/** Opens `url` in the system browser if it is an allow-listed https URL; says whether it did. */
export function openExternalIfAllowed(url: string): boolean {
  if (!isAllowedExternalUrl(url)) return false;
  void shell.openExternal(url);
  return true;
}

export function hardenWebContents(contents: WebContents, origin: string): void {
  contents.on('will-navigate', (event, url) => {
    if (isSameOrigin(url, origin)) return;
    // A plain link to an allow-listed site opens in the browser; the app stays where it is.
    event.preventDefault();
    openExternalIfAllowed(url);
  });
  contents.on('will-redirect', (event, url) => {
    if (!isSameOrigin(url, origin)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openExternalIfAllowed(url);
    return { action: 'deny' };
  });
}

export function createMainWindow(options: MainWindowOptions): BrowserWindow {
  const state = options.state ?? DEFAULT_WINDOW_STATE;
  const window = new BrowserWindow({
    ...state.bounds,
    minWidth: MIN_SIZE.width,
    minHeight: MIN_SIZE.height,
    show: false,
    title: 'Meshdeck',
    backgroundColor: '#111418',
    webPreferences: secureWebPreferences(options.preloadPath),
  });
  hardenWebContents(window.webContents, options.origin);
  window.webContents.session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  window.once('ready-to-show', () => {
    if (state.maximized) window.maximize();
    window.show();
  });
  void window.loadURL(options.rendererUrl);
  return window;
}
