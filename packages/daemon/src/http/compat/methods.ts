import { z } from "zod";
import { fromDenoId } from "./ids.ts";
import { fsMethods } from "./rpc-fs.ts";
import { handleMethods } from "./rpc-handles.ts";
import { processMethods } from "./rpc-process.ts";
import { walkMethods } from "./rpc-walk.ts";
import { type Handler, RpcFailure } from "./session.ts";
import { codeError } from "./wire.ts";

/** What the sandbox endpoint refuses, and why (each answers at once with NotSupported). */
const REFUSED: Record<string, string> = {
  spawnDeno:
    "Strata sandboxes have no Deno runtime harness: sandbox.deno.run() is not supported; run a program with sandbox.spawn() or sandbox.sh",
  spawnDenoRepl:
    "Strata sandboxes have no Deno runtime harness: sandbox.deno.repl() and eval() are not supported",
  denoHttpWait: "Strata sandboxes have no Deno runtime harness",
  denoReplEval: "Strata sandboxes have no Deno runtime harness",
  denoReplCall: "Strata sandboxes have no Deno runtime harness",
  denoReplClose: "Strata sandboxes have no Deno runtime harness",
  vscode: "Strata does not offer VS Code in sandboxes: sandbox.exposeVscode() is not supported",
  fetch:
    "sandbox.fetch() is not supported by Strata's Deno API: expose the port (port option) and fetch sandbox.url, or run curl inside with sandbox.sh",
  umask: "fs.umask() is not supported by Strata's Deno API (each call runs in a fresh process)",
};

const refused =
  (method: string): Handler =>
  async () => {
    throw new RpcFailure(codeError("not_supported", REFUSED[method]!, "NotSupported"));
  };

/**
 * The method table of the sandbox endpoint. `sandboxHost` says at which host the
 * daemon's proxy serves a sandbox's exposed port (the domain of `exposeHttp`).
 */
export function sandboxMethods(options: {
  tag: string;
  sandboxHost: (id: string) => string;
}): Record<string, Handler> {
  const exposeHttp: Handler = async (conn, params) => {
    const p = z
      .object({
        domain: z.string().max(300),
        port: z.number().int().min(1).max(65535).nullish(),
        pid: z.number().int().nullish(),
      })
      .parse(params);
    if (p.port == null)
      throw new RpcFailure(
        codeError(
          "not_supported",
          "Exposing a Deno process by pid is not supported: expose its port",
          "NotSupported",
        ),
      );
    if (
      p.domain !== options.sandboxHost(conn.st.id) &&
      fromDenoId(p.domain, options.tag) === undefined
    )
      throw new RpcFailure(
        codeError(
          "invalid_request",
          `Domain ${JSON.stringify(p.domain)} was not allocated for this sandbox`,
          "TypeError",
        ),
      );
    await conn.port.exposePort(conn.st.orgId, conn.st.id, p.port);
    return null;
  };
  const abort: Handler = async (conn, params) => {
    conn.abort(z.object({ abortId: z.number().int() }).parse(params).abortId);
    return null;
  };
  return {
    ...fsMethods,
    ...handleMethods,
    ...walkMethods,
    ...processMethods,
    exposeHttp,
    abort,
    ...Object.fromEntries(Object.keys(REFUSED).map((m) => [m, refused(m)])),
  };
}
