import { createContext, useCallback, useContext, useEffect, useState, useSyncExternalStore } from 'react';
import type { MeshTopology, MeshTraffic, MethodInput, MethodName, MethodOutput, TopicName, TopicPayload } from '../../../core/api/contract';
import type { ApiClient, LinkStatus } from './client';

export const ApiContext = createContext<ApiClient | null>(null);

export function useApi(): ApiClient {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside <ApiContext.Provider>');
  return api;
}

/** The latest value of a topic; undefined until the first one arrives. */
export function useTopic<T extends TopicName>(topic: T): TopicPayload<T> | undefined {
  const api = useApi();
  const [value, setValue] = useState<TopicPayload<T> | undefined>(undefined);
  useEffect(() => api.subscribe(topic, setValue), [api, topic]);
  return value;
}

export function useLink(): LinkStatus {
  const api = useApi();
  return useSyncExternalStore(
    (onChange) => api.onLink(onChange),
    () => api.link(),
  );
}

export type QueryState<T> =
  | { state: 'loading' }
  | { state: 'error'; error: Error }
  | { state: 'ready'; data: T };

/** A one-off query with explicit loading / error / ready states, and a way to run it again. */
export function useQuery<M extends MethodName>(method: M, input: MethodInput<M>): [QueryState<MethodOutput<M>>, () => void] {
  const api = useApi();
  const [state, setState] = useState<QueryState<MethodOutput<M>>>({ state: 'loading' });
  const [generation, setGeneration] = useState(0);
  const key = JSON.stringify(input);
  useEffect(() => {
    let live = true;
    api.call(method, JSON.parse(key) as MethodInput<M>).then(
      (data) => live && setState({ state: 'ready', data }),
      (error: Error) => live && setState({ state: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [api, method, key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return [state, reload];
}

/** Hash routes (#/connections, #/topology…): work from file:// in Electron and over HTTP alike. */
export function useHashRoute(): [string, (route: string) => void] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('?')[0] || '';
  const route = useSyncExternalStore(
    (onChange) => {
      window.addEventListener('hashchange', onChange);
      return () => window.removeEventListener('hashchange', onChange);
    },
    read,
  );
  const navigate = useCallback((next: string) => {
    window.location.hash = `#/${next}`;
  }, []);
  return [route, navigate];
}

/** A parameter of the hash route (#/topology?service=checkout) and a setter that keeps the route. */
export function useHashParam(name: string): [string | null, (value: string | null) => void] {
  const read = () => new URLSearchParams(window.location.hash.split('?')[1] ?? '').get(name);
  const value = useSyncExternalStore(
    (onChange) => {
      window.addEventListener('hashchange', onChange);
      return () => window.removeEventListener('hashchange', onChange);
    },
    read,
  );
  const set = useCallback((next: string | null) => setHashParams({ [name]: next }), [name]);
  return [value, set];
}

/** Sets (or, with null, removes) several parameters of the hash route in one change: one history entry. */
export function setHashParams(changes: Readonly<Record<string, string | null>>): void {
  const [path, query = ''] = window.location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  for (const [name, next] of Object.entries(changes)) {
    if (next === null) params.delete(name);
    else params.set(name, next);
  }
  const q = params.toString();
  window.location.hash = `#${path || '/'}${q ? `?${q}` : ''}`;
}

/** A mesh's newest topology and the newest traffic frame of the same revision (mesh.topology, mesh.traffic). */
export interface LivePair {
  topology: MeshTopology;
  traffic: MeshTraffic;
}

/**
 * The live mesh of a profile from its two compact topics: a traffic frame is applied only to the
 * topology of its revision, so until the frame of a new revision arrives the last matching pair
 * stays. Subscribes at once, before the profile is known (one round trip less to a first graph).
 * Null until both arrived (or when the profile has no connected mesh).
 */
export function useLiveMesh(profileId: string | undefined): LivePair | null {
  const api = useApi();
  const [pairs, setPairs] = useState<ReadonlyMap<string, LivePair>>(new Map());
  useEffect(() => {
    let topologies = new Map<string, MeshTopology>();
    let frames = new Map<string, MeshTraffic>();
    const match = () =>
      setPairs((current) => {
        const next = new Map<string, LivePair>();
        for (const [id, topology] of topologies) {
          const traffic = frames.get(id);
          const held = current.get(id);
          if (traffic && traffic.revision === topology.revision) next.set(id, held?.topology === topology && held.traffic === traffic ? held : { topology, traffic });
          else if (held) next.set(id, held); // the last matching pair, until the new revision's frame
        }
        const same = next.size === current.size && [...next].every(([id, pair]) => current.get(id) === pair);
        return same ? current : next;
      });
    const offTopology = api.subscribe('mesh.topology', (list) => {
      topologies = new Map(list.map((t) => [t.profileId, t]));
      match();
    });
    const offTraffic = api.subscribe('mesh.traffic', (list) => {
      frames = new Map(list.map((t) => [t.profileId, t]));
      match();
    });
    return () => {
      offTopology();
      offTraffic();
    };
  }, [api]);
  return (profileId && pairs.get(profileId)) || null;
}
