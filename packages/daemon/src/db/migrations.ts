/** Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Append only. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );
  -- Volume and snapshot slugs share one namespace per organisation.
  CREATE TABLE slugs (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    slug TEXT NOT NULL,
    resource_id TEXT NOT NULL UNIQUE,
    PRIMARY KEY (org_id, slug)
  );
  CREATE TABLE volumes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    slug TEXT NOT NULL,
    region TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('creating', 'ready', 'failed')),
    failure_reason TEXT,
    capacity INTEGER NOT NULL,
    bootable INTEGER NOT NULL,
    base_image TEXT,
    base_snapshot_id TEXT,
    base_snapshot_slug TEXT,
    attached_to TEXT,
    created_at TEXT NOT NULL,
    deleted_at TEXT,
    purge_at TEXT
  );
  CREATE INDEX volumes_list ON volumes (org_id, created_at, id) WHERE deleted_at IS NULL;
  CREATE TABLE snapshots (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    slug TEXT NOT NULL,
    region TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('creating', 'ready', 'failed')),
    failure_reason TEXT,
    volume_id TEXT,
    volume_slug TEXT,
    bootable INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX snapshots_list ON snapshots (org_id, created_at, id);
  CREATE TABLE images (
    name TEXT PRIMARY KEY,
    layer_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),
    phase TEXT,
    failure_reason TEXT,
    size_bytes INTEGER,
    built_at TEXT
  );
  `,
  `
  CREATE TABLE sandboxes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    region TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('starting', 'ready', 'stopping', 'stopped')),
    stop_reason TEXT,
    root_kind TEXT NOT NULL CHECK (root_kind IN ('volume', 'snapshot', 'image')),
    root_ref TEXT NOT NULL,
    root_slug TEXT,
    -- The layer mounted as root: the volume's own, or an ephemeral one named after the sandbox.
    root_layer TEXT NOT NULL,
    mounts TEXT NOT NULL,
    labels TEXT NOT NULL,
    env TEXT NOT NULL,
    memory INTEGER NOT NULL,
    cpus REAL NOT NULL,
    runtime TEXT NOT NULL,
    port INTEGER,
    allow_net TEXT,
    address TEXT,
    created_at TEXT NOT NULL,
    stopped_at TEXT,
    expires_at TEXT
  );
  CREATE INDEX sandboxes_list ON sandboxes (org_id, created_at, id);
  `,
  // Issue 5: snapshots of running sandboxes, schedules, retention, pause and persistent sandboxes.
  // SQLite cannot widen a CHECK constraint in place, so the sandboxes table is rebuilt.
  `
  ALTER TABLE orgs ADD COLUMN snapshot_retention TEXT;
  ALTER TABLE snapshots ADD COLUMN kind TEXT NOT NULL DEFAULT 'volume' CHECK (kind IN ('volume', 'sandbox'));
  ALTER TABLE snapshots ADD COLUMN sandbox_id TEXT;
  ALTER TABLE snapshots ADD COLUMN template TEXT;
  ALTER TABLE snapshots ADD COLUMN defaults TEXT;
  ALTER TABLE snapshots ADD COLUMN size_bytes INTEGER;
  ALTER TABLE snapshots ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE snapshots ADD COLUMN protected INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE snapshots ADD COLUMN expires_at TEXT;
  ALTER TABLE snapshots ADD COLUMN ready_at TEXT;
  CREATE INDEX snapshots_by_sandbox ON snapshots (sandbox_id, created_at, id) WHERE sandbox_id IS NOT NULL;
  CREATE INDEX snapshots_expiry ON snapshots (expires_at) WHERE expires_at IS NOT NULL;

  CREATE TABLE sandboxes_v3 (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    region TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('starting', 'ready', 'paused', 'stopping', 'stopped')),
    stop_reason TEXT,
    root_kind TEXT NOT NULL CHECK (root_kind IN ('volume', 'snapshot', 'image')),
    root_ref TEXT NOT NULL,
    root_slug TEXT,
    root_layer TEXT NOT NULL,
    mounts TEXT NOT NULL,
    labels TEXT NOT NULL,
    env TEXT NOT NULL,
    memory INTEGER NOT NULL,
    cpus REAL NOT NULL,
    runtime TEXT NOT NULL,
    port INTEGER,
    allow_net TEXT,
    address TEXT,
    created_at TEXT NOT NULL,
    stopped_at TEXT,
    expires_at TEXT,
    timeout_ms INTEGER,
    template TEXT,
    persistent INTEGER NOT NULL DEFAULT 0,
    disk_bytes INTEGER,
    -- 1 while a persistent sandbox's root layer exists (stop keeps it, delete removes it).
    retained INTEGER NOT NULL DEFAULT 0,
    snapshot_frequency TEXT,
    snapshot_keep INTEGER
  );
  INSERT INTO sandboxes_v3 (id, org_id, region, status, stop_reason, root_kind, root_ref, root_slug,
    root_layer, mounts, labels, env, memory, cpus, runtime, port, allow_net, address, created_at,
    stopped_at, expires_at)
  SELECT id, org_id, region, status, stop_reason, root_kind, root_ref, root_slug, root_layer, mounts,
    labels, env, memory, cpus, runtime, port, allow_net, address, created_at, stopped_at, expires_at
  FROM sandboxes;
  DROP TABLE sandboxes;
  ALTER TABLE sandboxes_v3 RENAME TO sandboxes;
  CREATE INDEX sandboxes_list ON sandboxes (org_id, created_at, id);
  UPDATE sandboxes SET template = CASE root_kind
    WHEN 'image' THEN json_object('kind', 'image', 'image', root_ref)
    WHEN 'volume' THEN json_object('kind', 'volume', 'volume', json_object('id', root_ref, 'slug', coalesce(root_slug, '')))
    ELSE json_object('kind', 'snapshot', 'snapshot', json_object('id', root_ref, 'slug', coalesce(root_slug, '')))
  END;

  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    sandbox_id TEXT,
    snapshot_id TEXT,
    type TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX events_list ON events (org_id, created_at, id);
  CREATE INDEX events_by_sandbox ON events (sandbox_id, created_at, id) WHERE sandbox_id IS NOT NULL;
  `,
  // A volume being restored from a snapshot (the intent, so nothing attaches it meanwhile).
  `
  ALTER TABLE volumes ADD COLUMN restoring_from TEXT;
  `,
  // What each builtin image was built from: one built from another recipe (or before this
  // column, NULL) is built again on its next use.
  `
  ALTER TABLE images ADD COLUMN recipe TEXT;
  `,
];
