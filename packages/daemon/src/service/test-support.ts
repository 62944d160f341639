/**
 * Test support: the real services over an in-memory store, for unit tests of service
 * rules. The drivers are the test's choice (a btrfs pool, the directory driver); the
 * launcher defaults to one that refuses to start sandboxes, for tests that start none.
 */
import { openStore, type Store } from "../db/store.ts";
import type { Logger } from "../lib/logger.ts";
import type { SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { createServices, type ServiceDeps, type ServiceSet } from "./create-services.ts";
import type { ImageBuilder } from "./images.ts";

export const quietLog: Logger = { info() {}, warn() {}, error() {} };

/** A launcher for tests that must not start sandboxes: every launch fails, loudly. */
export class NoSandboxesLauncher implements SandboxLauncher {
  validateAllowNet(): void {}
  async launch(): Promise<never> {
    throw new Error("This test's launcher starts no sandboxes");
  }
  async freeze(): Promise<void> {}
  async thaw(): Promise<void> {}
  async destroy(): Promise<void> {}
  async settle(): Promise<void> {}
  async reconcile(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}

/** An image builder that makes a minimal root: a marker file, quickly. */
export const markerImageBuilder: ImageBuilder = {
  async build(name, target) {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(`${target}/.image`, name);
  },
};

export interface TestServices extends AsyncDisposable {
  services: ServiceSet;
  store: Store;
  /** The organisation made for the test. */
  orgId: string;
}

/** The services of a daemon on `driver`, with an organisation `org_test`. */
export async function servicesForTest(options: {
  driver: StorageDriver;
  launcher?: SandboxLauncher;
  overrides?: Partial<ServiceDeps>;
}): Promise<TestServices> {
  const store = openStore(":memory:");
  const orgId = "org_test";
  store.orgs.insert({ id: orgId, name: "test", createdAt: new Date() });
  const services = createServices({
    store,
    driver: options.driver,
    launcher: options.launcher ?? new NoSandboxesLauncher(),
    imageBuilder: markerImageBuilder,
    log: quietLog,
    region: "local",
    capacity: { minBytes: 1e6, maxBytes: 1e12 },
    sandboxLimits: {
      memory: { minBytes: 64 * 2 ** 20, maxBytes: 8 * 2 ** 30, defaultBytes: 2 ** 30 },
      cpus: { min: 0.1, max: 2, default: 1 },
      maxTimeoutMs: 86_400_000,
      rootCapacityBytes: 1e9,
    },
    purgeGraceMs: 60_000,
    purgeIntervalMs: 3_600_000,
    snapshotRetention: "never",
    reaperIntervalMs: 3_600_000,
    portUrl: (id, port) => `http://${id.replace(/^sbx_/, "")}-${port}.example.com/`,
    ...options.overrides,
  });
  await services.start();
  return {
    services,
    store,
    orgId,
    async [Symbol.asyncDispose]() {
      await services.close();
      store.close();
    },
  };
}
