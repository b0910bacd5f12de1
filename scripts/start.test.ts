import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./start.js', import.meta.url));

function run(env: Record<string, string | undefined>) {
  const clean = { ...process.env };
  delete clean.DISPLAY;
  delete clean.WAYLAND_DISPLAY;
  return spawnSync(process.execPath, [script], { env: { ...clean, ...env } as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 60_000 });
}

describe('npm start where Electron cannot run', () => {
  it.runIf(process.platform === 'linux')('says so in one line and points to npm run serve when there is no display', () => {
    const result = run({});
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Meshdeck: cannot start the desktop app here \(no display/);
    expect(lines[0]).toContain('npm run serve');
  });
});
