/**
 * The mesh control core, composed: the database, the profile and connection services, and the
 * API router that both transports serve. Electron's main process and the headless host each
 * create one of these; nothing here knows which.
 */
import type { EventEmitter } from 'node:events';
import type { Profile, ConnectionState } from './api/contract.js';
import { ApiRouter, type Handlers, type TopicSource, type TopicSources } from './api/router.js';
import { ConnectionManager } from './bus/connection-manager.js';
import { probeConnection, type BackoffPolicy } from './bus/connection.js';
import { ProfileService, CLI_PROFILE_ID } from './bus/profiles.js';
import type { Logger } from './lib/log.js';
import type { SecretStore } from './secrets/secret-store.js';
import { currentSchemaVersion, openDatabase, schemaHistory, type Db } from './store/database.js';
import { MESHDECK_VERSION } from './version.js';

export interface MeshCoreOptions {
  databasePath: string;
  secrets: SecretStore;
  logger: Logger;
  host: 'electron' | 'headless';
  /** A broker URL from the command line: becomes a read-only profile that connects at start. */
  commandLineBroker?: string;
  backoff?: BackoffPolicy;
}

export interface MeshCore {
  readonly router: ApiRouter;
  readonly db: Db;
  readonly profiles: ProfileService;
  readonly connections: ConnectionManager;
  /** Closes broker connections, then the database. Safe to call twice. */
  close(): Promise<void>;
}

function topicFrom<T>(emitter: EventEmitter, event: string, current: () => T): TopicSource<T> {
  return {
    current,
    watch(listener) {
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    },
  };
}

export function createMeshCore(options: MeshCoreOptions): MeshCore {
  const { logger, secrets } = options;
  const startedAt = Date.now();
  const db = openDatabase({ path: options.databasePath, logger: logger.child('store') });
  const profiles = new ProfileService(db, secrets, logger.child('profiles'));
  const connections = new ConnectionManager(profiles, logger, options.backoff);
  profiles.on('changed', () => connections.emit('changed', connections.states()));

  const handlers: Handlers = {
    'system.info': () => ({
      product: 'Meshdeck',
      version: MESHDECK_VERSION,
      host: options.host,
      schemaVersion: currentSchemaVersion(db),
      migrations: schemaHistory(db),
      databasePath: options.databasePath,
      secretStore: { kind: secrets.kind, persistent: secrets.persistent, detail: secrets.detail },
      startedAt,
      node: process.versions.node,
    }),
    'profiles.list': () => profiles.list(),
    'profiles.create': (input) => {
      const profile = profiles.create(input);
      if (profile.autoConnect) connections.connect(profile.id);
      return profiles.get(profile.id);
    },
    'profiles.update': async ({ id, patch }) => {
      const profile = profiles.update(id, patch);
      const live = connections.get(id);
      if (live && live.state.status !== 'idle' && live.state.status !== 'disconnected') {
        // Settings changed under a live connection: reconnect with the new ones.
        await live.stop();
        connections.connect(id);
      }
      return profile;
    },
    'profiles.delete': async ({ id }) => {
      profiles.get(id);
      if (id !== CLI_PROFILE_ID) await connections.forget(id);
      profiles.delete(id);
      return { deleted: true as const };
    },
    'profiles.test': async (input) => {
      const opts = 'id' in input ? profiles.connectOptions(input.id) : profiles.connectOptionsForInput(input.profile);
      return probeConnection(opts);
    },
    'connections.list': () => connections.states(),
    'connections.connect': ({ profileId }) => connections.connect(profileId),
    'connections.disconnect': ({ profileId }) => connections.disconnect(profileId),
  };

  const sources: TopicSources = {
    'connections.state': topicFrom<ConnectionState[]>(connections, 'changed', () => connections.states()),
    'profiles.changed': topicFrom<Profile[]>(profiles, 'changed', () => profiles.list()),
  };

  const router = new ApiRouter(handlers, sources, logger.child('api'));

  if (options.commandLineBroker) {
    profiles.setCommandLineProfile(options.commandLineBroker);
  }
  for (const profile of profiles.list()) {
    if (profile.autoConnect) connections.connect(profile.id);
  }

  let closed: Promise<void> | null = null;
  return {
    router,
    db,
    profiles,
    connections,
    close() {
      closed ??= (async () => {
        await connections.closeAll();
        db.close();
        logger.info('core closed');
      })();
      return closed;
    },
  };
}
