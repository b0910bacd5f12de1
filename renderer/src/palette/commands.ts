/**
 * What the command palette offers: every view, the operator actions on each instance (drain,
 * eject, restore: each opens the action dialog with its preview and confirmation), a service in
 * each view, and the console's own commands. Pure: the palette supplies the handlers.
 */
import type { Rankable } from './match';
import { VIEW_KEYS } from './keys';

export type InstanceAction = 'drain' | 'eject' | 'restore';

export interface PaletteCommand extends Rankable {
  id: string;
  group: 'View' | 'Action' | 'Service' | 'Console';
  /** Keys shown beside it (e.g. ["g", "e"]). */
  keys?: string[];
  run: () => void;
}

export interface PaletteInstance {
  service: string;
  instanceId: string;
  /** Registry state (healthy, draining, down) and what automatic failover holds (ejected, probing). */
  state: string;
  failover: 'ejected' | 'probing' | null;
}

export interface CommandInputs {
  views: ReadonlyArray<{ route: string; label: string }>;
  services: readonly string[];
  instances: readonly PaletteInstance[];
  eventsPaused: boolean;
}

export interface CommandHandlers {
  navigate(route: string): void;
  act(target: { service: string; instanceId: string }, action: InstanceAction, title: string): void;
  pauseEvents(): void;
  resumeEvents(): void;
  clearEvents(): void;
  help(): void;
}

const VERB: Record<InstanceAction, string> = { drain: 'Drain', eject: 'Eject', restore: 'Restore' };

/** Which actions make sense for an instance now: restore what is held out, drain or eject what serves. */
export function instanceActions(i: PaletteInstance): InstanceAction[] {
  if (i.state === 'down') return [];
  if (i.state === 'draining' || i.failover) return ['restore'];
  return ['drain', 'eject'];
}

export function buildCommands(inputs: CommandInputs, on: CommandHandlers): PaletteCommand[] {
  const commands: PaletteCommand[] = inputs.views.map((v) => {
    const key = VIEW_KEYS[v.route];
    return { id: `view:${v.route}`, group: 'View', title: v.label, keywords: `go to view open ${v.route}`, ...(key ? { keys: ['g', key] } : {}), run: () => on.navigate(v.route) };
  });
  commands.push(
    inputs.eventsPaused
      ? { id: 'events:resume', group: 'Console', title: 'Resume the events tail', keywords: 'events live play', run: on.resumeEvents }
      : { id: 'events:pause', group: 'Console', title: 'Pause the events tail', keywords: 'events hold stop freeze', run: on.pauseEvents },
    { id: 'events:clear', group: 'Console', title: 'Clear the events tail', keywords: 'events empty reset', run: on.clearEvents },
    { id: 'help', group: 'Console', title: 'Keyboard shortcuts', keywords: 'help keys ?', keys: ['?'], run: on.help },
  );
  for (const i of inputs.instances) {
    for (const action of instanceActions(i)) {
      const title = `${VERB[action]} ${i.instanceId}`;
      commands.push({
        id: `act:${action}:${i.service}/${i.instanceId}`,
        group: 'Action',
        title,
        keywords: `${i.service} instance ${i.state}${i.failover ? ` ${i.failover}` : ''}`,
        run: () => on.act({ service: i.service, instanceId: i.instanceId }, action, title),
      });
    }
  }
  for (const s of inputs.services) {
    commands.push(
      { id: `service:topology:${s}`, group: 'Service', title: `${s} in Topology`, keywords: 'service open panel graph', run: () => on.navigate(`topology?service=${encodeURIComponent(s)}`) },
      { id: `service:traffic:${s}`, group: 'Service', title: `${s} traffic`, keywords: 'service charts rps errors latency', run: () => on.navigate(`traffic?service=${encodeURIComponent(s)}`) },
      { id: `service:events:${s}`, group: 'Service', title: `${s} events`, keywords: 'service tail log', run: () => on.navigate(`events?service=${encodeURIComponent(s)}`) },
    );
  }
  return commands;
}
