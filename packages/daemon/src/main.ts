#!/usr/bin/env node
import { once } from "node:events";
import { pino } from "pino";
import { type Config, ConfigError, resolveConfig, usage } from "./config.ts";
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
  // Signals are taken from the start: one during start-up stops it at its next step, and
  // what was made so far (pool mount, bridge, nft tables, warm networks) is removed.
  // Later signals are ignored rather than left to kill the process halfway through the
  // shutdown: Ctrl-C under `npm start` delivers SIGINT twice (the terminal's, then npm's).
  const stopping = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping.signal.aborted) {
      log.info(
        { signal },
        "Already shutting down (SIGKILL stops at once, leaving the pool mounted)",
      );
      return;
    }
    log.info({ signal }, "Shutting down");
    stopping.abort(new Error(`stopped by ${signal}`));
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(config, log, stopping.signal);
  } catch (err) {
    if (stopping.signal.aborted && err === stopping.signal.reason) {
      log.info("Stopped during start-up; what it had made is removed");
      return 0;
    }
    // A failed start unwinds what it made; when that unwinding fails too, the cause is `suppressed`.
    const cause = err instanceof SuppressedError ? err.suppressed : err;
    const cleanup = err instanceof SuppressedError ? err.error : undefined;
    log.fatal({ err: cause, cleanupErr: cleanup }, "stratad could not start");
    process.stderr.write(`stratad could not start: ${startFailure(cause, config)}\n`);
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

  if (!stopping.signal.aborted) await once(stopping.signal, "abort");
  try {
    await daemon.close();
    return 0;
  } catch (err) {
    log.error({ err }, "Shutdown failed");
    return 1;
  }
}

/** Why the start failed, naming the flag to change when an address is taken. */
function startFailure(err: unknown, config: Config): string {
  const e = err as { code?: unknown; address?: unknown; port?: unknown };
  if (e?.code === "EADDRINUSE") {
    const proxy = e.address === config.proxy.host && e.port === config.proxy.port;
    return `${String(e.address)}:${String(e.port)} (${proxy ? "the proxy to sandbox ports" : "the API"}) is already in use, perhaps by another stratad: choose another address with ${proxy ? "--proxy-listen" : "--listen"} HOST:PORT`;
  }
  return err instanceof Error ? err.message : String(err);
}

process.exitCode = await main();
