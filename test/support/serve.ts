/**
 * Starts the real `meshdeck serve` (the built CLI) as a child process on a free port with a
 * fresh database, and waits for the console URL it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BROKER_URL = process.env.MESHDECK_TEST_BROKER ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface ServedConsole {
  url: string;
  consoleUrl: string;
  token: string;
  dbPath: string;
  process: ChildProcess;
  stderr: () => string;
  /** POST /api/<method> with the token; `profileId` defaults to the command-line profile. Throws on an error status. */
  api(method: string, input?: Record<string, unknown>): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * `dbPath`: an existing database to open (left in place on stop); by default a fresh one, removed
 * on stop. `port` and `token`: to start a console again where a page already points (by default
 * a free port and a new token).
 */
export async function startServe(options: { args?: string[]; env?: Record<string, string>; broker?: string; dbPath?: string; port?: number; token?: string } = {}): Promise<ServedConsole> {
  const dir = options.dbPath ? null : mkdtempSync(join(tmpdir(), 'meshdeck-e2e-'));
  const dbPath = options.dbPath ?? join(dir!, 'meshdeck.db');
  const token = options.token ?? `e2e-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const child = spawn(
    process.execPath,
    // MESHDECK_SERVE_NODE_ARGS: extra Node flags for the served console (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it in a bench).
    [...(process.env.MESHDECK_SERVE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(REPO_ROOT, 'bin/meshdeck.js'), 'serve', '--port', String(options.port ?? 0), '--db', dbPath, '--broker', options.broker ?? BROKER_URL, ...(options.args ?? [])],
    { env: { ...process.env, MESHDECK_TOKEN: token, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const consoleUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`meshdeck serve printed no URL within 15 s; stderr:\n${stderr}`)), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /Meshdeck console: (\S+)/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`meshdeck serve exited with ${code}; stderr:\n${stderr}`));
    });
  });
  return {
    url: consoleUrl.split('/#')[0] ?? consoleUrl,
    consoleUrl,
    token,
    dbPath,
    process: child,
    stderr: () => stderr,
    async api(method, input = {}) {
      const res = await fetch(`${consoleUrl.split('/#')[0]}/api/${method}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ profileId: 'cli', ...input }),
      });
      if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
