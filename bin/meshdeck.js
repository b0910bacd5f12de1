#!/usr/bin/env node
// Entry point of the `meshdeck` command: runs the bundled CLI (built by `npm run build`).
// A plain `node` shebang: `env -S node <flags>` would carry HOST_NODE_FLAGS (core/lib/heap.ts), but
// BusyBox's env (Alpine) has no -S and the command would not start. Give the flags with
// NODE_OPTIONS instead (README); `serve` logs whether it runs with them.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../out/cli/meshdeck.js', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('meshdeck: the command line is not built yet. Run: npm run build\n');
  process.exit(1);
}
const { main } = await import(bundle);
process.exit(await main(process.argv.slice(2)));
