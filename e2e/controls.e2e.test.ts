/**
 * Failover controls in the console, against the built `meshdeck serve` and real sidecars on the
 * broker: the operator sets an instance's weight with the slider, sees the traffic split and the
 * blast radius before confirming, then the agent's ack, and undoes it; trips the circuit on an
 * edge from the caller's panel, sees the breaker open, and resets it; the Audit view lists it all.
 * Clicking the edge itself on the graph opens the edge's panel: live figures, its chart, its
 * breaker tripped and reset from there, Escape and the background clearing it, Open in Traffic.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../agent/sidecar/sidecar';
import { silentLogger } from '../core/lib/log';
import { launchChromium } from '../test/support/chromium';
import { clickEdge } from '../test/support/graph';
import { eventually, freePort, startEchoService, type EchoService } from '../test/support/mesh';
import { REPO_ROOT, startServe, type ServedConsole } from '../test/support/serve';
import { createTestVhost, type TestVhost } from '../test/support/vhost';

const SHOTS = join(REPO_ROOT, 'test-results');
const run = randomUUID().slice(0, 6);
const callee = `ledger-${run}`;
const caller = `till-${run}`;
let vhost: TestVhost;
let served: ServedConsole;
let browser: Browser;
const echoes: EchoService[] = [];
const sidecars: Sidecar[] = [];
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

async function sidecar(service: string, upstream: string, instanceId: string): Promise<Sidecar> {
  const s = new Sidecar({ service, zone: 'zone-a', broker: vhost.url, upstream, listenPort: await freePort(), instanceId, heartbeatIntervalMs: 250, timeoutMs: 1000, logger: silentLogger });
  await s.start();
  sidecars.push(s);
  return s;
}

const weightOf = async (instanceId: string): Promise<number> =>
  ((await api('mesh.instances', { service: callee })) as Array<{ instanceId: string; weight: number }>).find((i) => i.instanceId === instanceId)!.weight;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  vhost = createTestVhost('meshdeck-controls-e2e');
  served = await startServe({ broker: vhost.url });
  await eventually(async () => Array.isArray(await api('mesh.services', {})), 'the console\u2019s mesh', 20_000, 200);
  for (const n of [1, 2]) {
    const echo = await startEchoService(`l${n}`);
    echoes.push(echo);
    await sidecar(callee, echo.url, `${callee}-${n}`);
  }
  const front = await startEchoService('till');
  echoes.push(front);
  const till = await sidecar(caller, front.url, `${caller}-1`);
  await eventually(() => till.agent.endpoints(callee)?.endpoints.filter((e) => e.state === 'healthy').length === 2, 'caller knows both instances');
  // A steady trickle along till → ledger, so the edge (and its breaker state) is live.
  traffic = (async () => {
    while (driving) {
      await Promise.all(Array.from({ length: 3 }, () => fetch(`http://${till.address}/${callee}/entries`).then((r) => r.arrayBuffer(), () => undefined)));
      await new Promise((resolve) => setTimeout(resolve, 100));
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

async function openPage(scheme: 'dark' | 'light', hash: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: scheme });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  await page.goto(served.consoleUrl);
  await page.goto(`${served.url}/${hash}`);
  return { page, problems };
}

/** Fills the reason (and the service name where asked), confirms once the blast radius is the edited action's. */
async function confirm(dialog: Locator, reason: string, typeName?: string): Promise<void> {
  await dialog.locator('[data-testid="blast-radius"][data-fresh="true"]').waitFor();
  await dialog.locator('input[name="reason"]').fill(reason);
  if (typeName) await dialog.locator('input[name="confirm-name"]').fill(typeName);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
}

