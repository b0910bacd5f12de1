/**
 * `meshdeck demo fault <kind> <target>`: scripted faults against a running demo.
 *
 *   kill <instance|service>        SIGKILL one instance process (the demo restarts it later)
 *   latency <instance|service>     add --ms of delay to a --share of requests, for --for seconds
 *   errors <instance|service>      answer a --share of requests with --status, for --for seconds
 *   partition <zone>               freeze every instance of a zone (SIGSTOP) for --for seconds
 *   backlog <service>              pause a service's event consumers so its queue backs up
 *   clear                          undo everything above that is still active
 *
 * latency and errors are operator actions on the demo's console (signed, audited and undoable
 * like any drill); the others act on the processes, as real failures do.
 */
import { CLI_PROFILE_ID } from '../core/bus/profiles.js';
import type { ControlAction } from '../core/protocol/messages.js';
import { readDemoState, type DemoInstanceState, type DemoState } from './state.js';

export const FAULT_KINDS = ['kill', 'latency', 'errors', 'partition', 'backlog', 'clear'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultOptions {
  kind: FaultKind;
  target: string | undefined;
  forSeconds: number;
  ms: number;
  share: number;
  status: number;
  /** Waits for --for and then undoes partition/backlog; false returns at once (tests). */
  hold: boolean;
  print: (line: string) => void;
}

export class FaultError extends Error {}

function targets(state: DemoState, target: string | undefined, what: string): DemoInstanceState[] {
  if (!target) throw new FaultError(`name the ${what} to hit`);
  const byInstance = state.instances.filter((i) => i.instanceId === target);
  if (byInstance.length) return byInstance;
  const byService = state.instances.filter((i) => i.service === target);
  if (byService.length) return byService;
  const names = [...new Set(state.instances.map((i) => i.service))].join(', ');
  throw new FaultError(`"${target}" is neither an instance nor a service of the demo (services: ${names})`);
}

function signal(instances: DemoInstanceState[], sig: NodeJS.Signals): string[] {
  const hit: string[] = [];
  for (const i of instances) {
    if (i.pid === null) continue;
    try {
      process.kill(i.pid, sig);
      hit.push(i.instanceId);
    } catch {
      // already gone
    }
  }
  return hit;
}

/**
 * Latency and error drills are operator actions on the demo's own console (`control.act`), so
 * they are signed by the leading core like any other command, audited, and undoable there.
 */
async function sendCommands(state: DemoState, commands: Array<{ service: string; instanceId?: string; action: ControlAction; reason: string }>): Promise<string[]> {
  if (!state.consoleUrl) throw new FaultError('latency and error drills go through the demo\u2019s console, and this demo runs without one (--no-console)');
  const url = new URL(state.consoleUrl);
  const token = new URLSearchParams(url.hash.slice(1)).get('token') ?? '';
  const ids: string[] = [];
  for (const c of commands) {
    const target = { service: c.service, ...(c.instanceId ? { instanceId: c.instanceId } : {}) };
    const res = await fetch(`${url.origin}/api/control.act`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ profileId: CLI_PROFILE_ID, target, action: c.action, reason: c.reason }),
    }).catch((err: unknown) => {
      throw new FaultError(`the demo\u2019s console at ${url.origin} does not answer (${err instanceof Error ? err.message : String(err)})`);
    });
    const body = (await res.json()) as { commands?: Array<{ commandId: string }>; message?: string };
    if (!res.ok) throw new FaultError(`the demo\u2019s console refused the drill: ${body.message ?? res.status}`);
    ids.push(...(body.commands ?? []).map((command) => command.commandId));
  }
  return ids;
}

export async function runFault(options: FaultOptions): Promise<void> {
  const state = readDemoState();
  if (!state) throw new FaultError('no demo is running here; start one with `npm run demo` (or `meshdeck demo`)');
  const { print } = options;
  const durationMs = options.forSeconds * 1000;

  switch (options.kind) {
    case 'kill': {
      const [victim] = targets(state, options.target, 'instance or service').filter((i) => i.pid !== null);
      if (!victim) throw new FaultError(`no running instance matches "${options.target}"`);
      signal([victim], 'SIGKILL');
      print(`killed ${victim.instanceId} (pid ${victim.pid}); the demo restarts it after its respawn delay`);
      return;
    }
    case 'latency':
    case 'errors': {
      const hit = targets(state, options.target, 'instance or service');
      const fault =
        options.kind === 'latency'
          ? { share: options.share, delayMs: options.ms, abortStatus: 0, durationMs }
          : { share: options.share, delayMs: 0, abortStatus: options.status, durationMs };
      const single = hit.length === 1 && hit[0]!.instanceId === options.target;
      const ids = await sendCommands(state, [
        { service: hit[0]!.service, ...(single ? { instanceId: hit[0]!.instanceId } : {}), action: { action: 'fault', fault }, reason: `demo fault ${options.kind}` },
      ]);
      print(`${options.kind} fault on ${single ? hit[0]!.instanceId : `every instance of ${hit[0]!.service}`} for ${options.forSeconds} s (command ${ids[0]})`);
      return;
    }
    case 'partition': {
      const zone = options.target;
      const hit = state.instances.filter((i) => i.zone === zone);
      if (!zone || hit.length === 0) throw new FaultError(`name a zone of the demo: ${[...new Set(state.instances.map((i) => i.zone))].join(', ')}`);
      print(`zone ${zone} partitioned: ${signal(hit, 'SIGSTOP').join(', ')}`);
      if (!options.hold) return;
      await holdThenUndo(durationMs, () => print(`zone ${zone} back: ${signal(hit, 'SIGCONT').join(', ')}`));
      return;
    }
    case 'backlog': {
      const hit = targets(state, options.target ?? 'notifications', 'service');
      print(`event consumers paused: ${signal(hit, 'SIGUSR1').join(', ')}`);
      if (!options.hold) return;
      await holdThenUndo(durationMs, () => print(`event consumers resumed: ${signal(hit, 'SIGUSR2').join(', ')}`));
      return;
    }
    case 'clear': {
      signal(state.instances, 'SIGCONT');
      signal(state.instances, 'SIGUSR2');
      const services = [...new Set(state.instances.map((i) => i.service))];
      await sendCommands(state, services.map((service) => ({ service, action: { action: 'clear-fault' }, reason: 'demo fault clear' })));
      print(`cleared: processes resumed, fault commands cleared on ${services.join(', ')}`);
      return;
    }
  }
}

function holdThenUndo(durationMs: number, undo: () => void): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      undo();
      resolve();
    };
    const timer = setTimeout(finish, durationMs);
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
  });
}
