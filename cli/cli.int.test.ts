/**
 * The built `meshdeck` command as users run it: argument errors, and a sidecar process that is
 * SIGKILLed leaves the mesh by heartbeat expiry.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCore, type MeshCore } from '../core/app.js';
import { HEAP_GROWING_PERCENT, HOST_NODE_FLAGS, MAIN_SEMI_SPACE_MB } from '../core/lib/heap.js';
import { silentLogger } from '../core/lib/log.js';
import { memorySecretStore } from '../core/secrets/secret-store.js';
import { eventually, freePort, startEchoService, type EchoService } from '../test/support/mesh.js';
import { createTestVhost, type TestVhost } from '../test/support/vhost.js';
import { REPO_ROOT } from '../test/support/serve.js';

const BIN = join(REPO_ROOT, 'bin/meshdeck.js');
// Each suite gets a vhost of its own: it sees only the mesh it starts.
let vhost: TestVhost;
let BROKER: string;
let dir: string;
let core: MeshCore;
let echo: EchoService;

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-cli');
  BROKER = vhost.url;
  if (!existsSync(join(REPO_ROOT, 'out/cli/meshdeck.js'))) throw new Error('the CLI is not built: run `npm run build` (npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-cli-'));
  core = createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('test'), logger: silentLogger, host: 'headless', commandLineBroker: BROKER });
  await eventually(() => core.meshes.get('cli')?.active, 'core mesh running');
  echo = await startEchoService('svc');
});

afterAll(async () => {
  await echo?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
  vhost?.remove();
});

const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });

describe('meshdeck command line', () => {
  it('lists its commands and prints its version', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('serve');
    expect(help.stdout).toContain('sidecar');
    expect(run('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  /** The `heap sizing` line of `meshdeck serve` started as an installed command is (the file itself, through its shebang), with NODE_OPTIONS as given. */
  async function heapSizingOfServe(nodeOptions: string | undefined): Promise<Record<string, unknown>> {
    const env: NodeJS.ProcessEnv = { ...process.env, MESHDECK_TOKEN: `heap-${randomUUID()}` };
    if (nodeOptions === undefined) delete env.NODE_OPTIONS;
    else env.NODE_OPTIONS = nodeOptions;
    const child = spawn(BIN, ['serve', '--broker', 'none', '--port', '0', '--db', join(dir, `heap-${randomUUID()}.db`)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let line: string | undefined;
    try {
      line = await eventually(() => stderr.split('\n').find((l) => l.includes('"heap sizing"')), 'heap sizing logged');
      // Stopped once it serves (its signal handlers installed), so that it shuts down as asked.
      await eventually(() => stdout.includes('Meshdeck console:'), 'console URL printed');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    return JSON.parse(line) as Record<string, unknown>;
  }

  it('serve runs with the hosts’ young generation when NODE_OPTIONS has their flags, and says how to get it when not', async () => {
    const capped = await heapSizingOfServe(HOST_NODE_FLAGS.join(' '));
    expect(capped).toMatchObject({ level: 'info', growingPercent: HEAP_GROWING_PERCENT, semiSpaceMb: MAIN_SEMI_SPACE_MB });
    expect(capped).not.toHaveProperty('hint');
    const plain = await heapSizingOfServe(undefined);
    expect(plain).toMatchObject({ level: 'info', semiSpaceMb: null });
    expect(plain.hint).toContain(`NODE_OPTIONS="${HOST_NODE_FLAGS.join(' ')}"`);
  });

  it('refuses bad sidecar arguments with a clear message and exit code 2', () => {
    const missing = run('sidecar', '--zone', 'z', '--listen', '9000', '--upstream', 'http://127.0.0.1:1');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--service is required');
    const bad = run('sidecar', '--service', 'Bad.Name', '--zone', 'z', '--listen', '9000', '--upstream', 'http://127.0.0.1:1');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--service "Bad.Name"');
    const port = run('sidecar', '--service', 'ok', '--zone', 'z', '--listen', '99999', '--upstream', 'http://127.0.0.1:1');
    expect(port.stderr).toContain('--listen must be 1..65535');
    expect(run('frobnicate').status).toBe(2);
  });

  it('the demo says when no broker answers, and how to start one', () => {
    const result = run('demo', '--broker', 'amqp://guest:guest@127.0.0.1:1', '--no-console');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('No RabbitMQ broker answers at amqp://guest:***@127.0.0.1:1');
    expect(result.stderr).toContain('ECONNREFUSED');
    expect(result.stderr).toContain('sudo apt install rabbitmq-server');
    expect(result.stderr).toContain('docker run -d --name rabbitmq');
  });

  it('a SIGKILLed sidecar process leaves the mesh by heartbeat expiry', async () => {
    const service = `killed-${randomUUID().slice(0, 6)}`;
    const instanceId = `${service}-1`;
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [BIN, 'sidecar', '--service', service, '--zone', 'zone-a', '--listen', String(port), '--upstream', echo.url, '--broker', BROKER, '--instance-id', instanceId],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const mesh = core.meshes.get('cli')!;
      await eventually(() => mesh.registry.get(service, instanceId)?.state === 'healthy', 'sidecar process registered', 15_000);
      const res = await fetch(`http://127.0.0.1:${port}/hello`);
      expect(await res.text()).toBe('svc:/hello');
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await eventually(() => mesh.registry.get(service, instanceId)?.state === 'down', 'marked down', 15_000);
      // Default heartbeat 1 s, 3 missed: down after 3 s and within one sweep more.
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2500);
      expect(mesh.registry.endpoints(service).endpoints).toEqual([expect.objectContaining({ instanceId, state: 'down' })]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
