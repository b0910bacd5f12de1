/**
 * The application menu: the platform's usual roles (with their standard shortcuts), "Reveal logs"
 * and "About Meshdeck" with the versions of Meshdeck, Electron, Chromium and Node. The template is
 * a plain function, so it is unit-tested without Electron.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface Versions {
  meshdeck: string;
  electron: string;
  chrome: string;
  node: string;
}

export interface MenuActions {
  revealLogs(): void;
  showAbout(): void;
  /** Opens an allow-listed https URL in the system browser. */
  openExternal(url: string): void;
}

export const DOCS_URL = 'https://www.rabbitmq.com/docs';

export function aboutDetail(v: Versions): string {
  return [`Meshdeck ${v.meshdeck}`, `Electron ${v.electron}`, `Chromium ${v.chrome}`, `Node ${v.node}`].join('\n');
}

export function menuTemplate(platform: NodeJS.Platform, actions: MenuActions, options: { devTools: boolean }): MenuItemConstructorOptions[] {
  const mac = platform === 'darwin';
  const sep: MenuItemConstructorOptions = { type: 'separator' };
  const about: MenuItemConstructorOptions = { label: 'About Meshdeck', click: () => actions.showAbout() };
  const revealLogs: MenuItemConstructorOptions = { label: mac ? 'Reveal Logs in Finder' : 'Reveal Logs', click: () => actions.revealLogs() };
  const template: MenuItemConstructorOptions[] = [];
  if (mac) {
    template.push({
      label: 'Meshdeck',
      submenu: [about, sep, { role: 'services' }, sep, { role: 'hide' }, { role: 'hideOthers' }, { role: 'unhide' }, sep, { role: 'quit' }],
    });
  }
  template.push(
    { label: 'File', submenu: [revealLogs, sep, mac ? { role: 'close' } : { role: 'quit' }] },
    {
      label: 'Edit',
      submenu: [
        { role: 'undo' },
        { role: 'redo' },
        sep,
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        ...(mac ? [{ role: 'pasteAndMatchStyle' } as const] : []),
        { role: 'delete' },
        sep,
        { role: 'selectAll' },
      ],
    },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        { role: 'forceReload' },
        ...(options.devTools ? [{ role: 'toggleDevTools' } as const] : []),
        sep,
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        sep,
        { role: 'togglefullscreen' },
      ],
    },
    {
      label: 'Window',
      submenu: mac ? [{ role: 'minimize' }, { role: 'zoom' }, sep, { role: 'front' }] : [{ role: 'minimize' }, { role: 'close' }],
    },
    {
      role: 'help',
      submenu: [{ label: 'RabbitMQ Documentation', click: () => actions.openExternal(DOCS_URL) }, revealLogs, ...(mac ? [] : [sep, about])],
    },
  );
  return template;
}
