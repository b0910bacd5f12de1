/**
 * The tray (status area) icon: the mesh's overall health as an icon variant and a tooltip, from
 * the `connections.state` and `mesh.summary` topics. `overallHealth` is the rule; `createHealthTray`
 * only hands its result to Electron's Tray.
 */
import { Menu, Tray, nativeImage } from 'electron';
import { join } from 'node:path';
import type { ConnectionState, MeshSummary } from '../../core/api/contract';

export type Health = 'healthy' | 'degraded' | 'down' | 'disconnected';

export interface HealthView {
  health: Health;
  tooltip: string;
}

const LIVE = new Set<ConnectionState['status']>(['connected', 'blocked']);
const TROUBLED = new Set<ConnectionState['status']>(['blocked', 'reconnecting', 'failed']);

/**
 * disconnected: no broker connection is up. down: some service has instances and none healthy.
 * degraded: some instance is down or draining-only, or a connection is blocked, reconnecting or
 * failed. healthy: otherwise.
 */
export function overallHealth(connections: readonly ConnectionState[], meshes: readonly MeshSummary[]): HealthView {
  const live = connections.filter((c) => LIVE.has(c.status));
  if (live.length === 0) {
    const failing = connections.filter((c) => TROUBLED.has(c.status)).length;
    return { health: 'disconnected', tooltip: `Meshdeck — not connected${failing ? ` (${failing} connection${failing > 1 ? 's' : ''} failing)` : ''}` };
  }
  const liveIds = new Set(live.map((c) => c.profileId));
  const services = meshes.filter((m) => liveIds.has(m.profileId)).flatMap((m) => m.services);
  const downServices = services.filter((s) => s.instances > 0 && s.healthy === 0).map((s) => s.name);
  const downInstances = services.reduce((n, s) => n + s.down, 0);
  const troubled = connections.filter((c) => TROUBLED.has(c.status)).length;
  const parts = [`${live.length} mesh${live.length > 1 ? 'es' : ''}`, `${services.length} service${services.length === 1 ? '' : 's'}`];
  if (downServices.length) parts.push(`down: ${downServices.slice(0, 3).join(', ')}${downServices.length > 3 ? ` +${downServices.length - 3}` : ''}`);
  if (downInstances) parts.push(`${downInstances} instance${downInstances > 1 ? 's' : ''} down`);
  if (troubled) parts.push(`${troubled} connection${troubled > 1 ? 's' : ''} in trouble`);
  const health: Health = downServices.length ? 'down' : downInstances || troubled ? 'degraded' : 'healthy';
  return { health, tooltip: `Meshdeck — ${health} · ${parts.join(' · ')}` };
}

/** What the tray needs from the core: the two topics, by subscription. */
export interface HealthSource {
  subscribe(topic: 'connections.state' | 'mesh.summary', listener: (payload: unknown) => void): () => void;
}

export interface HealthTray {
  readonly view: HealthView;
  destroy(): void;
}

/** Shows the tray icon from `iconDir` (resources/tray: <health>.png, <health>@2x.png) and keeps it current. */
export function createHealthTray(source: HealthSource, iconDir: string, onOpen: () => void): HealthTray {
  let connections: ConnectionState[] = [];
  let meshes: MeshSummary[] = [];
  let view: HealthView = overallHealth([], []);
  const icon = (health: Health) => nativeImage.createFromPath(join(iconDir, `${health}.png`));
  const tray = new Tray(icon(view.health));
  tray.setToolTip(view.tooltip);
  tray.setContextMenu(Menu.buildFromTemplate([{ label: 'Open Meshdeck', click: onOpen }, { type: 'separator' }, { role: 'quit' }]));
  tray.on('click', onOpen);
  const update = () => {
    const next = overallHealth(connections, meshes);
    if (next.health !== view.health) tray.setImage(icon(next.health));
    if (next.tooltip !== view.tooltip) tray.setToolTip(next.tooltip);
    view = next;
  };
  const unsubscribe = [
    source.subscribe('connections.state', (payload) => {
      connections = payload as ConnectionState[];
      update();
    }),
    source.subscribe('mesh.summary', (payload) => {
      meshes = payload as MeshSummary[];
      update();
    }),
  ];
  return {
    get view() {
      return view;
    },
    destroy() {
      for (const u of unsubscribe) u();
      tray.destroy();
    },
  };
}
