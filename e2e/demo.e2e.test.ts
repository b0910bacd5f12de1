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
import { launchChromium } from '../test/support/chromium';
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

  it('shows the living mesh in the console', async () => {
    mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
    for (const scheme of ['dark', 'light'] as const) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, colorScheme: scheme });
      const page = await context.newPage();
      await page.goto(consoleUrl);
      await page.getByRole('link', { name: 'Topology' }).click();
      await page.locator('[data-zone="zone-c"] [data-service="payments"][data-health="healthy"]').waitFor();
      await page.locator('[data-edge="checkout>payments"]').waitFor();
      await page.getByTestId('event-flows').getByText('shop.order.placed.v1').waitFor();
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `topology-demo-${scheme}.png`), fullPage: true });
      // Select a service: its side panel lists every instance, and the selection is in the URL.
      await page.locator('[data-zone="zone-a"] [data-service="payments"]').click();
      const panel = page.getByTestId('service-panel');
      await expect.poll(() => panel.locator('[data-instance]').count()).toBe(3);
      expect(await panel.locator('[data-instance="payments-a-1"]').getAttribute('data-state')).toBe('healthy');
      expect(page.url()).toContain('service=payments');
      await page.screenshot({ path: join(REPO_ROOT, 'test-results', `topology-demo-panel-${scheme}.png`) });
      await context.close();
    }
  });

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
