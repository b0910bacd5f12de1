import { useState } from 'react';
import type { BrokerSnapshot, ConnectionState, Profile } from '../../../core/api/contract';
import { useQuery, useTopic } from '../api/hooks';
import { SortableTable, type Column } from '../components/SortableTable';
import { ago, formatRate } from '../format';

interface Props {
  primary: { profile: Profile; state: ConnectionState } | null;
  onOpenConnections: () => void;
}

type Queue = BrokerSnapshot['queues'][number];
type Exchange = BrokerSnapshot['exchanges'][number];
type Consumer = BrokerSnapshot['consumers'][number];
type FlowEdge = BrokerSnapshot['flows']['edges'][number];

const rate = (r: number | null) => (r === null ? '—' : formatRate(r));
const count = (n: number | null) => (n === null ? '—' : n.toLocaleString());
const who = (c: Pick<Consumer, 'service' | 'instanceId' | 'connectionName'>) =>
  c.service ? `${c.service}${c.instanceId ? ` / ${c.instanceId}` : ''}` : (c.connectionName ?? 'unnamed connection');

/** "exchange:shop.events" → "exchange shop.events"; "consumer:conn:legacy" → "consumer legacy". */
const nodeText = (id: string) => {
  const [, kind, name] = /^(\w+):(?:conn:)?(.*)$/.exec(id) ?? [id, '', id];
  return (
    <>
      <span className="muted">{kind}</span> <span className="mono">{name}</span>
    </>
  );
};

export const QUEUE_COLUMNS: Column<Queue>[] = [
  { key: 'name', label: 'Queue', value: (q) => q.name, render: (q) => <span className="mono">{q.name}</span> },
  { key: 'type', label: 'Type', value: (q) => q.type },
  { key: 'ready', label: 'Ready', value: (q) => q.ready, render: (q) => count(q.ready), numeric: true },
  { key: 'unacked', label: 'Unacked', value: (q) => q.unacked, render: (q) => count(q.unacked), numeric: true },
  { key: 'consumers', label: 'Consumers', value: (q) => q.consumers, numeric: true },
  { key: 'in', label: 'In', value: (q) => q.rateIn, render: (q) => rate(q.rateIn), numeric: true },
  { key: 'out', label: 'Out', value: (q) => q.rateOut, render: (q) => rate(q.rateOut), numeric: true },
];
const EXCHANGE_COLUMNS: Column<Exchange>[] = [
  { key: 'name', label: 'Exchange', value: (e) => e.name || '(default)', render: (e) => <span className="mono">{e.name || '(default)'}</span> },
  { key: 'type', label: 'Type', value: (e) => e.type },
  { key: 'durable', label: 'Durable', value: (e) => (e.durable ? 'yes' : 'no') },
  { key: 'in', label: 'In', value: (e) => e.rateIn, render: (e) => rate(e.rateIn), numeric: true },
  { key: 'out', label: 'Out', value: (e) => e.rateOut, render: (e) => rate(e.rateOut), numeric: true },
];
const CONSUMER_COLUMNS: Column<Consumer>[] = [
  { key: 'who', label: 'Service / connection', value: who },
  { key: 'queue', label: 'Queue', value: (c) => c.queue, render: (c) => <span className="mono">{c.queue}</span> },
  { key: 'prefetch', label: 'Prefetch', value: (c) => c.prefetch, numeric: true },
  { key: 'ack', label: 'Acks', value: (c) => (c.ackRequired ? 'manual' : 'auto') },
  { key: 'tag', label: 'Tag', value: (c) => c.consumerTag, render: (c) => <span className="mono muted">{c.consumerTag}</span> },
];
const FLOW_COLUMNS: Column<FlowEdge>[] = [
  { key: 'from', label: 'From', value: (e) => e.from, render: (e) => nodeText(e.from) },
  { key: 'to', label: 'To', value: (e) => e.to, render: (e) => nodeText(e.to) },
  { key: 'keys', label: 'Keys / types', value: (e) => e.keys.join(', ') },
  { key: 'rate', label: 'Rate', value: (e) => e.rate, render: (e) => rate(e.rate), numeric: true },
  { key: 'source', label: 'Known from', value: (e) => e.source },
];

const matches = (needle: string, ...hay: Array<string | null>) => hay.some((h) => h !== null && h.toLowerCase().includes(needle));

/** The broker as its management API shows it: exchanges, queues, consumers and the event flows, searchable and sortable. */
export function BrokerView({ primary, onOpenConnections }: Props) {
  if (!primary) {
    return (
      <div className="view">
        <div className="view-header">
          <h1>Broker</h1>
        </div>
        <div className="empty-state" data-testid="broker-empty">
          <h2>No broker profile</h2>
          <p>Add a connection profile to read its broker&rsquo;s exchanges, queues and consumers.</p>
          <button className="primary" onClick={onOpenConnections}>
            Open connections
          </button>
        </div>
      </div>
    );
  }
  return <BrokerTables key={primary.profile.id} profile={primary.profile} />;
}

