/**
 * Least-privilege RabbitMQ permissions for the users of a mesh, derived from the protocol's
 * names (core/protocol/topology.ts) and what each party does with them. docs/security.md shows
 * them as `rabbitmqctl` commands; agent/sdk/permissions.int.test.ts applies them to a real
 * broker and checks both what works and what is refused.
 *
 * Resource permissions are regexes on names (exchanges and queues alike: `meshdeck.registry` is
 * both, so its read permission cannot tell the stream from the exchange); topic permissions are
 * regexes on the routing keys a user may publish with on a topic exchange.
 */
import { EXCHANGES, QUEUES } from '../protocol/topology.js';

export interface VhostPermissions {
  configure: string;
  write: string;
  read: string;
}

export interface TopicPermission {
  exchange: string;
  write: string;
  read: string;
}

const re = (name: string): string => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `meshdeck\.(a|b|c)` for meshdeck.a, meshdeck.b, meshdeck.c. */
const meshNames = (names: string[]): string => `${re('meshdeck.')}(${names.map((n) => re(n.replace(/^meshdeck\./, ''))).join('|')})`;
const anyOf = (names: string[]): string => `^(${names.join('|')})$`;

/** Server-named queues (an agent's endpoint queue, a core's heartbeat queue). */
const SERVER_NAMED = 'amq\\.gen-.*';

const ALL_EXCHANGES = Object.values(EXCHANGES);
/** The core's queues, which an agent declares and binds too (declareCoreTopology) but never reads. */
const CORE_QUEUES = Object.values(QUEUES);

/**
 * An agent (sidecar, gateway or SDK) of one service. It declares the whole topology (so a
 * registration is kept before any core ran), its own control queues and a server-named
 * endpoint queue; it publishes registrations, heartbeats, signals, telemetry, acks, discovery
 * requests, events and dead letters; it reads only its control queues and its endpoint queue.
 * `eventQueues`: a regex of the durable queues the service consumes domain events from.
 */
export function agentPermissions(service: string, eventQueues?: string): { vhost: VhostPermissions; topics: TopicPermission[] } {
  const s = re(service);
  const ownControl = `${re('meshdeck.control.')}${s}\\..+`;
  const extra = eventQueues ? [eventQueues] : [];
  const declared = meshNames([...new Set([...ALL_EXCHANGES, ...CORE_QUEUES])]);
  return {
    vhost: {
      configure: anyOf([declared, ownControl, SERVER_NAMED, ...extra]),
      write: anyOf([declared, ownControl, SERVER_NAMED, ...extra]),
      // Exchanges are read to bind queues to them; the acks and discovery-request queues are not readable.
      read: anyOf([meshNames(ALL_EXCHANGES), ownControl, SERVER_NAMED, ...extra]),
    },
    topics: [
      { exchange: EXCHANGES.registry, write: `^(registry\\.${s}\\.[^.]+\\.(register|heartbeat|deregister)|signal\\..+)$`, read: '.*' },
      { exchange: EXCHANGES.telemetry, write: `^telemetry\\.${s}\\.[^.]+$`, read: '.*' },
      // Acks for itself only: never a command.
      { exchange: EXCHANGES.control, write: `^ack\\.${s}\\.[^.]+$`, read: '.*' },
      // Requests only: endpoint sets come from the core.
      { exchange: EXCHANGES.discovery, write: '^request$', read: '.*' },
      { exchange: EXCHANGES.events, write: '.*', read: '.*' },
    ],
  };
}

/**
 * The console (mesh control core): everything of the mesh, nothing else on the vhost; it also
 * publishes through the default exchange (discovery answers to an agent's reply queue, actions
 * forwarded to the leader's request queue).
 */
export function consolePermissions(): VhostPermissions {
  const mesh = `^(${re('meshdeck.')}.*|${SERVER_NAMED})$`;
  return { configure: mesh, write: `^(${re('meshdeck.')}.*|${SERVER_NAMED}|${re('amq.default')})$`, read: mesh };
}

/** The management-API user of the Broker view: the `monitoring` tag, no AMQP rights at all. */
export function monitoringPermissions(): VhostPermissions {
  return { configure: '^$', write: '^$', read: '^$' };
}
