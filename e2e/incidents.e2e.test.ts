/**
 * Incidents in the console: the built `meshdeck serve` watches a small live mesh (real sidecars
 * on the broker); one instance starts failing, the banner appears on the view the operator is on,
 * the incident page shows the faulted instance as first suspect with its reasoning and the
 * timeline; the operator acknowledges, notes, assigns and exports (secrets redacted); the
 * incident resolves by itself when the fault stops.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
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
const target = `basket-${run}`;
const caller = `store-${run}`;
const badId = `${target}-b2`;
let vhost: TestVhost;
let served: ServedConsole;
let browser: Browser;
const echoes: EchoService[] = [];
const sidecars: Sidecar[] = [];
let bad = false;
let driving = true;
let traffic: Promise<void> = Promise.resolve();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function api(method: string, input: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${served.url}/api/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${served.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ profileId: 'cli', ...input }),
  });
  if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function sidecar(service: string, upstream: string, instanceId: string, balancer?: 'round-robin'): Promise<Sidecar> {
  const s = new Sidecar({ service, zone: 'zone-a', broker: vhost.url, upstream, listenPort: await freePort(), instanceId, heartbeatIntervalMs: 250, timeoutMs: 1000, logger: silentLogger, ...(balancer ? { balancer } : {}) });
  await s.start();
  sidecars.push(s);
  return s;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  vhost = createTestVhost('meshdeck-incidents-e2e');
  served = await startServe({ broker: vhost.url });
  await eventually(async () => Array.isArray(await api('mesh.services', {})), 'the console\u2019s mesh', 20_000, 200);
  await api('failover.setPolicy', { service: target, overrides: { ejection: { maxEjectionPercent: 0 } }, reason: 'keep the symptom for the test' });
  await api('incidents.setRules', { service: target, rules: { openAfterSeconds: 2, resolveAfterSeconds: 3, errorRate: { windowSeconds: 2, minRequests: 10 } } });
  for (const n of [1, 2, 3]) {
    const echo = await startEchoService(`b${n}`, (path) => (n === 2 && bad ? { status: 503, body: 'down' } : { status: 200, body: `b${n}:${path}` }));
    echoes.push(echo);
    await sidecar(target, echo.url, `${target}-b${n}`);
  }
  const front = await startEchoService('store');
  echoes.push(front);
  const store = await sidecar(caller, front.url, `${caller}-1`, 'round-robin');
  await eventually(() => store.agent.endpoints(target)?.endpoints.filter((e) => e.state === 'healthy').length === 3, 'caller knows 3 instances');
  traffic = (async () => {
    while (driving) {
      await Promise.all(Array.from({ length: 5 }, () => fetch(`http://${store.address}/${target}/items`).then((r) => r.arrayBuffer(), () => undefined)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  driving = false;
  await traffic;
  await browser?.close();
  for (const s of sidecars) await s.stop();
  for (const e of echoes) await e.close();
  await served?.stop();
  vhost?.remove();
}, 60_000);

async function openPage(scheme: 'dark' | 'light', hash: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: scheme, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(served.consoleUrl);
  await page.goto(`${served.url}/${hash}`);
  return page;
}

describe('incidents in the console', () => {
  it('shows the banner when an incident opens, the incident page with suspects and timeline, and lets the operator work it', async () => {
    const page = await openPage('dark', '#/topology');
    await page.locator(`[data-service="${target}"]`).first().waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('incident-banner').count()).toBe(0);

    bad = true;
    const banner = page.getByTestId('incident-banner');
    await banner.waitFor({ timeout: 20_000 });
    expect(await banner.textContent()).toContain(`Errors: ${target}`);
    await page.screenshot({ path: join(SHOTS, 'incident-banner-dark.png') });

    await banner.getByRole('link', { name: 'Open incident' }).click();
    const incident = page.getByTestId('incident-page');
    await incident.waitFor();
    await expect.poll(() => incident.locator('[data-suspect]').first().getAttribute('data-suspect'), { timeout: 10_000 }).toBe(badId);
    await expect.poll(() => incident.getByTestId('suspects').locator('li').first().textContent()).toMatch(/failures of .* since the onset/);
    expect(await incident.locator('[data-kind="opened"]').count()).toBe(1);
    expect(await incident.locator('[data-kind="rule"]').count()).toBeGreaterThanOrEqual(1);

    await incident.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => incident.getByTestId('incident-status').textContent()).toContain('acknowledged by');
    // Acknowledged: the banner has done its job (it goes with the next incidents.changed push).
    await expect.poll(() => page.getByTestId('incident-banner').count()).toBe(0);
    await incident.getByLabel('Note').fill(`rolling back ${badId}; creds were amqp://ops:topsecret@rabbit:5672`);
    await incident.getByRole('button', { name: 'Add note' }).click();
    await incident.locator('[data-kind="note"]').waitFor();
    await incident.getByLabel('Assignee').fill('dana');
    await incident.getByRole('button', { name: 'Assign' }).click();
    await expect.poll(() => incident.getByTestId('incident-status').textContent()).toContain('assigned to dana');
    await incident.getByTestId('window-chart').waitFor();
    await page.screenshot({ path: join(SHOTS, 'incident-page-dark.png'), fullPage: true });

    // Export: a Markdown download with the suspect, the timeline, and the password masked.
    const [download] = await Promise.all([page.waitForEvent('download'), incident.getByRole('button', { name: 'Export Markdown' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^incident-\d+-service-basket-.*\.md$/);
    const markdown = readFileSync((await download.path())!, 'utf8');
    expect(markdown).toContain(`| 1 | ${badId} | instance |`);
    expect(markdown).toContain('amqp://ops:***@rabbit');
    expect(markdown).not.toContain('topsecret');
    const [jsonDownload] = await Promise.all([page.waitForEvent('download'), incident.getByRole('button', { name: 'Export JSON' }).click()]);
    expect(JSON.parse(readFileSync((await jsonDownload.path())!, 'utf8')).incident.suspects[0].target).toBe(badId);

    // The list: open first, with severity, first suspect and age.
    await page.getByRole('button', { name: '← All incidents' }).click();
    const row = page.getByTestId('incident-list').locator('[data-incident]').first();
    expect(await row.getAttribute('data-status')).toBe('acknowledged');
    expect(await row.textContent()).toContain(badId);
    await page.screenshot({ path: join(SHOTS, 'incidents-list-dark.png') });

    // Fault over: it resolves by itself, and the page says so.
    bad = false;
    await row.click();
    await expect.poll(() => page.getByTestId('incident-page').getAttribute('data-status'), { timeout: 30_000 }).toBe('resolved');
    expect(await page.getByTestId('incident-status').textContent()).toContain('by meshdeck-core');
    await page.context().close();
  }, 120_000);

  it('renders the incident list and page in the light theme', async () => {
    const [latest] = (await api('incidents.list', { limit: 1 })) as Array<{ id: number }>;
    const page = await openPage('light', '#/incidents');
    await page.getByTestId('incident-list').waitFor();
    await page.screenshot({ path: join(SHOTS, 'incidents-list-light.png') });
    await page.goto(`${served.url}/#/incidents?id=${latest!.id}`);
    await page.getByTestId('incident-page').locator('[data-suspect]').first().waitFor();
    await page.screenshot({ path: join(SHOTS, 'incident-page-light.png'), fullPage: true });
    await page.context().close();
  }, 60_000);
});
