import type { DoctorReport, Health } from "@strata/api";
import { Events } from "./events.ts";
import { Images } from "./images.ts";
import { OrgSettings } from "./org.ts";
import { Sandboxes } from "./sandboxes.ts";
import { Snapshots } from "./snapshots.ts";
import { Transport } from "./transport.ts";
import { Volumes } from "./volumes.ts";

/** How a {@link Client} reaches the daemon. Every field is optional. */
export interface ClientOptions {
  /**
   * The daemon's URL. Defaults to `STRATA_ENDPOINT`, then `http://127.0.0.1:7070`.
   * A path prefix (behind a reverse proxy) is kept.
   */
  endpoint?: string;
  /**
   * The API token. Defaults to `STRATA_TOKEN`, then the admin token file
   * `${STRATA_DATA_DIR ?? "/var/lib/strata"}/admin.token` when readable. Only requests
   * that need auth fail, with code `missing_token`, when there is none.
   */
  token?: string;
  /** A `fetch` to use instead of the global one (logging, tests, proxies). */
  fetch?: typeof fetch;
}

/**
 * The entry point of the SDK: one client per daemon, holding `sandboxes`, `volumes`,
 * `snapshots`, `images`, `org` and `events`.
 *
 * @example
 * ```ts
 * import { Client } from "@strata/sdk";
 *
 * const client = new Client(); // STRATA_ENDPOINT / STRATA_TOKEN, or the local admin token
 * const volume = await client.volumes.create({ slug: "data", capacity: "10GB" });
 * await using sandbox = await client.sandboxes.create({ volumes: { "/data": volume.slug } });
 * await sandbox.sh`df -h /data`;
 * ```
 */
export class Client {
  /** Sandboxes: create, list, get; each a handle to run commands and work with files. */
  readonly sandboxes: Sandboxes;
  /** Volumes: create, list, get, delete, snapshot, restore. */
  readonly volumes: Volumes;
  /** Snapshots of volumes and sandboxes: list, get, wait until ready, protect, delete, diff, and `files` to read inside them. */
  readonly snapshots: Snapshots;
  /** Builtin base images and their build status. */
  readonly images: Images;
  /** The calling organisation and its settings (snapshot retention). */
  readonly org: OrgSettings;
  /** What the daemon did on its own: scheduled snapshots, expiries, pauses, stops. */
  readonly events: Events;
  readonly #t: Transport;
  #region: Promise<string> | undefined;

  /**
   * Creates a client. Throws `invalid_endpoint` for a URL that is not http(s); never
   * contacts the daemon by itself.
   *
   * @example
   * ```ts
   * const client = new Client({ endpoint: "http://10.0.0.5:7070", token: process.env.MY_TOKEN });
   * ```
   */
  constructor(options: ClientOptions = {}) {
    this.#t = new Transport(options);
    this.sandboxes = new Sandboxes(this.#t);
    this.volumes = new Volumes(this.#t, () => this.#defaultRegion());
    this.snapshots = new Snapshots(this.#t);
    this.images = new Images(this.#t);
    this.org = new OrgSettings(this.#t);
    this.events = new Events(this.#t);
  }

  /**
   * The endpoint this client talks to, without a trailing slash.
   *
   * @example
   * ```ts
   * new Client().endpoint; // "http://127.0.0.1:7070"
   * ```
   */
  get endpoint(): string {
    return this.#t.endpoint;
  }

  /**
   * Checks that the daemon is up; needs no token. Returns its version and region.
   *
   * @example
   * ```ts
   * const { version, region } = await client.health();
   * ```
   */
  health(options: { signal?: AbortSignal } = {}): Promise<Health> {
    return this.#t.json<Health>("GET", "/health", { auth: false, signal: options.signal });
  }

  /**
   * Runs the daemon's host checks (tools, kernel features, cgroup mode), each with a fix
   * when it fails.
   *
   * @example
   * ```ts
   * const report = await client.doctor();
   * for (const c of report.checks) if (!c.ok) console.log(c.name, c.fix);
   * ```
   */
  doctor(options: { signal?: AbortSignal } = {}): Promise<DoctorReport> {
    return this.#t.json<DoctorReport>("GET", "/doctor", { signal: options.signal });
  }

  /** The daemon's region, asked once; a failed lookup is retried by the next call. */
  #defaultRegion(): Promise<string> {
    if (!this.#region) {
      this.#region = this.health().then((h) => h.region);
      this.#region.catch(() => {
        this.#region = undefined;
      });
    }
    return this.#region;
  }
}
