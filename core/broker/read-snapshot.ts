/**
 * One read of the broker through the management API, for one vhost: overview, exchanges,
 * queues, bindings, consumers and connections, each trimmed with `columns=`. Whatever cannot be
 * read is said in `capabilities` (what is missing and why) and the rest is still returned.
 */
import type { BrokerCapability, BrokerOverview, BrokerPeer, BrokerSnapshot } from '../api/contract.js';
import { errorMessage } from '../lib/errors.js';
import { ManagementApiError, vhostPath, type ManagementClient } from './management-client.js';

export type BrokerReading = Omit<BrokerSnapshot, 'profileId' | 'pollIntervalMs' | 'flows'> & {
  /** The broker's statistics backlog (events waiting in the stats DB): > 0 means slow down. */
  statsBacklog: number;
};

// ---------------------------------------------------------------------------------------------
// Raw shapes (only the columns asked for)
// ---------------------------------------------------------------------------------------------

interface RateDetails {
  rate?: number;
}
interface RawMessageStats {
  publish_details?: RateDetails;
  publish_in_details?: RateDetails;
  publish_out_details?: RateDetails;
  deliver_get_details?: RateDetails;
  deliver_details?: RateDetails;
  ack_details?: RateDetails;
}
interface RawOverview {
  rabbitmq_version?: string;
  management_version?: string;
  cluster_name?: string;
  node?: string;
  rates_mode?: string;
  disable_stats?: boolean;
  statistics_db_event_queue?: number;
  message_stats?: RawMessageStats;
}
interface RawWhoami {
  name?: string;
  tags?: string[] | string;
}
interface RawExchange {
  name: string;
  type?: string;
  durable?: boolean;
  auto_delete?: boolean;
  internal?: boolean;
  message_stats?: RawMessageStats;
}
interface RawQueue {
  name: string;
  type?: string;
  durable?: boolean;
  auto_delete?: boolean;
  exclusive?: boolean;
  state?: string;
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
  message_stats?: RawMessageStats;
}
interface RawBinding {
  source: string;
  destination: string;
  destination_type: string;
  routing_key: string;
}
interface RawConsumer {
  queue?: { name?: string };
  consumer_tag?: string;
  channel_details?: { name?: string; connection_name?: string };
  prefetch_count?: number;
  ack_required?: boolean;
  active?: boolean;
}
interface RawConnection {
  name: string;
  user?: string;
  state?: string;
  channels?: number;
  peer_host?: string;
  peer_port?: number;
  user_provided_name?: string;
  client_properties?: { connection_name?: string };
}
interface RawExchangeDetail {
  incoming?: Array<{ channel_details?: { name?: string; connection_name?: string }; stats?: { publish_details?: RateDetails } }>;
}
interface RawChannel {
  connection_details?: { name?: string };
  message_stats?: RawMessageStats;
}

const RATE = (kind: string) => `message_stats.${kind}_details.rate`;
export const COLUMNS = {
  overview: ['rabbitmq_version', 'management_version', 'cluster_name', 'node', 'rates_mode', 'disable_stats', 'statistics_db_event_queue', 'message_stats'],
  exchanges: ['name', 'type', 'durable', 'auto_delete', 'internal', RATE('publish_in'), RATE('publish_out')],
  queues: [
    'name',
    'type',
    'durable',
    'auto_delete',
    'exclusive',
    'state',
    'messages_ready',
    'messages_unacknowledged',
    'consumers',
    RATE('publish'),
    RATE('deliver_get'),
    RATE('ack'),
  ],
  bindings: ['source', 'destination', 'destination_type', 'routing_key'],
  consumers: ['queue.name', 'consumer_tag', 'channel_details.name', 'channel_details.connection_name', 'prefetch_count', 'ack_required', 'active'],
  connections: ['name', 'user', 'state', 'channels', 'peer_host', 'peer_port', 'user_provided_name', 'client_properties.connection_name'],
  channels: ['connection_details.name', RATE('publish'), RATE('deliver_get')],
} as const;