describe('failover controls in the console', () => {
  it('sets a weight with the slider (split and blast radius first), shows the agent\u2019s ack, and undoes it', async () => {
    const { page, problems } = await openPage('dark', `#/topology?service=${callee}`);
    const panel = page.getByTestId('service-panel');
    await panel.locator(`[data-instance="${callee}-1"]`).waitFor({ timeout: 20_000 });
    await panel.getByRole('button', { name: `Weight of ${callee}-1` }).click();
    const dialog = page.getByTestId('action-dialog');
    const split = dialog.getByTestId('traffic-split');
    expect(await split.locator(`[data-split="${callee}-1"]`).getAttribute('data-share')).toBe('0.5000');

    await dialog.locator('input[name="weight-slider"]').fill('300');
    expect(await split.locator(`[data-split="${callee}-1"]`).getAttribute('data-share')).toBe('0.7500');
    expect(await split.locator(`[data-split="${callee}-2"]`).getAttribute('data-share')).toBe('0.2500');
    expect(await split.locator(`[data-split="${callee}-1"]`).textContent()).toContain('100 → 300');
    await expect.poll(() => dialog.getByTestId('preview-summary').textContent()).toContain('300');
    const radius = dialog.getByTestId('blast-radius');
    await radius.locator('xpath=self::*[@data-fresh="true"]').waitFor();
    expect(await radius.textContent()).toContain('1 of 2');
    await page.screenshot({ path: join(SHOTS, 'controls-weights-dark.png') });

    await confirm(dialog, 'canary: more traffic to ledger-1');
    await expect.poll(() => dialog.getByTestId('action-progress').textContent(), { timeout: 15_000 }).toMatch(/1\/1 acknowledged · acked/);
    expect(await dialog.locator(`[data-ack="${callee}-1"]`).getAttribute('data-status')).toBe('applied');
    await eventually(async () => (await weightOf(`${callee}-1`)) === 300, 'the registry has weight 300', 10_000, 100);
    await page.screenshot({ path: join(SHOTS, 'controls-weights-acked-dark.png') });

    await dialog.getByRole('button', { name: 'Undo' }).click();
    await expect.poll(() => dialog.getByTestId('undo-progress').textContent(), { timeout: 15_000 }).toMatch(/1\/1 acknowledged · acked/);
    await eventually(async () => (await weightOf(`${callee}-1`)) === 100, 'the weight is back to 100', 10_000, 100);
    await dialog.getByRole('button', { name: 'Done' }).click();
    expect(problems).toEqual([]);
    await page.context().close();
  }, 180_000);

  it('trips the circuit on an edge, shows it open, and resets it', async () => {
    const { page, problems } = await openPage('dark', `#/topology?service=${caller}`);
    const row = page.getByTestId('service-panel').locator(`[data-edge-row="${caller}>${callee}"]`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.getAttribute('data-circuit')).toBe('closed');

    await row.getByRole('button', { name: 'Trip…' }).click();
    const dialog = page.getByTestId('action-dialog');
    await dialog.getByTestId('traffic-affected').waitFor();
    await page.screenshot({ path: join(SHOTS, 'controls-circuit-dark.png') });
    await confirm(dialog, 'ledger is corrupting entries', caller);
    await expect.poll(() => dialog.getByTestId('action-progress').textContent(), { timeout: 15_000 }).toMatch(/1\/1 acknowledged · acked/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => row.getAttribute('data-circuit'), { timeout: 15_000 }).toBe('open');
    expect(await row.textContent()).toContain('open · operator');
    await page.screenshot({ path: join(SHOTS, 'controls-circuit-open-dark.png') });

    await row.getByRole('button', { name: 'Reset…' }).click();
    await confirm(dialog, 'ledger fixed', caller);
    await expect.poll(() => dialog.getByTestId('action-progress').textContent(), { timeout: 15_000 }).toMatch(/1\/1 acknowledged · acked/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => row.getAttribute('data-circuit'), { timeout: 15_000 }).toBe('closed');

    // Every action is in the audit log: who, why, the result and the acks.
    await page.getByRole('link', { name: 'Audit', exact: true }).click();
    const table = page.getByTestId('audit-table');
    await expect.poll(() => table.locator('[data-audit-action="reset-circuit"][data-result="acked"]').count(), { timeout: 10_000 }).toBe(1);
    expect(await table.locator('[data-audit-action="trip-circuit"][data-result="acked"]').count()).toBe(1);
    expect(await table.locator('[data-audit-action="set-weight"][data-result="acked"]').count()).toBe(2);
    expect(await table.locator('[data-audit-action="set-weight"][data-origin="undo"]').count()).toBe(1);
    expect(await table.locator('[data-audit-action="trip-circuit"]').textContent()).toContain('ledger is corrupting entries');
    await page.screenshot({ path: join(SHOTS, 'controls-audit-dark.png') });
    expect(problems).toEqual([]);
    await page.context().close();
  }, 180_000);

  it('renders the weights, fault drill and zone dialogs and the Audit view in the light theme', async () => {
    const { page, problems } = await openPage('light', `#/topology?service=${callee}`);
    const panel = page.getByTestId('service-panel');
    await panel.locator('[data-zone-row="zone-a"][data-admitted="1.00"]').waitFor({ timeout: 20_000 });
    await panel.getByRole('button', { name: 'Weights…' }).click();
    const dialog = page.getByTestId('action-dialog');
    await dialog.locator('input[name="weight-slider"]').fill('0');
    await expect.poll(() => dialog.getByTestId('traffic-split').locator(`[data-split="${callee}-2"]`).getAttribute('data-share')).toBe('0.0000');
    await dialog.locator('[data-testid="blast-radius"][data-fresh="true"]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'controls-weights-light.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await panel.getByRole('button', { name: 'Fault drill…' }).click();
    await dialog.locator('input[name="fault-share"]').fill('25');
    await expect.poll(() => dialog.getByTestId('traffic-affected').textContent()).toBe('25 %');
    await dialog.locator('[data-testid="blast-radius"][data-fresh="true"]').waitFor();
    await dialog.locator('input[name="reason"]').fill('drill');
    await dialog.locator('input[name="confirm-name"]').fill(callee);
    expect(await dialog.getByRole('button', { name: 'Confirm' }).isEnabled()).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'controls-fault-light.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await panel.locator('[data-zone-row="zone-a"]').getByRole('button', { name: 'Fail over…' }).click();
    await dialog.locator('[data-testid="blast-radius"][data-fresh="true"]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'controls-zone-light.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('link', { name: 'Audit', exact: true }).click();
    await page.getByTestId('audit-table').waitFor();
    await page.screenshot({ path: join(SHOTS, 'controls-audit-light.png') });
    expect(problems).toEqual([]);
    await page.context().close();
  }, 180_000);

  it('opens an edge\u2019s panel from the graph: live figures and chart, its breaker tripped and reset there, Escape, background and Open in Traffic', async () => {
    const { page, problems } = await openPage('dark', '#/topology');
    const graph = page.locator('[data-testid="topology-graph"][data-laid-out="true"]');
    const edge = graph.locator(`[data-edge-id="${caller}>${callee}"]`);
    await edge.waitFor({ timeout: 20_000 });
    await clickEdge(page, edge);
    const panel = page.getByTestId('edge-panel');
    await panel.waitFor();
    expect(await edge.getAttribute('aria-pressed')).toBe('true');
    expect(await edge.getAttribute('class')).toContain('selected');
    expect(page.url()).toContain(`edge=${encodeURIComponent(`${caller}>${callee}`)}`);

    // Live figures from the topics, p95 and the error classes from mesh.edge, the chart from the history.
    await expect.poll(() => panel.locator('[data-figure="rps"]').textContent(), { timeout: 15_000 }).toMatch(/^[1-9][\d.]*k?\/s$/);
    expect(await panel.locator('[data-figure="errors"]').textContent()).toContain('0 %');
    await expect.poll(() => panel.locator('[data-figure="latency"]').textContent(), { timeout: 15_000 }).toMatch(/^[\d.]+ ms · [\d.]+ ms · [\d.]+ ms$/);
    await panel.locator('[data-error-class="5xx"]').waitFor();
    await panel.locator('[data-testid="traffic-chart"][data-state="ready"]').waitFor({ timeout: 20_000 });
    expect(await panel.getByTestId('edge-circuit').getAttribute('data-circuit')).toBe('closed');
    await page.screenshot({ path: join(SHOTS, 'edge-panel-dark.png') });

    await panel.getByRole('button', { name: 'Trip circuit…' }).click();
    const dialog = page.getByTestId('action-dialog');
    await dialog.getByTestId('traffic-affected').waitFor();
    await confirm(dialog, 'ledger is double-booking', caller);
    await expect.poll(() => dialog.getByTestId('action-progress').textContent(), { timeout: 15_000 }).toMatch(/1\/1 acknowledged · acked/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => panel.getByTestId('edge-circuit').getAttribute('data-circuit'), { timeout: 15_000 }).toBe('open');
    expect(await panel.getByTestId('edge-circuit').textContent()).toContain('tripped by an operator');
    expect(await panel.locator(`[data-breaker-instance="${caller}-1"]`).getAttribute('data-circuit')).toBe('open');
    await expect.poll(() => edge.getAttribute('data-circuit'), { timeout: 15_000 }).toBe('open');
    await expect.poll(() => panel.locator('[data-figure="refused"]').textContent(), { timeout: 15_000 }).not.toBe('0');
    await page.screenshot({ path: join(SHOTS, 'edge-panel-circuit-open-dark.png') });

    await panel.getByRole('button', { name: 'Reset circuit…' }).click();
    await confirm(dialog, 'ledger fixed again', caller);
    await expect.poll(() => dialog.getByTestId('action-progress').textContent(), { timeout: 15_000 }).toMatch(/1\/1 acknowledged · acked/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => panel.getByTestId('edge-circuit').getAttribute('data-circuit'), { timeout: 15_000 }).toBe('closed');

    // Escape clears the selection; the keyboard reaches the edge again; the background clears it.
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
    expect(await edge.getAttribute('aria-pressed')).toBe('false');
    await edge.focus();
    await page.keyboard.press('Enter');
    await panel.waitFor();
    const frame = (await graph.boundingBox())!;
    await graph.click({ position: { x: 5, y: frame.height - 5 } });
    await panel.waitFor({ state: 'detached' });
    expect(page.url()).not.toContain('edge=');

    await edge.focus();
    await page.keyboard.press('Enter');
    await panel.getByRole('link', { name: 'Open in Traffic ›' }).click();
    await expect.poll(() => page.locator('select[name="target"]').inputValue(), { timeout: 10_000 }).toBe(`edge:${caller}>${callee}`);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 180_000);

  it('renders an edge\u2019s panel opened by a shared link in the light theme, and opens one from a service panel\u2019s edge row', async () => {
    const { page, problems } = await openPage('light', `#/topology?edge=${encodeURIComponent(`${caller}>${callee}`)}`);
    const panel = page.getByTestId('edge-panel');
    await panel.locator('[data-testid="traffic-chart"][data-state="ready"]').waitFor({ timeout: 20_000 });
    await expect.poll(() => panel.locator('[data-figure="latency"]').textContent(), { timeout: 15_000 }).toMatch(/^[\d.]+ ms · [\d.]+ ms · [\d.]+ ms$/);
    expect(await page.locator(`[data-edge-id="${caller}>${callee}"]`).getAttribute('aria-pressed')).toBe('true');
    await page.screenshot({ path: join(SHOTS, 'edge-panel-light.png') });
    // A service panel's edge rows open the edge's panel in its place.
    await page.goto(`${served.url}/#/topology?service=${caller}`);
    await page.getByTestId('service-panel').getByRole('button', { name: `Open the edge ${caller} → ${callee}` }).click();
    await panel.locator('[data-figure="rps"]').waitFor();
    expect(await page.getByTestId('service-panel').count()).toBe(0);
    expect(await panel.getAttribute('data-panel-edge')).toBe(`${caller}>${callee}`);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 120_000);
});
