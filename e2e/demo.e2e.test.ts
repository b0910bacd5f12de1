/**
 * The demo mesh end to end: `meshdeck demo` starts 16 instance processes behind real sidecars,
 * the load generator and the console; traffic and events show up in the API and in the UI;
 * scripted faults change what the mesh reports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMERS } from '../demo/services';
import { launchChromium } from '../test/support/chromium';
import { clickEdge } from '../test/support/graph';
import { eventually } from '../test/support/mesh';
import { REPO_ROOT } from '../test/support/serve';
import { createTestVhost, type TestVhost } from '../test/support/vhost';

const BIN = join(REPO_ROOT, 'bin/meshdeck.js');
const TOKEN = `demo-e2e-${Date.now()}-token`;
let vhost: TestVhost;
let dir: string;
let demo: ChildProcess;
let consoleUrl: string;
let baseUrl: string;
let browser: Browser;
const env = () => ({ ...process.env, MESHDECK_TOKEN: TOKEN, MESHDECK_DEMO_STATE: join(dir, 'state.json'), MESHDECK_LOG_LEVEL: 'warn' });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function api(method: string, input: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${baseUrl}/api/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ profileId: 'cli', ...input }),
  });
  if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
  return res.json();
}

function fault(...args: string[]) {
  return spawnSync(process.execPath, [BIN, 'demo', 'fault', ...args], { env: env(), encoding: 'utf8', timeout: 20_000 });
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-demo');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-demo-e2e-'));
  demo = spawn(process.execPath, [BIN, 'demo', '--port', '0', '--rps', '40', '--broker', vhost.url, '--db', join(dir, 'demo.db'), '--respawn-after', '0'], {
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  demo.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  consoleUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no console URL within 60 s; stderr:\n${err.slice(-2000)}`)), 60_000);
    demo.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const match = /Meshdeck console: (\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    demo.once('exit', (code) => reject(new Error(`demo exited with ${code}; stderr:\n${err.slice(-2000)}`)));
  });
  baseUrl = consoleUrl.split('/#')[0]!;
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((resolve) => demo.once('exit', resolve));
    demo.kill('SIGTERM');
    await exited;
  }
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('npm run demo', () => {
  it('brings up six services in three zones with live traffic along every HTTP edge', async () => {
    const services = await eventually(async () => {
      const list = (await api('mesh.services', {})) as Array<{ name: string; healthy: number; zones: string[] }>;
      return list.length === 6 && list.every((s) => s.healthy === s.zones.length) ? list : null;
    }, 'all 16 instances healthy', 45_000, 250);
    expect(services.map((s) => s.name)).toEqual(['checkout', 'gateway', 'inventory', 'notifications', 'payments', 'web']);

    const edges = await eventually(async () => {
      const list = (await api('mesh.edges', { spanSeconds: 5 })) as Array<{ from: string; to: string; rps: number }>;
      const want = ['external>gateway', 'gateway>web', 'gateway>checkout', 'web>inventory', 'checkout>inventory', 'checkout>payments'];
      return want.every((w) => list.some((e) => `${e.from}>${e.to}` === w && e.rps > 0)) ? list : null;
    }, 'traffic on every edge', 30_000, 250);
    expect(edges.length).toBeGreaterThanOrEqual(6);
    // The generator sends 40/s; once its windows fill, the gateway's ingress edge shows that rate.
    const ingress = await eventually(async () => {
      const list = (await api('mesh.edges', { spanSeconds: 3 })) as Array<{ from: string; to: string; rps: number }>;
      const e = list.find((x) => x.from === 'external' && x.to === 'gateway');
      return e && e.rps > 30 ? e : null;
    }, 'ingress near 40/s', 20_000, 250);
    expect(ingress.rps).toBeLessThan(50);

    const flows = await eventually(async () => {
      const list = (await api('mesh.eventFlows', { spanSeconds: 10 })) as Array<{ type: string; producers: Array<{ service: string }>; consumers: Array<{ service: string }> }>;
      const placed = list.find((f) => f.type === 'shop.order.placed.v1');
      return placed && placed.consumers.length >= 2 ? list : null;
    }, 'event flows', 30_000, 250);
    const placed = flows.find((f) => f.type === 'shop.order.placed.v1')!;
    expect(placed.producers.map((p) => p.service)).toEqual(['checkout']);
    expect(placed.consumers.map((c) => c.service).sort()).toEqual(['inventory', 'notifications']);
    const captured = flows.find((f) => f.type === 'shop.payment.captured.v1')!;
    expect(captured.producers.map((p) => p.service)).toEqual(['payments']);
    expect(captured.consumers.map((c) => c.service)).toEqual(['notifications']);
  });

  it('shows the living mesh in the console: the topology graph with live numbers, its table, a service\u2019s panel', async () => {
    mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
    for (const scheme of ['dark', 'light'] as const) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, colorScheme: scheme });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(err.message));
      await page.goto(consoleUrl);
      await page.getByRole('link', { name: 'Topology' }).click();
      const graph = page.getByTestId('topology-graph');
      await graph.locator('[data-service="payments"][data-health="healthy"]').waitFor();
      expect(await graph.getAttribute('data-laid-out')).toBe('true');
      // Gateways are drawn apart; edges carry live rate · errors · p99; events are edges too.
      expect(await graph.locator('[data-service="gateway"]').getAttribute('data-kind')).toBe('gateway');
      await expect.poll(() => graph.locator('[data-edge="checkout>payments"] .edge-label').textContent(), { timeout: 15_000 }).toMatch(/\/s · [\d.<]+ % · [\d.]+ m?s$/);
      await graph.locator('[data-event-edge="checkout>inventory"]').waitFor();
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `topology-demo-${scheme}.png`) });
      // Filters and focus live in the URL.
      await page.locator('input[name="filter"]').fill('pay');
      await expect.poll(() => graph.locator('[data-node]').count()).toBe(1);
      expect(page.url()).toContain('q=pay');
      await page.locator('input[name="filter"]').fill('');
      await expect.poll(() => graph.locator('[data-node]').count()).toBe(7);
      // The table toggle keeps the previous picture.
      await page.getByRole('button', { name: 'Table', exact: true }).click();
      await page.locator('[data-zone="zone-c"] [data-service="payments"][data-health="healthy"]').waitFor();
      await page.locator('[data-edge="checkout>payments"]').waitFor();
      await page.getByTestId('event-flows').getByText('shop.order.placed.v1').waitFor();
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `topology-table-demo-${scheme}.png`), fullPage: true });
      await page.getByRole('button', { name: 'Graph', exact: true }).click();
      // Select a service: its side panel lists every instance, and the selection is in the URL.
      await graph.locator('[data-service="payments"]').click();
      const panel = page.getByTestId('service-panel');
      await expect.poll(() => panel.locator('[data-instance]').count()).toBe(3);
      expect(await panel.locator('[data-instance="payments-a-1"]').getAttribute('data-state')).toBe('healthy');
      expect(page.url()).toContain('service=payments');
      // Focus: the service and its direct neighbours only.
      await page.getByRole('button', { name: 'Focus on payments' }).click();
      await expect.poll(async () => (await graph.locator('[data-node]').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')))).sort().join(',')).toBe('checkout,notifications,payments');
      await panel.getByTestId('traffic-chart').waitFor({ timeout: 15_000 });
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `topology-demo-panel-${scheme}.png`) });
      // An event edge has a panel too: its event types with their exchange and queue, and the broker's figures for the queue.
      await page.getByRole('button', { name: 'Show the whole mesh' }).click();
      await expect.poll(() => graph.locator('[data-node]').count()).toBe(7);
      const events = graph.locator('[data-event-edge="checkout>inventory"]');
      await clickEdge(page, events);
      const edgePanel = page.getByTestId('edge-panel');
      await edgePanel.waitFor();
      expect(await edgePanel.getAttribute('data-edge-kind')).toBe('event');
      expect(await page.getByTestId('service-panel').count()).toBe(0);
      const types = edgePanel.getByTestId('edge-event-types');
      await types.getByText('shop.order.placed.v1').waitFor();
      const queue = CONSUMERS.inventory!.queue;
      expect(await types.textContent()).toContain(queue);
      await expect.poll(() => edgePanel.locator('[data-figure="msgs"]').textContent(), { timeout: 15_000 }).toMatch(/^[1-9][\d.]*k?\/s$/);
      await edgePanel.getByTestId('edge-queues').getByText(queue, { exact: true }).waitFor({ timeout: 20_000 });
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `edge-panel-event-demo-${scheme}.png`) });
      // The table view's edge rows open an HTTP edge's panel.
      await page.getByRole('button', { name: 'Table', exact: true }).click();
      await page.getByRole('button', { name: 'Open the edge checkout → payments' }).click();
      await expect.poll(() => edgePanel.getAttribute('data-edge-kind')).toBe('http');
      await edgePanel.locator('[data-figure="rps"]').waitFor();
      await page.getByRole('button', { name: 'Graph', exact: true }).click();
      // The external clients' node has a panel: their traffic into the mesh, each edge opening its own panel.
      await graph.locator('[data-node="external"]').click();
      const external = page.getByTestId('external-panel');
      await expect.poll(() => external.locator('[data-figure="rps"]').textContent(), { timeout: 15_000 }).toMatch(/^[1-9][\d.]*k?\/s$/);
      expect(page.url()).toContain('service=external');
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `external-panel-demo-${scheme}.png`) });
      await external.getByRole('button', { name: 'Open the edge external → gateway' }).click();
      await expect.poll(() => edgePanel.getAttribute('data-edge-kind')).toBe('http');
      expect(await external.count()).toBe(0);
      expect(problems).toEqual([]);
      await context.close();
    }
  }, 120_000);

  it('drains an instance from the console, shows the acknowledgement and the blast radius, and undoes it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    await page.goto(consoleUrl);
    await page.goto(`${baseUrl}/#/topology?service=payments`);
    const panel = page.getByTestId('service-panel');
    await panel.locator('[data-instance="payments-b-1"] button', { hasText: 'Drain' }).click();
    const dialog = page.getByTestId('action-dialog');
    await expect.poll(() => dialog.getByTestId('blast-radius').textContent()).toContain('1 of 3');
    await dialog.locator('input[name="reason"]').fill('e2e drill');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => dialog.getByTestId('action-progress').textContent(), { timeout: 15_000 }).toContain('1/1 acknowledged');
    expect(await dialog.locator('[data-ack="payments-b-1"]').getAttribute('data-status')).toBe('applied');
    await page.screenshot({ path: join(REPO_ROOT, 'test-results', 'action-drain-dark.png') });
    // Drained: the registry says so, and the endpoint set carries it to every caller.
    await eventually(async () => {
      const list = (await api('mesh.instances', { service: 'payments' })) as Array<{ instanceId: string; state: string }>;
      return list.find((i) => i.instanceId === 'payments-b-1')?.state === 'draining';
    }, 'payments-b-1 draining', 15_000, 250);
    await dialog.getByRole('button', { name: 'Undo' }).click();
    await expect.poll(() => dialog.getByTestId('undo-progress').textContent(), { timeout: 15_000 }).toContain('1/1 acknowledged');
    await eventually(async () => {
      const list = (await api('mesh.instances', { service: 'payments' })) as Array<{ instanceId: string; state: string }>;
      return list.find((i) => i.instanceId === 'payments-b-1')?.state === 'healthy';
    }, 'payments-b-1 back to healthy', 15_000, 250);
    const audit = (await api('control.audit', { service: 'payments' })) as { entries: Array<{ action: string; reason: string; origin: string }> };
    expect(audit.entries.some((e) => e.action === 'drain' && e.reason === 'e2e drill' && e.origin === 'operator')).toBe(true);
    await context.close();
  });

  it('explains an ejected instance: its state on the graph and in the panel, the decision in words, the evidence and the history', async () => {
    // Every payments instance fails every request: failover ejects as many as its cap allows (1 of 3).
    expect(fault('errors', 'payments', '--share', '1', '--for', '90').status).toBe(0);
    const held = await eventually(async () => {
      const list = (await api('mesh.instances', { service: 'payments' })) as Array<{ instanceId: string; failover: { state: string } | null; lastTransition: { evidence: { rule: string } } | null }>;
      return list.find((x) => x.failover && x.lastTransition) ?? null;
    }, 'a payments instance held out by failover', 30_000, 250);
    const id = held.instanceId;
    for (const scheme of ['dark', 'light'] as const) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: scheme });
      const page = await context.newPage();
      await page.goto(consoleUrl);
      await page.goto(`${baseUrl}/#/topology?service=payments&expand=payments`);
      const graph = page.getByTestId('topology-graph');
      await graph.locator(`[data-graph-instance="${id}"][data-condition="ejected"], [data-graph-instance="${id}"][data-condition="probing"]`).waitFor({ timeout: 15_000 });
      const panel = page.getByTestId('service-panel');
      const row = panel.locator(`[data-instance="${id}"]`);
      await expect.poll(() => row.getAttribute('data-condition'), { timeout: 15_000 }).toMatch(/^(ejected|probing)$/);
      const evidence = panel.locator(`[data-instance-evidence="${id}"]`);
      await expect.poll(() => evidence.locator('.evidence-sentence').textContent()).toMatch(/^(ejected \d\d:\d\d:\d\d.* — .*(threshold|failed)|probing since \d\d:\d\d:\d\d at [\d.]+ % traffic — )/);
      await evidence.getByTestId('evidence-details').locator('summary').click();
      await expect.poll(() => evidence.getByTestId('evidence-details').textContent()).toContain('threshold');
      await evidence.getByTestId('instance-history').locator('summary').click();
      // The first decision is there with its reason: a streak of failures over the threshold.
      await expect.poll(() => evidence.locator('li[data-source="failover"]').allTextContents(), { timeout: 15_000 }).toContainEqual(expect.stringMatching(/ejected .* — \d+ consecutive .*\(threshold \d+\)/));
      await evidence.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `evidence-ejected-${scheme}.png`) });
      await context.close();
    }
    expect(fault('clear').status).toBe(0);
  }, 120_000);

  it('charts the traffic of an edge, with its loading, error and no-data states', async () => {
    for (const scheme of ['dark', 'light'] as const) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: scheme });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(err.message));
      // Hold telemetry answers until released, or answer them with an error: the chart says so.
      let mode: 'pass' | 'hold' | 'fail' = 'pass';
      const held: Array<() => void> = [];
      await page.routeWebSocket(/\/api\/ws/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((message) => {
          const frame = JSON.parse(String(message)) as { t: string; id?: number; method?: string };
          if (frame.t === 'call' && frame.method === 'telemetry.series' && mode !== 'pass') {
            if (mode === 'fail') ws.send(JSON.stringify({ t: 'result', id: frame.id, ok: false, error: { code: 'UNAVAILABLE', message: 'telemetry history is not available', issues: [] } }));
            else held.push(() => server.send(message));
            return;
          }
          server.send(message);
        });
      });
      await page.goto(consoleUrl);
      mode = 'hold';
      await page.goto(`${baseUrl}/#/traffic?edge=checkout%3Epayments&range=15m`);
      await page.locator('[data-testid="chart-state"][data-state="loading"]').waitFor();
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `traffic-loading-${scheme}.png`) });
      mode = 'pass';
      for (const release of held.splice(0)) release();
      const chart = page.getByTestId('traffic-chart');
      await chart.waitFor({ timeout: 15_000 });
      expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThan(10);
      await chart.locator('.recharts-area-curve').first().waitFor();
      expect(await chart.locator('.recharts-line-curve').count()).toBe(4); // errors, p50, p95, p99
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `traffic-demo-${scheme}.png`) });
      // Live: the last five minutes, at 1 s.
      await page.locator('button[data-range="live"]').click();
      await expect.poll(() => chart.getAttribute('data-resolution')).toBe('1s');
      // Nothing recorded for an edge that never carried traffic.
      await page.goto(`${baseUrl}/#/traffic?edge=nobody%3Enothing&range=1h`);
      await page.locator('[data-testid="chart-state"][data-state="no-data"]').getByText('No traffic recorded for nobody → nothing').waitFor();
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `traffic-no-data-${scheme}.png`) });
      mode = 'fail';
      await page.locator('button[data-range="6h"]').click();
      const failed = page.locator('[data-testid="chart-state"][data-state="error"]');
      await failed.getByText('telemetry history is not available').waitFor();
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `traffic-error-${scheme}.png`) });
      mode = 'pass';
      await failed.getByRole('button', { name: 'Try again' }).click();
      await page.locator('[data-testid="chart-state"][data-state="no-data"]').waitFor();
      expect(problems).toEqual([]);
      await context.close();
    }
  }, 120_000);

  it('an errors fault on payments shows up as errors on checkout → payments', async () => {
    const result = fault('errors', 'payments', '--share', '1', '--for', '20');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('errors fault on every instance of payments');
    const edge = await eventually(async () => {
      const list = (await api('mesh.edges', { spanSeconds: 3 })) as Array<{ from: string; to: string; errorRate: number }>;
      const e = list.find((x) => x.from === 'checkout' && x.to === 'payments');
      return e && e.errorRate > 0.5 ? e : null;
    }, 'errors on checkout → payments', 20_000, 250);
    expect(edge.errorRate).toBeGreaterThan(0.5);
    expect(fault('clear').status).toBe(0);
    await eventually(async () => {
      const list = (await api('mesh.edges', { spanSeconds: 2 })) as Array<{ from: string; to: string; errorRate: number; requests: number }>;
      const e = list.find((x) => x.from === 'checkout' && x.to === 'payments');
      return e && e.requests > 0 && e.errorRate === 0;
    }, 'errors gone after clear', 20_000, 250);
  });

  it('killing an instance marks it down, and the mesh keeps serving', async () => {
    const result = fault('kill', 'inventory-a-1');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('killed inventory-a-1');
    await eventually(async () => {
      const list = (await api('mesh.instances', { service: 'inventory' })) as Array<{ instanceId: string; state: string }>;
      return list.find((i) => i.instanceId === 'inventory-a-1')?.state === 'down';
    }, 'inventory-a-1 down', 15_000, 250);
    const healthy = (await api('mesh.instances', { service: 'inventory', healthyOnly: true })) as Array<{ instanceId: string }>;
    expect(healthy.map((i) => i.instanceId).sort()).toEqual(['inventory-b-1', 'inventory-c-1']);
    const res = await fetch(`${baseUrl}/healthz`);
    expect(res.status).toBe(200);
  });

  it('refuses a fault for something the demo does not have', () => {
    const result = fault('errors', 'no-such-service');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('"no-such-service" is neither an instance nor a service of the demo');
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    demo.kill('SIGTERM');
    expect(await exited).toBe(0);
    const left = spawnSync('pgrep', ['-f', `demo instance .*${vhost.name}`], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
  });
});
