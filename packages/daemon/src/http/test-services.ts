/**
 * Test doubles of the services for in-process tests of the HTTP layer (`app.inject()`):
 * every method a test does not stub fails loudly. Not used by the daemon.
 */
import type { HttpServices } from "./http-services.ts";

/** What a test stubs: any methods of any service (the rest fail when reached). */
export type ServiceStubs = {
  [K in Exclude<keyof HttpServices, "auth" | "doctor">]?: Partial<HttpServices[K]>;
} & { doctor?: HttpServices["doctor"] };

/** Reached a method the test did not stub: a bug in the test, answered as a 500. */
function unused(): never {
  throw new Error("The test reached a service method it did not stub");
}

/**
 * Services for `buildApp` from a real (or real enough) `auth` and a few stubs.
 *
 * @example
 * ```ts
 * const services = stubServices(auth, {
 *   volumes: { list: async () => ({ items: [], nextCursor: null }) },
 * });
 * ```
 */
export function stubServices(auth: HttpServices["auth"], stubs: ServiceStubs = {}): HttpServices {
  return {
    auth,
    volumes: {
      create: unused,
      list: unused,
      get: unused,
      delete: unused,
      restore: unused,
      ...stubs.volumes,
    },
    snapshots: {
      createFromVolume: unused,
      list: unused,
      get: unused,
      update: unused,
      delete: unused,
      ...stubs.snapshots,
    },
    images: { get: unused, list: unused, ensure: unused, ...stubs.images },
    sandboxes: {
      create: unused,
      list: unused,
      get: unused,
      update: unused,
      expose: unused,
      kill: unused,
      pause: unused,
      resume: unused,
      stop: unused,
      start: unused,
      ...stubs.sandboxes,
    },
    sandboxSnapshots: { create: unused, list: unused, ...stubs.sandboxSnapshots },
    orgs: { get: unused, update: unused, ...stubs.orgs },
    events: { list: unused, ...stubs.events },
    io: {
      start: unused,
      env: unused,
      exec: unused,
      openFile: unused,
      writeFile: unused,
      stat: unused,
      readDir: unused,
      mkdir: unused,
      remove: unused,
      rename: unused,
      chmod: unused,
      ...stubs.io,
    },
    snapshotFiles: { open: unused, readDir: unused, stat: unused, ...stubs.snapshotFiles },
    snapshotDiff: { diff: unused, ...stubs.snapshotDiff },
    doctor: stubs.doctor ?? unused,
  };
}
