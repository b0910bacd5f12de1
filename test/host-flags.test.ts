/**
 * The hosts start the core's process with HOST_NODE_FLAGS (core/lib/heap.ts), which V8 takes only
 * on the command line or in NODE_OPTIONS: the desktop app on Linux through its launcher, `npm run
 * serve` / `npm run demo` and the memory benchmarks through their npm scripts. This keeps the
 * copies of the flags in those files equal to the constant.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_NODE_FLAGS } from '../core/lib/heap.js';
import { REPO_ROOT } from './support/serve.js';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
const flags = HOST_NODE_FLAGS.join(' ');

describe('the hosts’ Node flags', () => {
  it('are not in the meshdeck command’s shebang, which must start with any env (BusyBox’s has no -S)', () => {
    expect(read('bin/meshdeck.js').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('are what README tells a headless deployment to put in NODE_OPTIONS', () => {
    expect(read('README.md')).toContain(`NODE_OPTIONS="${flags}"`);
  });

  it('are the desktop app’s --js-flags in its Linux launcher', () => {
    expect(read('electron-builder.yml')).toMatch(new RegExp(`^  executableArgs: \\['--js-flags=${flags}'\\]$`, 'm'));
  });

  it('start `npm run serve`, `npm run demo` and the benchmarks that measure the core’s memory and rate', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['serve', 'demo']) expect(scripts[name], name).toMatch(new RegExp(`&& node ${flags} bin/meshdeck\\.js ${name}$`));
    for (const name of ['bench:core-memory', 'bench:mesh-size', 'bench:ingest']) {
      expect(scripts[name], name).toMatch(new RegExp(`&& node ${flags} out/bench/`));
    }
  });
});