// ---------------------------------------------------------------------------------------------
// Joining connection names to mesh services
// ---------------------------------------------------------------------------------------------

/** Meshdeck agents name their AMQP connection `meshdeck-<agent>:<service>/<instanceId>`. */
export function peerFromConnectionName(name: string | null | undefined): BrokerPeer {
  const connectionName = name && name.length > 0 ? name : null;
  const match = connectionName ? /^meshdeck-([a-z0-9-]+):([^/]+)\/(.+)$/.exec(connectionName) : null;
  if (!match) return { connectionName, service: null, instanceId: null, agent: null };
  return { connectionName, agent: match[1]!, service: match[2]!, instanceId: match[3]! };
}

// ---------------------------------------------------------------------------------------------

const rate = (d: RateDetails | undefined): number | null => (typeof d?.rate === 'number' ? d.rate : null);
const int = (v: number | undefined): number | null => (typeof v === 'number' ? Math.round(v) : null);
const queueType = (t: string | undefined): BrokerSnapshot['queues'][number]['type'] =>
  t === 'classic' || t === 'quorum' || t === 'stream' ? t : 'unknown';
const ratesMode = (m: string | undefined): BrokerOverview['ratesMode'] =>
  m === 'none' || m === 'basic' || m === 'detailed' ? m : 'unknown';
const tagList = (tags: RawWhoami['tags']): string[] =>
  Array.isArray(tags) ? tags : typeof tags === 'string' && tags ? tags.split(',').map((t) => t.trim()) : [];

const MONITORING_TAGS = ['monitoring', 'administrator'];

/** A reading with nothing in it but the reasons why. */
export function emptyReading(managementUrl: string | null, vhost: string, capabilities: BrokerCapability[]): BrokerReading {
  return {
    at: Date.now(),
    managementUrl,
    vhost,
    available: false,
    capabilities,
    overview: null,
    exchanges: [],
    queues: [],
    bindings: [],
    consumers: [],
    connections: [],
    publishers: [],
    statsBacklog: 0,
  };
}

