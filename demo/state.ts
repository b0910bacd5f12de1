/** Where a running demo says what it started, so `meshdeck demo fault` can find it. */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { LoadStats } from './loadgen.js';

export interface DemoInstanceState {
  service: string;
  kind: string;
  zone: string;
  instanceId: string;
  port: number;
  pid: number | null;
}

export interface DemoState {
  pid: number;
  broker: string;
  consoleUrl: string | null;
  instances: DemoInstanceState[];
  load: LoadStats | null;
  updatedAt: number;
}

export function demoStatePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.MESHDECK_DEMO_STATE ?? join(tmpdir(), 'meshdeck-demo', 'state.json');
}

export function writeDemoState(state: DemoState, path = demoStatePath()): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(state, null, 2));
  renameSync(temp, path);
}

export function readDemoState(path = demoStatePath()): DemoState | null {
  if (!existsSync(path)) return null;
  const state = JSON.parse(readFileSync(path, 'utf8')) as DemoState;
  try {
    process.kill(state.pid, 0); // is the demo still running?
  } catch {
    return null;
  }
  return state;
}

export function removeDemoState(path = demoStatePath()): void {
  rmSync(path, { force: true });
}
