/**
 * The Events view and the command palette, end to end: the built `meshdeck serve` on its own
 * vhost, real sidecars joining the mesh through the broker, driven in Debian's Chromium with the
 * keyboard. The palette opens with Ctrl+K and goes to Events; instances joining show up live;
 * paused, the view counts what it holds back; filters narrow the tail; the palette opens the
 * action dialog for an instance by name; "?" shows the shortcuts and "g t" goes to Topology.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../agent/sidecar/sidecar';
import { silentLogger } from '../core/lib/log';
import { launchChromium } from '../test/support/chromium';
import { eventually, freePort, startEchoService, type EchoService } from '../test/support/mesh';
import { REPO_ROOT, startServe, type ServedConsole } from '../test/support/serve';
import { createTestVhost, type TestVhost } from '../test/support/vhost';

const SHOTS = join(REPO_ROOT, 'test-results');
const run = randomUUID().slice(0, 6);
const service = `ledger-${run}`;
let vhost: TestVhost;
let served: ServedConsole;
let browser: Browser;
let echo: EchoService;
const sidecars: Sidecar[] = [];

async function join_(instanceId: string): Promise<Sidecar> {
  const s = new Sidecar({ service, zone: 'zone-a', broker: vhost.url, upstream: echo.url, listenPort: await freePort(), instanceId, heartbeatIntervalMs: 250, timeoutMs: 1000, logger: silentLogger });
  await s.start();
  sidecars.push(s);
  return s;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  vhost = createTestVhost('meshdeck-events-e2e');
  served = await startServe({ broker: vhost.url });
  await eventually(async () => Array.isArray(await served.api('mesh.services')), 'the console\u2019s mesh', 20_000, 200);
  echo = await startEchoService('ledger');
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const s of sidecars) await s.stop();
  await echo?.close();
  await served?.stop();
  vhost?.remove();
}, 60_000);

async function openConsole(scheme: 'dark' | 'light'): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, colorScheme: scheme });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (err) => problems.push(err.message));
  await page.goto(served.consoleUrl);
  await page.getByTestId('topbar-broker').locator('[data-status="connected"]').waitFor();
  return { page, problems };
}

const row = (page: Page, instanceId: string) => page.getByTestId('events-view').locator('tr[data-kind="registry"]', { hasText: `${instanceId} joined` });

describe('events view and command palette', () => {
  it('opens Events from the palette, tails live events, pauses with a held count, filters, and acts by name', async () => {
    const { page, problems } = await openConsole('dark');

    // Ctrl+K: the palette, a dialog with a listbox; typing ranks Events first; Enter goes there.
    await page.keyboard.press('Control+K');
    const palette = page.getByRole('dialog', { name: 'Command palette' });
    await palette.waitFor();
    const input = palette.getByRole('combobox');
    expect(await page.evaluate('document.activeElement?.getAttribute("role")')).toBe('combobox');
    await page.keyboard.type('evnts');
    const first = palette.getByRole('option').first();
    expect(await first.getAttribute('data-command')).toBe('view:events');
    expect(await first.getAttribute('aria-selected')).toBe('true');
    expect(await input.getAttribute('aria-activedescendant')).toBe(await first.getAttribute('id'));
    await page.keyboard.press('Tab'); // focus stays in the palette
    expect(await page.evaluate('document.activeElement?.getAttribute("role")')).toBe('combobox');
    await page.keyboard.press('Enter');
    await palette.waitFor({ state: 'detached' });
    const view = page.getByTestId('events-view');
    await view.waitFor();
    expect(page.url()).toContain('#/events');
    // The broker connection of this console is in the tail already (the core's backlog).
    await view.locator('tr[data-kind="connection"]').first().waitFor();

    // A real instance joins through the broker: its registration arrives live.
    await join_(`${service}-1`);
    await row(page, `${service}-1`).waitFor({ timeout: 15_000 });
    expect(await view.locator('tbody tr').first().locator('td').first().textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);

    // Paused: a second instance joins, the view holds it back and counts it.
    await view.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => view.getByTestId('events-status').textContent()).toContain('Paused');
    await join_(`${service}-2`);
    await expect.poll(async () => Number((await view.getByTestId('events-held').textContent())?.replace(/\D/g, '')), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    expect(await row(page, `${service}-2`).count()).toBe(0);
    await join_(`${service}-3`);
    const heldBefore = Number((await view.getByTestId('events-held').textContent())?.replace(/\D/g, ''));
    await expect.poll(async () => Number((await view.getByTestId('events-held').textContent())?.replace(/\D/g, '')), { timeout: 15_000 }).toBeGreaterThan(heldBefore);
    await view.getByRole('button', { name: 'Resume' }).click();
    await row(page, `${service}-2`).waitFor();
    await row(page, `${service}-3`).waitFor();

    // Filters: text narrows to one instance; the kind chips and the service select narrow further; in the URL.
    await view.getByRole('searchbox', { name: 'Filter events' }).fill(`${service}-2`);
    await expect.poll(async () => (await view.locator('tbody tr').allTextContents()).every((t) => t.includes(`${service}-2`))).toBe(true);
    expect(await view.locator('tbody tr').count()).toBeGreaterThanOrEqual(1);
    expect(page.url()).toContain(`q=${service}-2`);
    await view.getByRole('searchbox', { name: 'Filter events' }).fill('');
    await view.getByRole('button', { name: 'Broker' }).click();
    await expect.poll(async () => new Set(await view.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind'))))).toEqual(new Set(['connection']));
    await view.getByRole('button', { name: 'Broker' }).click();
    await view.getByRole('combobox', { name: 'Service' }).selectOption(service);
    await expect.poll(async () => (await view.locator('tbody tr').allTextContents()).every((t) => t.includes(service))).toBe(true);
    await view.getByRole('combobox', { name: 'Service' }).selectOption('');

    // The palette acts by name: "drain …-1" opens the action dialog with its blast radius.
    await page.keyboard.press('Control+K');
    await palette.waitFor();
    await page.keyboard.type('dra');
    await expect.poll(() => palette.locator('[data-command^="act:drain:"]').count(), { timeout: 10_000 }).toBe(3);
    await page.screenshot({ path: join(SHOTS, 'palette-dark.png') });
    await page.keyboard.press('ArrowDown');
    expect(await palette.getByRole('option').nth(1).getAttribute('aria-selected')).toBe('true');
    expect(await palette.getByRole('option').first().getAttribute('aria-selected')).toBe('false');
    await page.keyboard.type(` ${service}-1`);
    await expect.poll(() => palette.getByRole('option').first().getAttribute('data-command')).toBe(`act:drain:${service}/${service}-1`);
    expect(await palette.getByRole('option').first().getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('Enter');
    const dialog = page.getByTestId('action-dialog');
    await dialog.getByTestId('blast-radius').waitFor();
    expect(await dialog.getByRole('heading').textContent()).toBe(`Drain ${service}-1`);
    await dialog.getByRole('textbox', { name: /Reason/ }).fill('e2e: drain from the palette');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => dialog.getByTestId('action-progress').textContent(), { timeout: 15_000 }).toContain('1/1 acknowledged');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The action, the agent's answer and the state change it caused are in the tail.
    await view.locator('tr[data-kind="control"]', { hasText: `drain ${service}-1 requested: e2e: drain from the palette` }).waitFor({ timeout: 15_000 });
    await view.locator('tr[data-kind="ack"]', { hasText: `${service}-1 applied` }).waitFor({ timeout: 15_000 });
    await view.locator('tr[data-kind="registry"]', { hasText: `${service}-1 healthy → draining` }).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'events-dark.png') });

    // Esc closes the palette; "?" shows the shortcuts; "g t" goes to Topology.
    await page.keyboard.press('Control+K');
    await palette.waitFor();
    await page.keyboard.press('Escape');
    await palette.waitFor({ state: 'detached' });
    await page.keyboard.press('?');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.waitFor();
    expect(await help.textContent()).toContain('Events');
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'detached' });
    await page.keyboard.press('g');
    await page.keyboard.press('t');
    await expect.poll(() => page.url()).toContain('#/topology');

    expect(problems).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('renders the Events view and the palette in the light theme', async () => {
    const { page, problems } = await openConsole('light');
    await page.goto(`${served.url}/#/events`);
    await row(page, `${service}-1`).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'events-light.png') });
    await page.keyboard.press('Control+K');
    await page.getByRole('dialog', { name: 'Command palette' }).waitFor();
    await page.keyboard.type('ej');
    await page.getByRole('option').first().waitFor();
    await page.screenshot({ path: join(SHOTS, 'palette-light.png') });
    expect(problems).toEqual([]);
    await page.context().close();
  }, 60_000);
});
