/**
 * The desktop entry wired end to end with Electron replaced at the module boundary: a real core
 * (SQLite in a temp user-data folder, no broker), the real resources (tray icons), the log file,
 * the remembered window state, the menu, the IPC bridge, second launch and quit.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

vi.mock('electron', async () => (await import('./fake-electron')).fakeElectron());
const { fake, loadEntry } = await import('./fake-electron');

const cleanup = await loadEntry((userData) =>
  // Saved on the second display last time.
  writeFileSync(join(userData, 'window-state.json'), JSON.stringify({ bounds: { x: 2100, y: 40, width: 1500, height: 950 }, maximized: false })),
);
afterAll(() => cleanup());

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
