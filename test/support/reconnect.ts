/** What the broker chaos tests measure of a mesh: reconnect times, and client requests in the telemetry history. */
import type { MeshCore } from '../../core/app.js';
import type { ConnectionState } from '../../core/api/contract.js';
import type { BrokerConnection } from '../../core/bus/connection.js';

/** Per connection, the time from losing its connection to being connected again. */
export function reconnected(connections: Record<string, BrokerConnection>): Promise<Record<string, number>> {
  const waits = Object.entries(connections).map(
    ([name, connection]) =>
      new Promise<[string, number]>((resolve) => {
        let droppedAt = connection.state.status !== 'connected' ? Date.now() : null;
        const onState = (state: ConnectionState) => {
          if (state.status !== 'connected') droppedAt ??= Date.now();
          else if (droppedAt !== null) {
            connection.off('state', onState);
            resolve([name, Date.now() - droppedAt]);
          }
        };
        connection.on('state', onState);
      }),
  );
  return Promise.all(waits).then((entries) => Object.fromEntries(entries));
}

/** Client requests on the edge in the core's history: every attempt is a request, a retry is one more attempt. */
export async function edgeRequests(core: MeshCore, from: string, to: string, start: number): Promise<number> {
  const series = (await core.router.call(
    'telemetry.series',
    { profileId: 'cli', kind: 'edge', from, to, start, end: Date.now() + 2000, resolution: '1s' },
    { transport: 'internal', actor: 'chaos' },
  )) as { points: Array<{ requests: number; retries: number }> };
  return series.points.reduce((n, p) => n + p.requests - p.retries, 0);
}

export interface Load {
  /** Requests started so far. */
  readonly sent: number;
  /** Answers by HTTP status (0: the client itself failed). */
  readonly statuses: Map<number, number>;
  /** Requests the sidecar handled (every answer but status 0). */
  handled(): number;
  stop(): Promise<void>;
}

/** `workers` clients sending GET `url` one after the other, without pause, until stopped. */
export function startLoad(url: string, workers = 4): Load {
  const statuses = new Map<number, number>();
  let sent = 0;
  let loading = true;
  const worker = async () => {
    while (loading) {
      sent += 1;
      const status = await fetch(url).then(
        (r) => r.arrayBuffer().then(() => r.status),
        () => 0,
      );
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  const all = Promise.all(Array.from({ length: workers }, worker));
  return {
    get sent() {
      return sent;
    },
    statuses,
    handled: () => [...statuses].filter(([status]) => status !== 0).reduce((n, [, count]) => n + count, 0),
    stop: async () => {
      loading = false;
      await all;
    },
  };
}
