/**
 * The `meshdeck` command: the headless console, the data-plane sidecar, the edge gateway and the
 * demo mesh.
 */
import { fileURLToPath } from 'node:url';
import { MESHDECK_VERSION } from '../core/version.js';
import { serve, SERVE_USAGE } from './serve.js';
import { sidecar, SIDECAR_USAGE } from './sidecar.js';
import { gateway, GATEWAY_USAGE } from './gateway.js';
import { demo, DEMO_USAGE } from './demo.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; summary: string }> = {
  serve: { run: serve, summary: 'the headless console: mesh control core, web UI and API' },
  sidecar: { run: sidecar, summary: 'the data-plane proxy in front of one service instance' },
  gateway: { run: gateway, summary: 'the edge gateway: routes outside traffic to mesh services' },
  demo: { run: demo, summary: 'a demo mesh on the local broker, with load and scripted faults' },
};

export const USAGE = `Meshdeck ${MESHDECK_VERSION} — console for event-driven service meshes

Usage: meshdeck <command> [options]     (meshdeck <command> --help for its options)

${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

  meshdeck --version
`;

export const COMMAND_USAGES = { serve: SERVE_USAGE, sidecar: SIDECAR_USAGE, gateway: GATEWAY_USAGE, demo: DEMO_USAGE };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${MESHDECK_VERSION}\n`);
    return 0;
  }
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`meshdeck: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  return entry.run(rest);
}

const isEntry = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isEntry) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