/** Reads everything it may; never throws for what the broker refuses (it says so instead). */
export async function readBroker(client: ManagementClient, vhost: string, user: string): Promise<BrokerReading> {
  const baseUrl = client.baseUrl;
  let whoami: RawWhoami;
  try {
    whoami = await client.get<RawWhoami>('whoami');
  } catch (err) {
    return emptyReading(baseUrl, vhost, [whyNot(err, baseUrl, user)]);
  }
  const capabilities: BrokerCapability[] = [];
  const tags = tagList(whoami.tags);
  if (!tags.some((t) => MONITORING_TAGS.includes(t))) {
    capabilities.push({
      area: 'monitoring',
      message: `User "${whoami.name ?? user}" has no monitoring tag: only its own connections and channels are visible (tags: ${tags.join(', ') || 'none'})`,
    });
  }

  const vp = vhostPath(vhost);
  let vhostRefused: string | null = null;
  const scoped = async <T>(what: string, read: () => Promise<T[]>): Promise<T[]> => {
    try {
      return await read();
    } catch (err) {
      if (err instanceof ManagementApiError && (err.failure === 'unauthorized' || err.failure === 'forbidden')) {
        vhostRefused ??= err.brokerText || `HTTP ${err.status}`;
      } else if (err instanceof ManagementApiError && err.failure === 'not-found') {
        capabilities.push({ area: 'vhost', message: `Vhost "${vhost}" not found on the broker (${what}: ${err.brokerText})` });
      } else {
        capabilities.push({ area: 'management', message: `Could not read ${what}: ${errorMessage(err)}` });
      }
      return [];
    }
  };

  const [overview, exchanges, queues, bindings, consumers, connections, channels] = await Promise.all([
    client.get<RawOverview>('overview', COLUMNS.overview).catch((err: unknown) => {
      capabilities.push({ area: 'management', message: `Could not read the overview: ${errorMessage(err)}` });
      return {} as RawOverview;
    }),
    scoped('exchanges', () => client.list<RawExchange>(`exchanges/${vp}`, COLUMNS.exchanges)),
    scoped('queues', () => client.list<RawQueue>(`queues/${vp}`, COLUMNS.queues)),
    scoped('bindings', () => client.get<RawBinding[]>(`bindings/${vp}`, COLUMNS.bindings)),
    scoped('consumers', () => client.get<RawConsumer[]>(`consumers/${vp}`, COLUMNS.consumers)),
    scoped('connections', () => client.get<RawConnection[]>(`vhosts/${vp}/connections`, COLUMNS.connections)),
    scoped('channels', () => client.get<RawChannel[]>(`vhosts/${vp}/channels`, COLUMNS.channels)),
  ]);
  if (vhostRefused) {
    capabilities.push({
      area: 'vhost',
      message: `User "${whoami.name ?? user}" has no permission on vhost "${vhost}": exchanges, queues, bindings and consumers are not visible (${vhostRefused})`,
    });
  }

  const mode = ratesMode(overview.rates_mode);
  if (overview.disable_stats) {
    capabilities.push({
      area: 'stats',
      message: 'Statistics are disabled on the broker (management_agent.disable_metrics_collector): no depths, rates or consumer counts from the management API',
    });
  } else if (mode === 'none') {
    capabilities.push({ area: 'rates', message: 'rates_mode none: the broker keeps no message rates, so no rates are shown' });
  }

  // Per connection: publish and deliver rates summed over its channels.
  const channelRates = new Map<string, { publish: number | null; deliver: number | null }>();
  for (const ch of channels) {
    const name = ch.connection_details?.name;
    if (!name) continue;
    const entry = channelRates.get(name) ?? { publish: null, deliver: null };
    const add = (a: number | null, b: number | null) => (b === null ? a : (a ?? 0) + b);
    entry.publish = add(entry.publish, rate(ch.message_stats?.publish_details));
    entry.deliver = add(entry.deliver, rate(ch.message_stats?.deliver_get_details));
    channelRates.set(name, entry);
  }
  const connectionNames = new Map<string, string | null>();
  for (const c of connections) connectionNames.set(c.name, c.user_provided_name ?? c.client_properties?.connection_name ?? null);

  const publishers = mode === 'detailed' ? await readPublishers(client, vp, exchanges, connectionNames, capabilities) : [];
  const ms = overview.message_stats;
  return {
    at: Date.now(),
    managementUrl: baseUrl,
    vhost,
    available: true,
    capabilities,
    overview: {
      rabbitmqVersion: overview.rabbitmq_version ?? null,
      managementVersion: overview.management_version ?? null,
      clusterName: overview.cluster_name ?? null,
      node: overview.node ?? null,
      ratesMode: mode,
      statsDisabled: overview.disable_stats === true,
      user: whoami.name ?? null,
      tags,
      publishRate: rate(ms?.publish_details),
      deliverRate: rate(ms?.deliver_get_details),
      ackRate: rate(ms?.ack_details),
    },
    exchanges: exchanges
      .map((e) => ({
        name: e.name,
        type: e.type ?? 'unknown',
        durable: e.durable === true,
        autoDelete: e.auto_delete === true,
        internal: e.internal === true,
        rateIn: rate(e.message_stats?.publish_in_details),
        rateOut: rate(e.message_stats?.publish_out_details),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    queues: queues
      .map((q) => ({
        name: q.name,
        type: queueType(q.type),
        durable: q.durable === true,
        autoDelete: q.auto_delete === true,
        exclusive: q.exclusive === true,
        state: q.state ?? null,
        ready: int(q.messages_ready),
        unacked: int(q.messages_unacknowledged),
        consumers: int(q.consumers) ?? 0,
        rateIn: rate(q.message_stats?.publish_details),
        rateOut: rate(q.message_stats?.deliver_get_details),
        rateAck: rate(q.message_stats?.ack_details),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    bindings: bindings
      .filter((b) => b.source !== '') // the default exchange's implicit bindings say nothing
      .map((b) => ({
        source: b.source,
        destination: b.destination,
        destinationType: b.destination_type === 'exchange' ? ('exchange' as const) : ('queue' as const),
        routingKey: b.routing_key,
      })),
    consumers: consumers.map((c) => {
      const channel = c.channel_details?.name ?? '';
      const connection = c.channel_details?.connection_name ?? '';
      return {
        ...peerFromConnectionName(connectionNames.get(connection) ?? null),
        queue: c.queue?.name ?? '',
        consumerTag: c.consumer_tag ?? '',
        channel,
        prefetch: int(c.prefetch_count) ?? 0,
        ackRequired: c.ack_required !== false,
        active: c.active !== false,
      };
    }),
    connections: connections.map((c) => ({
      ...peerFromConnectionName(connectionNames.get(c.name) ?? null),
      name: c.name,
      user: c.user ?? '',
      state: c.state ?? null,
      channels: int(c.channels) ?? 0,
      peer: c.peer_host ? `${c.peer_host}:${c.peer_port ?? ''}` : '',
      publishRate: channelRates.get(c.name)?.publish ?? null,
      deliverRate: channelRates.get(c.name)?.deliver ?? null,
    })),
    publishers,
    statsBacklog: overview.statistics_db_event_queue ?? 0,
  };
}

/** Exchanges whose publishers are read one by one in rates_mode detailed (one request each). */
export const MAX_PUBLISHER_EXCHANGES = 50;

/** rates_mode detailed: each exchange's `incoming` says which channel published how fast. */
async function readPublishers(
  client: ManagementClient,
  vp: string,
  exchanges: RawExchange[],
  connectionNames: Map<string, string | null>,
  capabilities: BrokerCapability[],
): Promise<BrokerReading['publishers']> {
  const named = exchanges.filter((e) => e.name !== '' && !e.name.startsWith('amq.'));
  if (named.length > MAX_PUBLISHER_EXCHANGES) {
    capabilities.push({
      area: 'rates',
      message: `Publishers are read for the first ${MAX_PUBLISHER_EXCHANGES} of ${named.length} exchanges only (one request per exchange)`,
    });
  }
  const details = await Promise.all(
    named.slice(0, MAX_PUBLISHER_EXCHANGES).map(async (e) => {
      try {
        return { exchange: e.name, detail: await client.get<RawExchangeDetail>(`exchanges/${vp}/${encodeURIComponent(e.name)}`, ['incoming']) };
      } catch {
        return { exchange: e.name, detail: {} as RawExchangeDetail }; // deleted meanwhile: nothing to show
      }
    }),
  );
  return details.flatMap(({ exchange, detail }) =>
    (detail.incoming ?? []).map((i) => ({
      ...peerFromConnectionName(connectionNames.get(i.channel_details?.connection_name ?? '') ?? null),
      exchange,
      channel: i.channel_details?.name ?? '',
      rate: rate(i.stats?.publish_details),
    })),
  );
}

/** Why the management API could not be used at all, in words for the UI. */
function whyNot(err: unknown, baseUrl: string, user: string): BrokerCapability {
  if (err instanceof ManagementApiError) {
    switch (err.failure) {
      case 'unreachable':
      case 'timeout':
        return {
          area: 'management',
          message: `Management plugin not reachable at ${baseUrl} (${err.brokerText}); enable it with "rabbitmq-plugins enable rabbitmq_management" or set the profile's management API URL`,
        };
      case 'unauthorized':
      case 'forbidden':
        return {
          area: 'credentials',
          message: `The management API refused user "${user}" (${err.status}: ${err.brokerText}); it needs a user with the monitoring tag`,
        };
      case 'not-found':
        return { area: 'management', message: `No management API at ${baseUrl} (404); check the profile's management API URL` };
      default:
        return { area: 'management', message: err.message };
    }
  }
  return { area: 'management', message: `Management API at ${baseUrl} failed: ${errorMessage(err)}` };
}
