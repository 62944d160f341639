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
  // A volume being restored from a snapshot (the intent, so nothing attaches it meanwhile).
  `
  ALTER TABLE volumes ADD COLUMN restoring_from TEXT;
  `,
];
