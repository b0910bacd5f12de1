/** Declares the protocol's exchanges, the core's queues and their bindings (idempotent). */
import type { Connection } from 'rabbitmq-client';
import { CORE_BINDINGS, CORE_QUEUE_DECLS, EXCHANGES, EXCHANGE_DECLS, QUEUES } from '../protocol/topology.js';

/**
 * Bindings earlier builds declared and this one does not want. Adding a binding never removes
 * an old one, so they are removed here (unbinding a missing binding is not an error).
 */
const RETIRED_BINDINGS = [
  // Heartbeats used to flow into the registry stream; they are read live now.
  { queue: QUEUES.registryStream, exchange: EXCHANGES.registry, routingKey: 'registry.#' },
] as const;

/** Everything of the protocol's topology: the core declares it, and agents do too before registering. */
export async function declareCoreTopology(connection: Connection): Promise<void> {
  for (const exchange of EXCHANGE_DECLS) await connection.exchangeDeclare({ ...exchange });
  for (const queue of CORE_QUEUE_DECLS) await connection.queueDeclare({ ...queue });
  for (const binding of CORE_BINDINGS) await connection.queueBind({ ...binding });
  for (const binding of RETIRED_BINDINGS) await connection.queueUnbind({ ...binding });
}

