/**
 * The main window and the guards every web contents gets: no navigation away from the app,
 * no new windows, no webviews, no permissions, external links only through the allow-list.
 */
import { BrowserWindow, shell, type WebContents } from 'electron';
import { isAllowedExternalUrl, isSameOrigin, secureWebPreferences } from './security';

export interface MainWindowOptions {
  preloadPath: string;
  /** Where the renderer is loaded from (dev server URL or the app scheme's index). */
  rendererUrl: string;
  origin: string;
}

export function hardenWebContents(contents: WebContents, origin: string): void {
  contents.on('will-navigate', (event, url) => {
    if (!isSameOrigin(url, origin)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!isSameOrigin(url, origin)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternalUrl(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

export function createMainWindow(options: MainWindowOptions): BrowserWindow {
  const window = new BrowserWindow({
    width: 1440,
    height: 900,
    minWidth: 1280,
    minHeight: 720,
    show: false,
    title: 'Meshdeck',
    backgroundColor: '#111418',
    webPreferences: secureWebPreferences(options.preloadPath),
  });
  hardenWebContents(window.webContents, options.origin);
  window.webContents.session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  window.once('ready-to-show', () => window.show());
  void window.loadURL(options.rendererUrl);
  return window;
}
