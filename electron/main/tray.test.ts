import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { ConnectionState, MeshSummary } from '../../core/api/contract';
import { idleState } from '../../core/bus/connection-manager';

const fake = vi.hoisted(() => ({ trays: [] as Array<{ image: string; tooltip: string; destroyed: boolean; emit(e: string): void }> }));

vi.mock('electron', async () => {
  const { EventEmitter } = await import('node:events');
  class Tray extends EventEmitter {
    image: string;
    tooltip = '';
    destroyed = false;
    constructor(image: { path: string }) {
      super();
      this.image = image.path;
      fake.trays.push(this);
    }
    setImage(image: { path: string }) {
      this.image = image.path;
    }
    setToolTip(text: string) {
      this.tooltip = text;
    }
    setContextMenu() {}
    destroy() {
      this.destroyed = true;
    }
  }
  return {
    Tray,
    Menu: { buildFromTemplate: (t: unknown) => t },
    nativeImage: { createFromPath: (path: string) => ({ path }) },
  };
});

const { createHealthTray, overallHealth } = await import('./tray');

const conn = (profileId: string, status: ConnectionState['status']): ConnectionState => ({ ...idleState(profileId), status });
const service = (name: string, instances: number, healthy: number, down: number) => ({ name, instances, healthy, draining: instances - healthy - down, down, zones: [], versions: [], byZone: [] });
const mesh = (profileId: string, services: ReturnType<typeof service>[]): MeshSummary => ({ profileId, at: 0, services, edges: [], events: [] });

describe('overallHealth', () => {
  it('is disconnected without a live connection, and says how many fail', () => {
    expect(overallHealth([], [])).toEqual({ health: 'disconnected', tooltip: 'Meshdeck — not connected' });
    expect(overallHealth([conn('a', 'reconnecting'), conn('b', 'failed'), conn('c', 'idle')], [])).toEqual({
      health: 'disconnected',
      tooltip: 'Meshdeck — not connected (2 connections failing)',
    });
  });

  it('is healthy when every service has healthy instances', () => {
    expect(overallHealth([conn('a', 'connected')], [mesh('a', [service('web', 2, 2, 0), service('db', 1, 1, 0)])])).toEqual({
      health: 'healthy',
      tooltip: 'Meshdeck — healthy · 1 mesh · 2 services',
    });
  });

  it('is degraded with a down instance or a connection in trouble', () => {
    expect(overallHealth([conn('a', 'connected')], [mesh('a', [service('web', 3, 2, 1)])]).health).toBe('degraded');
    const view = overallHealth([conn('a', 'connected'), conn('b', 'reconnecting')], [mesh('a', [service('web', 1, 1, 0)])]);
    expect(view).toEqual({ health: 'degraded', tooltip: 'Meshdeck — degraded · 1 mesh · 1 service · 1 connection in trouble' });
  });

  it('is down when a service has instances and none healthy, naming it; meshes without a live connection do not count', () => {
    const view = overallHealth([conn('a', 'blocked'), conn('b', 'disconnected')], [mesh('a', [service('checkout', 2, 0, 2)]), mesh('b', [service('x', 1, 0, 1)])]);
    expect(view).toEqual({ health: 'down', tooltip: 'Meshdeck — down · 1 mesh · 1 service · down: checkout · 2 instances down · 1 connection in trouble' });
  });
});

describe('createHealthTray', () => {
  it('follows the topics with the icon variant and tooltip, opens on click and unsubscribes on destroy', () => {
    const topics = new EventEmitter();
    const source = {
      subscribe: (topic: 'connections.state' | 'mesh.summary', listener: (p: unknown) => void) => {
        topics.on(topic, listener);
        return () => topics.off(topic, listener);
      },
    };
    const onOpen = vi.fn();
    const tray = createHealthTray(source, '/res/tray', onOpen);
    const icon = fake.trays.at(-1)!;
    expect(icon.image).toBe('/res/tray/disconnected.png');
    topics.emit('connections.state', [conn('a', 'connected')]);
    topics.emit('mesh.summary', [mesh('a', [service('web', 2, 0, 2)])]);
    expect(icon.image).toBe('/res/tray/down.png');
    expect(icon.tooltip).toBe('Meshdeck — down · 1 mesh · 1 service · down: web · 2 instances down');
    expect(tray.view.health).toBe('down');
    topics.emit('mesh.summary', [mesh('a', [service('web', 2, 2, 0)])]);
    expect(icon.image).toBe('/res/tray/healthy.png');
    icon.emit('click');
    expect(onOpen).toHaveBeenCalledTimes(1);
    tray.destroy();
    expect(icon.destroyed).toBe(true);
    expect(topics.listenerCount('mesh.summary') + topics.listenerCount('connections.state')).toBe(0);
  });
});
