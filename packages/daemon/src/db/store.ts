import { openDatabase, transaction } from "./database.ts";
import { EventsRepo } from "./events-repo.ts";
import { ImagesRepo } from "./images-repo.ts";
import { NamesRepo } from "./names-repo.ts";
import { OrgsRepo } from "./orgs-repo.ts";
import { SandboxesRepo } from "./sandboxes-repo.ts";
import { SnapshotsRepo } from "./snapshots-repo.ts";
import { VolumesRepo } from "./volumes-repo.ts";

/** The public shape of a repository class: what another store (PostgreSQL) implements. */
type Shape<T> = { [K in keyof T]: T[K] };

/**
 * The daemon's state: one repository per kind of record, and transactions across them.
 * Services depend on this interface only; `openStore` is the SQLite implementation.
 */
export interface Store {
  readonly orgs: Shape<OrgsRepo>;
  /** The per-organisation namespace of names shared by volumes and snapshots. */
  readonly names: Shape<NamesRepo>;
  readonly volumes: Shape<VolumesRepo>;
  readonly snapshots: Shape<SnapshotsRepo>;
  readonly images: Shape<ImagesRepo>;
  readonly sandboxes: Shape<SandboxesRepo>;
  readonly events: Shape<EventsRepo>;
  /**
   * Runs `fn` (synchronous: a transaction cannot span an await) in one transaction. With
   * `durable: false` the commit skips its fsync: for state of running sandboxes, which a
   * power loss ends anyway.
   */
  transaction<T>(fn: () => T, options?: { durable?: boolean }): T;
  close(): void;
}

/** Opens (creating or migrating) the SQLite store at `path`; `":memory:"` for tests. */
export function openStore(path: string): Store {
  const db = openDatabase(path);
  return {
    orgs: new OrgsRepo(db),
    names: new NamesRepo(db),
    volumes: new VolumesRepo(db),
    snapshots: new SnapshotsRepo(db),
    images: new ImagesRepo(db),
    sandboxes: new SandboxesRepo(db),
    events: new EventsRepo(db),
    transaction: (fn, options) => transaction(db, fn, options),
    close: () => db.close(),
  };
}
