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
];
