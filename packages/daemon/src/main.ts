#!/usr/bin/env node
import { pino } from "pino";
import { ConfigError, resolveConfig, usage } from "./config.ts";
import { startDaemon } from "./daemon.ts";
import { evaluate } from "./host/checks.ts";
import { gatherFacts } from "./host/facts.ts";

/** stratad: parses its configuration, then runs the daemon until SIGTERM/SIGINT, or runs `doctor`. */
async function main(): Promise<number> {
  let resolved: ReturnType<typeof resolveConfig>;
  try {
    resolved = resolveConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(
      `stratad: ${err instanceof Error ? err.message : String(err)}\n\n${usage()}`,
    );
    return err instanceof ConfigError ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
      ? 2
      : 1;
  }
  const { config, command } = resolved;
  if (command === "help") {
    process.stdout.write(usage());
    return 0;
  }
  if (command === "doctor") {
    const report = evaluate(await gatherFacts({ poolConfigured: config.pool !== undefined }));
    for (const c of report.checks) {
      process.stdout.write(
        `${c.ok ? "ok  " : c.severity === "fatal" ? "FAIL" : "warn"}  ${c.name.padEnd(24)} ${c.detail}\n`,
      );
      if (!c.ok && c.fix) process.stdout.write(`      fix: ${c.fix}\n`);
    }
    return report.ok ? 0 : 1;
  }

  const log = pino({ level: config.logLevel, base: { pid: process.pid } });
  // A bug in background work must not take every sandbox down with the daemon: log it loudly.
  process.on("unhandledRejection", (err) =>
    log.error({ err }, "Unhandled rejection (a bug; please report it)"),
  );
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    // A failed start unwinds what it made; when that unwinding fails too, the cause is `suppressed`.
    const cause = err instanceof SuppressedError ? err.suppressed : err;
    const cleanup = err instanceof SuppressedError ? err.error : undefined;
    log.fatal({ err: cause, cleanupErr: cleanup }, "stratad could not start");
    process.stderr.write(
      `stratad could not start: ${cause instanceof Error ? cause.message : String(cause)}\n`,
    );
    return 1;
  }
  log.info(
    {
      url: daemon.url,
      tokenFile: daemon.tokenFile,
      region: config.region,
      dataDir: config.dataDir,
      prefix: config.prefix,
    },
    "stratad is ready",
  );
  process.stderr.write(
    `stratad listening on ${daemon.url}\nadmin token in ${daemon.tokenFile}\nsandbox ports proxied on ${daemon.proxyUrl}\n`,
  );

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "Shutting down");
      daemon.close().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, "Shutdown failed");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

process.exitCode = await main();
