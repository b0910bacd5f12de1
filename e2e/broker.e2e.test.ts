/**
 * End to end: the Broker view of the built `meshdeck serve`, reading the real broker's
 * management API, lists the queue this test declared, and the search box filters it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { Connection, type Consumer } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../test/support/chromium';
import { REPO_ROOT, startServe, type ServedConsole } from '../test/support/serve';
import { createTestVhost, type TestVhost } from '../test/support/vhost';

const SHOTS = join(REPO_ROOT, 'test-results');
let served: ServedConsole;
let browser: Browser;
let vhost: TestVhost;
let amqp: Connection;
let consumer: Consumer;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  vhost = createTestVhost('meshdeck-e2e-broker');
  amqp = new Connection({ url: vhost.url, connectionName: 'meshdeck-sdk:orders/orders-1', retryLow: 100, retryHigh: 500 });
  await amqp.exchangeDeclare({ exchange: 'shop.events', type: 'topic', durable: true });
  await amqp.queueDeclare({ queue: 'shop.orders.placed', durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await amqp.queueDeclare({ queue: 'shop.audit', durable: true });
  await amqp.queueBind({ queue: 'shop.orders.placed', exchange: 'shop.events', routingKey: 'order.placed' });
  await amqp.queueBind({ queue: 'shop.audit', exchange: 'shop.events', routingKey: '#' });
  consumer = amqp.createConsumer(
    { queue: 'shop.orders.placed', queueOptions: { durable: true, arguments: { 'x-queue-type': 'quorum' } } },
    () => undefined,
  );
  await new Promise<void>((resolve, reject) => {
    consumer.once('ready', () => resolve());
    consumer.once('error', reject);
  });
  served = await startServe({ broker: vhost.url, env: { MESHDECK_SECRET_KEY: 'e2e secret passphrase' } });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  await consumer?.close();
  await amqp?.close();
  vhost?.remove();
});

describe('Broker view', () => {
  it.each(['dark', 'light'] as const)('lists the declared queue with its type and consumer, and search filters it (%s)', async (colorScheme) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(served.consoleUrl);
    await page.locator('article[data-profile$="(command line)"] [data-status="connected"]').waitFor();

    await page.getByRole('link', { name: 'Broker' }).click();
    const queues = page.getByTestId('broker-queues');
    const placed = queues.locator('tr[data-row="shop.orders.placed"]');
    await placed.waitFor({ timeout: 20_000 });
    await expect.poll(() => placed.locator('td').nth(1).textContent()).toBe('quorum');
    // The consumer count comes from the broker's statistics (refreshed every few seconds).
    await expect.poll(() => placed.locator('td').nth(4).textContent(), { timeout: 20_000 }).toBe('1');
    await expect.poll(() => page.getByTestId('broker-consumers').locator('tbody').textContent(), { timeout: 20_000 }).toContain('orders / orders-1');
    expect(await queues.locator('tr[data-row="shop.audit"]').count()).toBe(1);

    await page.getByTestId('broker-search').fill('orders.placed');
    await expect.poll(() => queues.locator('tbody tr').count()).toBe(1);
    expect(await queues.locator('tbody tr').first().getAttribute('data-row')).toBe('shop.orders.placed');
    expect(await queues.locator('tr[data-row="shop.audit"]').count()).toBe(0);

    // A click on the sorted Name column reverses the order.
    await page.getByTestId('broker-search').fill('shop.');
    await expect.poll(() => queues.locator('tbody tr').count()).toBe(2);
    await queues.locator('button[data-sort="name"]').click();
    expect(await queues.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-row')))).toEqual([
      'shop.orders.placed',
      'shop.audit',
    ]);
    await page.getByTestId('broker-search').fill('orders');
    await page.screenshot({ path: join(SHOTS, `broker-${colorScheme}.png`), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
