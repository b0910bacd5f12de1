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
  {
    version: 3,
    name: 'control outbox, operator actions and audit log',
    sql: `
      -- The durable outbox: every control command, written before it is published, followed
      -- until every expected agent acked it or it expired (core/control/outbox.ts).
      CREATE TABLE control_commands (
        mesh            TEXT NOT NULL,
        id              TEXT NOT NULL,           -- commandId
        action_id       TEXT,                    -- the operator action it carries out; NULL for a raw command
        service         TEXT NOT NULL,
        instance_id     TEXT,                    -- NULL: every instance of the service
        action          TEXT NOT NULL,           -- JSON ControlAction
        issuer          TEXT NOT NULL,
        reason          TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        state           TEXT NOT NULL,           -- pending | forwarded | published | acked | partially-acked | expired | rejected
        expected        TEXT NOT NULL,           -- JSON array of the instance ids whose acks complete it
        attempts        INTEGER NOT NULL DEFAULT 0,
        generation      INTEGER NOT NULL DEFAULT 0, -- +1 per explicit resend: only a confirm of the current generation counts
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        published_at    INTEGER,
        finished_at     INTEGER,
        PRIMARY KEY (mesh, id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX control_commands_by_state ON control_commands (mesh, state, next_attempt_at);
      CREATE INDEX control_commands_by_action ON control_commands (mesh, action_id);
      CREATE INDEX control_commands_by_time ON control_commands (mesh, created_at);

      -- Acks received, one row per command, instance and status (a resend is answered again: count).
      CREATE TABLE control_acks (
        mesh        TEXT NOT NULL,
        command_id  TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        status      TEXT NOT NULL,               -- applied | duplicate | rejected
        detail      TEXT NOT NULL,
        count       INTEGER NOT NULL,
        first_at    INTEGER NOT NULL,
        last_at     INTEGER NOT NULL,
        PRIMARY KEY (mesh, command_id, instance_id, status)
      ) STRICT, WITHOUT ROWID;

      -- Operator (and automatic) actions: what was asked, by whom, and how to undo it.
      CREATE TABLE control_actions (
        mesh        TEXT NOT NULL,
        id          TEXT NOT NULL,
        origin      TEXT NOT NULL,               -- operator | automatic | undo
        actor       TEXT NOT NULL,
        reason      TEXT NOT NULL,
        service     TEXT NOT NULL,
        instance_id TEXT,
        action      TEXT NOT NULL,               -- JSON ControlAction
        summary     TEXT NOT NULL,
        undo        TEXT,                        -- JSON: the commands that undo it; NULL when it cannot be undone
        undo_of     TEXT,
        undone_by   TEXT,
        evidence    TEXT,                        -- JSON, automatic decisions only
        core_id     TEXT NOT NULL,               -- the core where it was created
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        PRIMARY KEY (mesh, id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX control_actions_by_time ON control_actions (mesh, created_at);

      -- The audit log: append-only.
      CREATE TABLE control_audit (
        id          INTEGER PRIMARY KEY,
        mesh        TEXT NOT NULL,
        at          INTEGER NOT NULL,
        event       TEXT NOT NULL,               -- requested | result | refused
        actor       TEXT NOT NULL,
        origin      TEXT NOT NULL,               -- operator | automatic | undo
        action      TEXT NOT NULL,
        service     TEXT NOT NULL,
        instance_id TEXT,
        reason      TEXT NOT NULL,
        result      TEXT NOT NULL,               -- pending | acked | partially-acked | rejected | expired | refused
        detail      TEXT NOT NULL,               -- JSON
        evidence    TEXT,                        -- JSON
        action_id   TEXT,
        command_ids TEXT NOT NULL,               -- JSON array
        undo_of     TEXT,
        core_id     TEXT NOT NULL
      ) STRICT;
      CREATE INDEX control_audit_by_time ON control_audit (mesh, at);
      CREATE INDEX control_audit_by_action ON control_audit (mesh, action_id);
    `,
  },
  {
    version: 4,
    name: 'telemetry history',
    sql: `
      -- Telemetry history (core/telemetry/README.md). t is a window start in seconds since the epoch.
      -- A series is an edge (a = caller service or "external", b = callee service), a service (a = '',
      -- b = service: every edge into it) or an instance (a = service, b = instance id) of one mesh.
      -- Ids are never reused (AUTOINCREMENT): the compaction cursor in telemetry_marks compares them.
      CREATE TABLE telemetry_series (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        mesh       TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('edge', 'service', 'instance')),
        a          TEXT NOT NULL,
        b          TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,             -- coarse: advanced at most once an hour
        UNIQUE (mesh, kind, a, b)
      ) STRICT;
      CREATE INDEX telemetry_series_by_callee ON telemetry_series (mesh, kind, b);

      -- Staging: 1 s windows as they are flushed (added up on conflict), in time order so a flush
      -- appends. Compaction moves each closed minute into the series-major tables below.
      CREATE TABLE telemetry_recent (
        mesh     TEXT NOT NULL,
        t        INTEGER NOT NULL,
        series   INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        http5xx  INTEGER NOT NULL,
        http4xx  INTEGER NOT NULL,
        connect  INTEGER NOT NULL,
        timeout  INTEGER NOT NULL,
        retries  INTEGER NOT NULL,
        sketch   BLOB NOT NULL,                  -- latency sketch, core/telemetry/sketch-codec.ts
        PRIMARY KEY (mesh, t, series)
      ) STRICT, WITHOUT ROWID;

      -- One table per resolution, series-major so one series' range is one contiguous read.
      CREATE TABLE telemetry_1s (
        series   INTEGER NOT NULL,
        t        INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        http5xx  INTEGER NOT NULL,
        http4xx  INTEGER NOT NULL,
        connect  INTEGER NOT NULL,
        timeout  INTEGER NOT NULL,
        retries  INTEGER NOT NULL,
        sketch   BLOB NOT NULL,
        PRIMARY KEY (series, t)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE telemetry_10s (
        series   INTEGER NOT NULL,
        t        INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        http5xx  INTEGER NOT NULL,
        http4xx  INTEGER NOT NULL,
        connect  INTEGER NOT NULL,
        timeout  INTEGER NOT NULL,
        retries  INTEGER NOT NULL,
        sketch   BLOB NOT NULL,
        PRIMARY KEY (series, t)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE telemetry_1m (
        series   INTEGER NOT NULL,
        t        INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        http5xx  INTEGER NOT NULL,
        http4xx  INTEGER NOT NULL,
        connect  INTEGER NOT NULL,
        timeout  INTEGER NOT NULL,
        retries  INTEGER NOT NULL,
        sketch   BLOB NOT NULL,
        PRIMARY KEY (series, t)
      ) STRICT, WITHOUT ROWID;

      -- Per mesh: minutes before compacted_through are compacted; of the minute compacted_through,
      -- the series with id < cursor are (0: none yet).
      CREATE TABLE telemetry_marks (
        mesh              TEXT PRIMARY KEY,
        compacted_through INTEGER NOT NULL,
        cursor            INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'failover policies per service',
    sql: `
      -- The outlier/failover policy of a service when it differs from Meshdeck's default: the preset
      -- it starts from and the complete resolved policy (JSON, validated by core/failover/policy.ts).
      CREATE TABLE failover_policies (
        mesh       TEXT NOT NULL,
        service    TEXT NOT NULL,
        preset     TEXT NOT NULL,
        policy     TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (mesh, service)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    name: 'management API monitoring credentials per profile',
    sql: `
      -- Optional separate credentials for the management HTTP API (a least-privilege monitoring
      -- user); NULL: use the profile's own AMQP credentials. The password only as the secret
      -- store's ciphertext, never in plain text.
      ALTER TABLE broker_profiles ADD COLUMN management_username TEXT;
      ALTER TABLE broker_profiles ADD COLUMN management_password_cipher BLOB;
    `,
  },
  {
    version: 7,
    name: 'zone failovers',
    sql: `
      -- Zones an operator failed a service over away from (action failover-zone): callers get the
      -- zone at admitted health 0 until a restore-zone (or the undo) removes the row.
      CREATE TABLE zone_failovers (
        mesh       TEXT NOT NULL,
        service    TEXT NOT NULL,
        zone       TEXT NOT NULL,
        action_id  TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (mesh, service, zone)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 8,
    name: 'incidents',
    sql: `
      -- Incidents opened by the rules of core/incidents: one per scope (service:<name> or
      -- queue:<name>) at a time; rules holds the active rule states as JSON.
      CREATE TABLE incidents (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        mesh            TEXT NOT NULL,
        scope           TEXT NOT NULL,
        service         TEXT,
        title           TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        severity        TEXT NOT NULL CHECK (severity IN ('degraded', 'failing')),
        peak_severity   TEXT NOT NULL CHECK (peak_severity IN ('degraded', 'failing')),
        onset_at        INTEGER NOT NULL,
        opened_at       INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        resolved_at     INTEGER,
        resolved_by     TEXT,
        acknowledged_at INTEGER,
        acknowledged_by TEXT,
        assignee        TEXT,
        rules           TEXT NOT NULL
      ) STRICT;
      CREATE INDEX incidents_by_status ON incidents (mesh, status, opened_at);
      CREATE UNIQUE INDEX incidents_one_open_per_scope ON incidents (mesh, scope) WHERE status <> 'resolved';

      -- What happened, in order: rule crossings, registry changes, automatic decisions with their
      -- evidence, operator actions, notes, acknowledgements, resolution.
      CREATE TABLE incident_timeline (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        incident INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
        at       INTEGER NOT NULL,
        kind     TEXT NOT NULL,
        actor    TEXT,
        text     TEXT NOT NULL,
        evidence TEXT
      ) STRICT;
      CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident, at, id);

      -- The ranked suspects, replaced whole on every re-ranking.
      CREATE TABLE incident_suspects (
        incident  INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
        rank      INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        target    TEXT NOT NULL,
        service   TEXT NOT NULL,
        score     REAL NOT NULL,
        reasoning TEXT NOT NULL,
        evidence  TEXT NOT NULL,
        PRIMARY KEY (incident, rank)
      ) STRICT, WITHOUT ROWID;

      -- Rule thresholds of a service when they differ from the defaults (JSON, validated by
      -- core/incidents/rules.ts).
      CREATE TABLE incident_rules (
        mesh       TEXT NOT NULL,
        service    TEXT NOT NULL,
        rules      TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (mesh, service)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    name: 'command signing keys',
    sql: `
      -- Per mesh: the Ed25519 keys the leading core signs control commands with. The private key is
      -- only ever stored encrypted by the secret store (NULL when secrets cannot be saved: the key
      -- then lives for this session only); the public key and the rotation certificate are public.
      CREATE TABLE command_keys (
        mesh           TEXT NOT NULL,
        key_id         TEXT NOT NULL,
        seq            INTEGER NOT NULL,         -- creation order within the mesh
        public_key     TEXT NOT NULL,
        private_cipher BLOB,
        created_at     INTEGER NOT NULL,
        created_by     TEXT NOT NULL,
        retired_at     INTEGER,                  -- NULL: the active key (one per mesh)
        valid_until    INTEGER,                  -- a retired key verifies nothing signed after this
        certificate    TEXT,                     -- JSON KeyCertificate endorsed by the previous key; NULL for the first
        PRIMARY KEY (mesh, key_id)
      ) STRICT, WITHOUT ROWID;
    `,
  },
];
