#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point of the `meshdeck` command: runs the bundled CLI (built by `npm run build`).
// The shebang's flag is HOST_NODE_FLAGS (core/lib/heap.ts): the young generation sized for memory,
// which V8 takes only on the command line. npm's launchers on Windows read it from here too.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../out/cli/meshdeck.js', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('meshdeck: the command line is not built yet. Run: npm run build\n');
  process.exit(1);
}
const { main } = await import(bundle);
process.exit(await main(process.argv.slice(2)));
