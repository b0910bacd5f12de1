/**
 * One BrokerConnection per profile that has been asked to connect; publishes the combined
 * state of all of them.
 */
import { EventEmitter } from 'node:events';
import type { ConnectionState } from '../api/contract.js';
import type { Logger } from '../lib/log.js';
import { BrokerConnection, type BackoffPolicy } from './connection.js';
import type { ProfileService } from './profiles.js';

export class ConnectionManager extends EventEmitter<{ changed: [ConnectionState[]]; created: [string, BrokerConnection] }> {
  private readonly connections = new Map<string, BrokerConnection>();

  constructor(
    private readonly profiles: ProfileService,
    private readonly logger: Logger,
    private readonly backoff?: BackoffPolicy,
  ) {
    super();
  }

  /** States of every known profile; profiles never connected show as idle. */
  states(): ConnectionState[] {
    return this.profiles.list().map((p) => this.connections.get(p.id)?.state ?? idleState(p.id));
  }

  state(profileId: string): ConnectionState {
    return this.connections.get(profileId)?.state ?? idleState(profileId);
  }

  get(profileId: string): BrokerConnection | undefined {
    return this.connections.get(profileId);
  }

  connect(profileId: string): ConnectionState {
    this.profiles.get(profileId); // NotFoundError for an unknown profile
    let connection = this.connections.get(profileId);
    if (!connection) {
      connection = new BrokerConnection({
        profileId,
        resolveOptions: () => this.profiles.connectOptions(profileId),
        logger: this.logger,
        ...(this.backoff ? { backoff: this.backoff } : {}),
      });
      connection.on('state', () => this.emit('changed', this.states()));
      this.connections.set(profileId, connection);
      this.emit('created', profileId, connection);
    }
    connection.start();
    return connection.state;
  }

  async disconnect(profileId: string): Promise<ConnectionState> {
    this.profiles.get(profileId);
    const connection = this.connections.get(profileId);
    if (!connection) return idleState(profileId);
    await connection.stop();
    return connection.state;
  }

  /** Drops a deleted profile's connection. */
  async forget(profileId: string): Promise<void> {
    const connection = this.connections.get(profileId);
    if (!connection) return;
    this.connections.delete(profileId);
    await connection.stop();
    connection.removeAllListeners();
    this.emit('changed', this.states());
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.stop()));
  }
}

export function idleState(profileId: string): ConnectionState {
  return {
    profileId,
    status: 'idle',
    attempt: 0,
    error: null,
    errorCode: null,
    blockedReason: null,
    since: 0,
    nextRetryAt: null,
    connectedAt: null,
    warning: null,
  };
}