function BrokerTables({ profile }: { profile: Profile }) {
  const [query, reload] = useQuery('broker.snapshot', { profileId: profile.id });
  const pushed = useTopic('broker.snapshot')?.find((s) => s.profileId === profile.id && s.at > 0);
  const [search, setSearch] = useState('');
  const fetched = query.state === 'ready' ? query.data : undefined;
  const snap = pushed && (!fetched || pushed.at >= fetched.at) ? pushed : fetched;

  const header = (
    <div className="view-header">
      <h1>Broker</h1>
      <span className="muted" data-testid="broker-meta">
        {profile.name} · vhost <span className="mono">{snap?.vhost ?? profile.vhost}</span>
        {snap?.overview?.rabbitmqVersion ? ` · RabbitMQ ${snap.overview.rabbitmqVersion}` : ''}
        {snap && snap.at > 0 ? ` · read ${ago(snap.at)}, every ${Math.round(snap.pollIntervalMs / 1000)} s` : ''}
      </span>
    </div>
  );

  if (!snap) {
    return (
      <div className="view">
        {header}
        {query.state === 'error' ? (
          <div className="card error-box" role="alert" data-testid="broker-error">
            <p>Could not read the broker: {query.error.message}</p>
            <button onClick={reload}>Try again</button>
          </div>
        ) : (
          <p className="muted" role="status" data-testid="broker-loading">
            Reading the broker&rsquo;s management API…
          </p>
        )}
      </div>
    );
  }

  const needle = search.trim().toLowerCase();
  const queues = snap.queues.filter((q) => matches(needle, q.name, q.type));
  const exchanges = snap.exchanges.filter((e) => matches(needle, e.name || '(default)', e.type));
  const consumers = snap.consumers.filter((c) => matches(needle, c.queue, c.service, c.instanceId, c.connectionName));
  const flows = snap.flows.edges.filter((e) => matches(needle, e.from, e.to, ...e.keys));
  const none = (what: string) => <p className="muted">{needle ? `No ${what} match “${search.trim()}”.` : `No ${what} in this vhost.`}</p>;

  return (
    <div className="view broker">
      {header}
      {snap.capabilities.length > 0 && (
        <div className="card warning" role="status" data-testid="broker-capabilities">
          <strong>{snap.available ? 'Part of the broker cannot be shown' : 'The broker cannot be read'}</strong>
          <ul>
            {snap.capabilities.map((c) => (
              <li key={`${c.area}:${c.message}`} data-area={c.area}>
                {c.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {snap.available && (
        <>
          <div className="broker-toolbar">
            <label className="field search-field">
              <span className="field-label">Search</span>
              <input
                type="search"
                value={search}
                placeholder="queue, exchange, service…"
                onChange={(e) => setSearch(e.target.value)}
                data-testid="broker-search"
              />
            </label>
            {snap.overview && (
              <span className="muted" data-testid="broker-rates">
                whole broker: publish {rate(snap.overview.publishRate)} · deliver {rate(snap.overview.deliverRate)} · ack {rate(snap.overview.ackRate)}
              </span>
            )}
          </div>
          <section className="card" aria-label="Queues">
            <h2>Queues ({queues.length})</h2>
            {queues.length ? <SortableTable rows={queues} columns={QUEUE_COLUMNS} rowKey={(q) => q.name} initialSort="name" testId="broker-queues" label="Queues" /> : none('queues')}
          </section>
          <section className="card" aria-label="Exchanges">
            <h2>Exchanges ({exchanges.length})</h2>
            {exchanges.length ? (
              <SortableTable rows={exchanges} columns={EXCHANGE_COLUMNS} rowKey={(e) => e.name || '(default)'} initialSort="name" testId="broker-exchanges" label="Exchanges" />
            ) : (
              none('exchanges')
            )}
          </section>
          <section className="card" aria-label="Consumers">
            <h2>Consumers ({consumers.length})</h2>
            {consumers.length ? (
              <SortableTable rows={consumers} columns={CONSUMER_COLUMNS} rowKey={(c) => `${c.channel}/${c.consumerTag}`} initialSort="who" testId="broker-consumers" label="Consumers" />
            ) : (
              none('consumers')
            )}
          </section>
          <section className="card" aria-label="Event flows">
            <h2>Event flows ({flows.length})</h2>
            {flows.length ? (
              <SortableTable rows={flows} columns={FLOW_COLUMNS} rowKey={(e) => `${e.from}>${e.to}`} initialSort="from" testId="broker-flows" label="Event flows" />
            ) : (
              none('event flows')
            )}
          </section>
        </>
      )}
    </div>
  );
}
