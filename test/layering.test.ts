/**
 * The import-boundary lint rule really fails the build on a wrong import (and lets right ones
 * through). Uses ESLint's API with the project's own eslint.config.js.
 */
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: root });
});

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering rule', () => {
  it.each([
    ['core/bus/x.ts', "import { app } from 'electron';\nexport const a = app;"],
    ['core/bus/x.ts', "import { useState } from 'react';\nexport const a = useState;"],
    ['core/bus/x.ts', "import { App } from '../../renderer/src/App';\nexport const a = App;"],
    ['core/bus/x.ts', "import { createMainWindow } from '../../electron/main/window';\nexport const a = createMainWindow;"],
    ['renderer/src/x.ts', "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;"],
    ['renderer/src/x.ts', "import { readFileSync } from 'fs';\nexport const a = readFileSync;"],
    ['renderer/src/x.ts', "import { ipcRenderer } from 'electron';\nexport const a = ipcRenderer;"],
    ['renderer/src/x.ts', "import { ApiRouter } from '../../core/api/router';\nexport const a = ApiRouter;"],
    ['renderer/src/x.ts', "import { openDatabase } from '../../core/store/database';\nexport const a = openDatabase;"],
    ['bench/x.ts', "import { app } from 'electron';\nexport const a = app;"],
    ['core/bus/x.ts', "import { Sidecar } from '../../agent/sidecar/sidecar';\nexport const a = Sidecar;"],
    ['agent/sdk/x.ts', "import { useState } from 'react';\nexport const a = useState;"],
    ['cli/x.ts', "import { app } from 'electron';\nexport const a = app;"],
  ])('refuses %s importing: %s', async (file, code) => {
    expect(await restricted(file, code)).toHaveLength(1);
  });

  it.each([
    ['renderer/src/x.ts', "import type { Profile } from '../../core/api/contract';\nexport type A = Profile;"],
    ['renderer/src/x.ts', "import { WS_PATH } from '../../core/api/wire';\nexport const a = WS_PATH;"],
    ['renderer/src/x.ts', "import { joinLive } from '../../core/api/mesh-live';\nexport const a = joinLive;"],
    ['renderer/src/x.ts', "import { useState } from 'react';\nexport const a = useState;"],
    ['electron/main/x.ts', "import { app } from 'electron';\nexport const a = app;"],
    ['core/bus/x.ts', "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;"],
  ])('allows %s importing: %s', async (file, code) => {
    expect(await restricted(file, code)).toEqual([]);
  });
});
