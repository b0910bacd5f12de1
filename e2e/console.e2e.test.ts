/**
 * End to end: the built `meshdeck serve` with the real broker, driven in Debian's Chromium.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../test/support/chromium';
import { REPO_ROOT, startServe, type ServedConsole } from '../test/support/serve';
import { createTestVhost, type TestVhost } from '../test/support/vhost';

const SHOTS = join(REPO_ROOT, 'test-results');
let served: ServedConsole;
let browser: Browser;
let vhost: TestVhost;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // A vhost of its own: the mesh this console sees is empty, whatever else runs on the broker.
  vhost = createTestVhost('meshdeck-e2e');
  // Debug logs: the last test checks that not even they carry a secret.
  served = await startServe({ broker: vhost.url, env: { MESHDECK_SECRET_KEY: 'e2e secret passphrase', MESHDECK_LOG_LEVEL: 'debug' } });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  vhost?.remove();
});

async function openConsole(colorScheme: 'dark' | 'light'): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, colorScheme });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));
  await page.goto(served.consoleUrl);
  return { context, page, problems };
}

describe('console in the browser', () => {
  it('shows the command-line broker connected, and a refused profile with the broker\u2019s words', async () => {
    const { context, page, problems } = await openConsole('dark');

    const cliCard = page.locator('article[data-profile$="(command line)"]');
    await cliCard.locator('[data-status="connected"]').waitFor();
    await page.getByTestId('topbar-broker').locator('[data-status="connected"]').waitFor();
    expect(page.url()).not.toContain('token=');

    await page.getByRole('button', { name: 'Add profile' }).click();
    const form = page.getByRole('form', { name: 'New profile' });
    await form.locator('input[name="name"]').fill('bad password');
    await form.locator('input[name="url"]').fill('amqp://127.0.0.1:5672');
    await form.locator('input[name="username"]').fill('guest');
    await form.locator('input[name="password"]').fill('not-the-password');

    await form.getByRole('button', { name: 'Test' }).click();
    await expect.poll(() => form.getByTestId('test-result').textContent()).toContain('ACCESS_REFUSED');

    await form.getByRole('button', { name: 'Save profile' }).click();
    const badCard = page.locator('article[data-profile="bad password"]');
    await badCard.locator('[data-status="failed"]').waitFor();
    const refusal = await badCard.getByTestId('broker-error').textContent();
    expect(refusal).toContain('ACCESS_REFUSED');
    expect(refusal).toContain('Login was refused');
    await expect.poll(() => badCard.textContent()).toContain('saved, encrypted');
    await page.screenshot({ path: join(SHOTS, 'connections-dark.png') });

    await page.getByRole('link', { name: 'Topology' }).click();
    await page.getByTestId('mesh-empty').getByText('No services have joined this mesh yet').waitFor();
    await page.screenshot({ path: join(SHOTS, 'topology-empty-dark.png') });

    await page.getByRole('link', { name: 'Settings' }).click();
    await expect.poll(() => page.getByTestId('about').textContent()).toContain('Schema version');
    expect(await page.getByTestId('about').textContent()).toContain('AES-256-GCM');

    expect(problems).toEqual([]);
    await context.close();
  });

  it('renders the light theme', async () => {
    const { context, page, problems } = await openConsole('light');
    await page.locator('article[data-profile$="(command line)"] [data-status="connected"]').waitFor();
    const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(background).toBe('rgb(246, 247, 249)');
    await page.screenshot({ path: join(SHOTS, 'connections-light.png') });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('asks for the token when the address has none', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    await page.goto(`${served.url}/#/connections`);
    await page.getByText('This console needs its access token').waitFor();
    await context.close();
  });

  it('kept the token, the refused profile\u2019s password and the secret passphrase out of its logs', async () => {
    // Runs after the tests above: pages opened with the token, a wrong token refused, a profile
    // with a password saved, tested and refused by the broker.
    const refused = await fetch(`${served.url}/api/system.info`, { method: 'POST', headers: { authorization: 'Bearer not-the-token-0123456789' }, body: '{}' });
    expect(refused.status).toBe(401);
    const logs = served.stderr();
    const lines = logs.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(10);
    for (const secret of [served.token, 'not-the-password', 'e2e secret passphrase', 'not-the-token-0123456789']) expect(logs).not.toContain(secret);
  });
});
