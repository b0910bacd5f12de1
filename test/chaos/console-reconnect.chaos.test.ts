/**
 * The console's own page through a broker restart and a crash of the headless host, in Chromium,
 * on a private RabbitMQ node (test/support/private-broker.ts; the shared node is never stopped).
 *
 * `meshdeck serve` runs on the private node with a mesh agent beating. The page is opened once
 * and never reloaded:
 * - the broker's application stops: the page shows the command-line connection reconnecting (with
 *   its attempt count) in its card and in the top bar; the broker starts again: both show it
 *   connected, and a service that joined while the page watched appears, so live data flows again;
 * - the headless host is killed (SIGKILL) and started again on the same port, database and token:
 *   the page says the console link is down, then reconnects on its own, shows the connection
 *   connected again, and a service that joined while the host was down appears (the core reads
 *   the registry stream from its stored offset).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshAgent } from '../../agent/sdk/mesh-agent.js';
import { silentLogger } from '../../core/lib/log.js';
import { launchChromium } from '../support/chromium.js';
import { freePort } from '../support/mesh.js';
import { PrivateBroker } from '../support/private-broker.js';
import { startServe, type ServedConsole } from '../support/serve.js';

const run = Math.random().toString(36).slice(2, 8);
let broker: PrivateBroker | undefined;
let served: ServedConsole | undefined;
let browser: Browser | undefined;
let dir = '';
const agents: MeshAgent[] = [];

async function agent(service: string): Promise<MeshAgent> {
  const a = new MeshAgent({ broker: broker!.url, service, zone: 'zone-a', address: '127.0.0.1:1', agent: 'sdk', heartbeatIntervalMs: 500, telemetryIntervalMs: 1000, logger: silentLogger });
  agents.push(a);
  await a.start();
  return a;
}

beforeAll(async () => {
  broker = await PrivateBroker.start();
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-console-'));
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await served?.stop();
  await broker?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

const cliStatus = (page: Page, status: string) => page.locator(`article[data-profile$="(command line)"] [data-status="${status}"]`);
const topbarStatus = (page: Page, status: string) => page.getByTestId('topbar-broker').locator(`[data-status="${status}"]`);

describe('chaos: the console page through a broker restart and a host crash', () => {
  it('shows each outage while it lasts and comes back live on its own, without a reload', async () => {
    const b = broker!;
    const port = await freePort();
    const token = `chaos-${run}-${Date.now()}`;
    const dbPath = join(dir, 'meshdeck.db');
    // The private node runs no management plugin: --management names a port where none answers
    // (by default a local broker's is taken at :15672, the shared node's here).
    const management = `http://127.0.0.1:${await freePort()}`;
    const serve = () => startServe({ broker: b.url, port, token, dbPath, args: ['--management', management], env: { MESHDECK_SECRET_KEY: 'chaos secret passphrase' } });
    served = await serve();
    await agent(`rc-first-${run}`);

    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    let loads = 0;
    page.on('load', () => (loads += 1));
    await page.goto(served.consoleUrl);
    await cliStatus(page, 'connected').waitFor({ timeout: 30_000 });
    await topbarStatus(page, 'connected').waitFor();
    // No management API: the Incidents view says the queue rules hold, and why.
    await page.getByRole('link', { name: 'Incidents' }).click();
    await expect.poll(() => page.getByTestId('queue-rules-on-hold').textContent(), { timeout: 30_000 }).toMatch(/^Queue rules on hold( for [^:]+)?: .*management/i);
    await page.getByRole('link', { name: 'Topology' }).click();
    const graph = page.getByTestId('topology-graph');
    await graph.locator(`[data-service="rc-first-${run}"]`).waitFor({ timeout: 30_000 });

    // 1. The broker's application stops and starts again.
    const ms: Record<string, number> = {};
    let t = Date.now();
    await b.stopApp();
    await topbarStatus(page, 'reconnecting').waitFor({ timeout: 30_000 });
    ms.brokerDownShown = Date.now() - t;
    await page.getByRole('link', { name: 'Connections' }).click();
    const card = cliStatus(page, 'reconnecting');
    await card.waitFor({ timeout: 30_000 });
    await expect.poll(() => card.textContent(), { timeout: 30_000 }).toMatch(/Reconnecting · attempt [2-9]/);
    await b.startApp();
    t = b.acceptingSince;
    await cliStatus(page, 'connected').waitFor({ timeout: 60_000 });
    ms.brokerBackShown = Date.now() - t;
    await topbarStatus(page, 'connected').waitFor();
    await agent(`rc-after-broker-${run}`);
    await page.getByRole('link', { name: 'Topology' }).click();
    await graph.locator(`[data-service="rc-after-broker-${run}"]`).waitFor({ timeout: 30_000 });

    // 2. The headless host is killed; a service joins while it is down; the host starts again.
    const host = served.process;
    const exited = new Promise((resolve) => host.once('exit', resolve));
    t = Date.now();
    host.kill('SIGKILL');
    await exited;
    await page.getByRole('alert').filter({ hasText: 'Console link down' }).waitFor({ timeout: 30_000 });
    ms.hostDownShown = Date.now() - t;
    await agent(`rc-while-host-down-${run}`);
    served = await serve();
    t = Date.now();
    await page.getByRole('alert').filter({ hasText: 'Console link down' }).waitFor({ state: 'detached', timeout: 30_000 });
    ms.hostBackShown = Date.now() - t;
    await topbarStatus(page, 'connected').waitFor({ timeout: 30_000 });
    await graph.locator(`[data-service="rc-while-host-down-${run}"]`).waitFor({ timeout: 30_000 });
    for (const service of [`rc-first-${run}`, `rc-after-broker-${run}`]) await graph.locator(`[data-service="${service}"]`).waitFor();

    await page.screenshot({ path: join('test-results', 'chaos-console-reconnected.png') });
    expect(loads).toBe(1); // never reloaded
    expect(problems).toEqual([]);
    console.info(`chaos console: ${JSON.stringify(ms)} (ms: broker stopped → page shows reconnecting; broker accepting → page shows connected; host killed → page shows the link down; host listening → link back)`);
  }, 240_000);
});
