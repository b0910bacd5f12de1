/**
 * Numbered migrations. Append only: a released migration is never edited, a change is a new
 * number. Each runs in its own transaction together with its `schema_version` row.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'connection profiles',
    sql: `
      CREATE TABLE broker_profiles (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE,
        url             TEXT NOT NULL,            -- amqp(s)://user@host:port, never with a password
        vhost           TEXT NOT NULL DEFAULT '/',
        username        TEXT NOT NULL DEFAULT '',
        password_cipher BLOB,                     -- encrypted by the secret store, NULL when none is saved
        heartbeat_s     INTEGER NOT NULL DEFAULT 30,
        tls_ca_file     TEXT,
        tls_cert_file   TEXT,
        tls_key_file    TEXT,
        tls_servername  TEXT,
        tls_verify      INTEGER NOT NULL DEFAULT 1,
        management_url  TEXT,
        auto_connect    INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'mesh registry, history and stream offsets',
    sql: `
      -- One row per instance ever seen in a mesh (a mesh is a broker profile).
      CREATE TABLE mesh_instances (
        mesh                  TEXT NOT NULL,
        service               TEXT NOT NULL,
        instance_id           TEXT NOT NULL,
        zone                  TEXT NOT NULL,
        address               TEXT NOT NULL,
        weight                INTEGER NOT NULL,
        version               TEXT NOT NULL,
        metadata              TEXT NOT NULL,   -- JSON object of strings
        capacity              INTEGER NOT NULL,
        agent                 TEXT NOT NULL,
        heartbeat_interval_ms INTEGER NOT NULL,
        state                 TEXT NOT NULL,
        first_seen            INTEGER NOT NULL,
        last_seen             INTEGER NOT NULL,
        PRIMARY KEY (mesh, service, instance_id)
      ) STRICT, WITHOUT ROWID;

      -- Registry history: every state change, with what caused it.
      CREATE TABLE mesh_events (
        id          INTEGER PRIMARY KEY,
        mesh        TEXT NOT NULL,
        at          INTEGER NOT NULL,
        service     TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        kind        TEXT NOT NULL,
        from_state  TEXT,
        to_state    TEXT,
        detail      TEXT NOT NULL DEFAULT ''
      ) STRICT;
      CREATE INDEX mesh_events_by_time ON mesh_events (mesh, at);
      CREATE INDEX mesh_events_by_instance ON mesh_events (mesh, service, instance_id, at);

      -- Where each stream consumer has got to, so a restart resumes instead of replaying.
      CREATE TABLE stream_offsets (
        consumer   TEXT PRIMARY KEY,
        stream     TEXT NOT NULL,
        offset     INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
];
