import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it, vi } from 'vitest';
import { aboutDetail, DOCS_URL, menuTemplate } from './menu';
import { isAllowedExternalUrl } from './security';

function actions() {
  return { revealLogs: vi.fn(), showAbout: vi.fn(), openExternal: vi.fn() };
}

const submenu = (item: MenuItemConstructorOptions | undefined) => (item?.submenu ?? []) as MenuItemConstructorOptions[];
const roles = (item: MenuItemConstructorOptions | undefined) => submenu(item).map((i) => i.role ?? i.label ?? i.type);
const byLabel = (template: MenuItemConstructorOptions[], label: string) => template.find((i) => i.label === label || i.role === label);
const click = (item: MenuItemConstructorOptions | undefined) => (item!.click as () => void)();

describe('menuTemplate', () => {
  it('on Linux and Windows: File, Edit, View, Window, Help with the standard roles', () => {
    for (const platform of ['linux', 'win32'] as const) {
      const template = menuTemplate(platform, actions(), { devTools: false });
      expect(template.map((i) => i.label ?? i.role)).toEqual(['File', 'Edit', 'View', 'Window', 'help']);
      expect(roles(byLabel(template, 'File'))).toEqual(['Reveal Logs', 'separator', 'quit']);
      expect(roles(byLabel(template, 'Edit'))).toEqual(['undo', 'redo', 'separator', 'cut', 'copy', 'paste', 'delete', 'separator', 'selectAll']);
      expect(roles(byLabel(template, 'View'))).toEqual(['reload', 'forceReload', 'separator', 'resetZoom', 'zoomIn', 'zoomOut', 'separator', 'togglefullscreen']);
      expect(roles(byLabel(template, 'Window'))).toEqual(['minimize', 'close']);
      expect(roles(byLabel(template, 'help'))).toEqual(['RabbitMQ Documentation', 'Reveal Logs', 'separator', 'About Meshdeck']);
    }
  });

  it('on macOS: the app menu first, with About, Hide and Quit', () => {
    const template = menuTemplate('darwin', actions(), { devTools: true });
    expect(template.map((i) => i.label ?? i.role)).toEqual(['Meshdeck', 'File', 'Edit', 'View', 'Window', 'help']);
    expect(roles(template[0])).toEqual(['About Meshdeck', 'separator', 'services', 'separator', 'hide', 'hideOthers', 'unhide', 'separator', 'quit']);
    expect(roles(byLabel(template, 'File'))).toEqual(['Reveal Logs in Finder', 'separator', 'close']);
    expect(roles(byLabel(template, 'Edit'))).toContain('pasteAndMatchStyle');
    expect(roles(byLabel(template, 'View'))).toContain('toggleDevTools');
    expect(roles(byLabel(template, 'Window'))).toEqual(['minimize', 'zoom', 'separator', 'front']);
  });

  it('wires Reveal Logs, About and the documentation link', () => {
    const a = actions();
    const template = menuTemplate('linux', a, { devTools: false });
    click(submenu(byLabel(template, 'File'))[0]);
    expect(a.revealLogs).toHaveBeenCalledTimes(1);
    const help = submenu(byLabel(template, 'help'));
    click(help.find((i) => i.label === 'About Meshdeck'));
    expect(a.showAbout).toHaveBeenCalledTimes(1);
    click(help[0]);
    expect(a.openExternal).toHaveBeenCalledWith(DOCS_URL);
    expect(isAllowedExternalUrl(DOCS_URL)).toBe(true);
  });
});

describe('aboutDetail', () => {
  it('lists the Meshdeck, Electron, Chromium and Node versions', () => {
    expect(aboutDetail({ meshdeck: '0.1.0', electron: '45.5.0', chrome: '142.0.7444.0', node: '22.20.0' })).toBe(
      'Meshdeck 0.1.0\nElectron 45.5.0\nChromium 142.0.7444.0\nNode 22.20.0',
    );
  });
});
