import { describe, expect, it, vi } from 'vitest';
import { buildCommands, instanceActions, type CommandHandlers } from './commands';
import { rank } from './match';

const handlers = (): CommandHandlers => ({ navigate: vi.fn(), act: vi.fn(), pauseEvents: vi.fn(), resumeEvents: vi.fn(), clearEvents: vi.fn(), help: vi.fn() });
const views = [
  { route: 'topology', label: 'Topology' },
  { route: 'events', label: 'Events' },
];

describe('palette commands', () => {
  it('reach every view with its shortcut shown', () => {
    const on = handlers();
    const commands = buildCommands({ views, services: [], instances: [], eventsPaused: false }, on);
    const events = commands.find((c) => c.id === 'view:events')!;
    expect(events.keys).toEqual(['g', 'e']);
    events.run();
    expect(on.navigate).toHaveBeenCalledWith('events');
  });

  it('offer drain/eject for serving instances and restore for held-out ones, through the action dialog', () => {
    const on = handlers();
    const instances = [
      { service: 'checkout', instanceId: 'checkout-a1', state: 'healthy', failover: null },
      { service: 'checkout', instanceId: 'checkout-a2', state: 'healthy', failover: 'ejected' as const },
      { service: 'checkout', instanceId: 'checkout-a3', state: 'draining', failover: null },
      { service: 'checkout', instanceId: 'checkout-a4', state: 'down', failover: null },
    ];
    expect(instances.map(instanceActions)).toEqual([['drain', 'eject'], ['restore'], ['restore'], []]);
    const commands = buildCommands({ views, services: ['checkout'], instances, eventsPaused: false }, on);
    const top = rank('drain a1', commands)[0]!.item;
    expect(top.title).toBe('Drain checkout-a1');
    top.run();
    expect(on.act).toHaveBeenCalledWith({ service: 'checkout', instanceId: 'checkout-a1' }, 'drain', 'Drain checkout-a1');
    expect(rank('restore a2', commands)[0]!.item.title).toBe('Restore checkout-a2');
    const traffic = commands.find((c) => c.id === 'service:traffic:checkout')!;
    traffic.run();
    expect(on.navigate).toHaveBeenCalledWith('traffic?service=checkout');
  });

  it('pause or resume the events tail, as it stands', () => {
    const on = handlers();
    expect(buildCommands({ views, services: [], instances: [], eventsPaused: false }, on).some((c) => c.id === 'events:pause')).toBe(true);
    const resume = buildCommands({ views, services: [], instances: [], eventsPaused: true }, on).find((c) => c.id === 'events:resume')!;
    resume.run();
    expect(on.resumeEvents).toHaveBeenCalled();
  });
});
