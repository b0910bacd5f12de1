/**
 * The built `meshdeck gateway` as users run it: argument and routes-file errors (exit 2), and a
 * running gateway process that reloads its routes file on SIGHUP, keeping the routes in use when
 * the new file is invalid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort } from '../test/support/mesh.js';
import { REPO_ROOT } from '../test/support/serve.js';
import { createTestVhost, type TestVhost } from '../test/support/vhost.js';

const BIN = join(REPO_ROOT, 'bin/meshdeck.js');
// A vhost of its own, so its gateway never shows up in another suite's mesh.
let vhost: TestVhost;
let BROKER: string;
const run = randomUUID().slice(0, 6);
let dir: string;

beforeAll(() => {
  vhost = createTestVhost('meshdeck-cli-gateway');
  BROKER = vhost.url;
  if (!existsSync(join(REPO_ROOT, 'out/cli/meshdeck.js'))) throw new Error('the CLI is not built: run `npm run build` (npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-cli-gateway-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  vhost?.remove();
});

const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
const routesFile = (name: string, content: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
};
const route = (name: string) => ({ name, match: { pathPrefix: `/${name}` }, service: `nowhere-${run}` });

describe('meshdeck gateway', () => {
  it('prints its usage and is listed by meshdeck --help', () => {
    const help = cli('gateway', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: meshdeck gateway --listen PORT --routes FILE');
    expect(cli('--help').stdout).toMatch(/^ {2}gateway +the edge gateway/m);
  });

  it('refuses bad arguments with exit code 2', () => {
    const ok = routesFile('ok.json', { routes: [route('a')] });
    const cases: Array<[string[], string]> = [
      [['--routes', ok], '--listen is required'],
      [['--listen', '8080'], '--routes is required'],
      [['--listen', '0', '--routes', ok], '--listen must be 1..65535'],
      [['--listen', '8080', '--routes', ok, '--zone', 'Zone A'], '--zone "Zone A"'],
      [['--listen', '8080', '--routes', ok, '--balancer', 'random'], '--balancer must be one of'],
      [['--listen', '8080', '--routes', ok, '--attempts', '0'], '--attempts must be an integer 1..10'],
      [['--listen', '8080', '--routes', ok, '--service', 'Edge'], '--service "Edge"'],
      [['--listen', '8080', '--routes', ok, '--frobnicate'], "Unknown option '--frobnicate'"],
    ];
    for (const [args, message] of cases) {
      const result = cli('gateway', ...args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(message);
    }
  });

  it('refuses a routes file that does not parse, naming the file and the field', () => {
    const bad = routesFile('bad.json', { routes: [route('a'), route('b'), { name: 'c', match: { pathPrefix: '/c' }, split: [{ service: 'c', weight: -1 }] }] });
    const result = cli('gateway', '--listen', '8080', '--routes', bad);
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toBe(`meshdeck: routes file ${bad} is not a valid routes file:\n  routes[2].split[0].weight: Too small: expected number to be >=0\n`);

    const syntax = cli('gateway', '--listen', '8080', '--routes', routesFile('syntax.json', '{ "routes": [ }'));
    expect(syntax.status).toBe(2);
    expect(syntax.stderr).toMatch(/routes file .*syntax\.json is not valid JSON/);

    const yaml = cli('gateway', '--listen', '8080', '--routes', routesFile('routes.yaml', 'routes: []'));
    expect(yaml.status).toBe(2);
    expect(yaml.stderr).toContain('must be a .json file');
  });

  it('reloads the routes file on SIGHUP and keeps the old routes when the new file is invalid', async () => {
    const file = routesFile('live.json', { routes: [route('first')] });
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [BIN, 'gateway', '--listen', String(port), '--routes', file, '--broker', BROKER, '--service', `gw-cli-${run}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const routeOf = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      await res.arrayBuffer();
      return res.status === 404 ? 'none' : res.headers.get('x-meshdeck-route');
    };
    try {
      await eventually(() => stdout.includes('Meshdeck gateway:'), 'gateway started', 15_000);
      expect(stdout).toContain('1 route(s)');
      // The service has no endpoints: 503, but the route header shows which route matched.
      expect(await routeOf('/first/x')).toBe('first');
      expect(await routeOf('/second/x')).toBe('none');

      writeFileSync(file, JSON.stringify({ routes: [route('first'), { name: 'second', match: { pathPrefix: 'no-slash' }, service: 'x' }] }));
      child.kill('SIGHUP');
      await eventually(() => stderr.includes('routes not reloaded'), 'reload refused');
      expect(stderr).toContain('routes[1].match.pathPrefix');
      expect(await routeOf('/first/x')).toBe('first');

      writeFileSync(file, JSON.stringify({ routes: [route('second'), route('first')] }));
      child.kill('SIGHUP');
      await eventually(() => stdout.includes('reloaded 2 route(s)'), 'reloaded');
      expect(await routeOf('/second/x')).toBe('second');
      expect(await routeOf('/first/x')).toBe('first');
      expect(child.exitCode).toBeNull();

      child.kill('SIGTERM');
      await eventually(() => child.exitCode !== null, 'gateway exited');
      expect(child.exitCode).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
