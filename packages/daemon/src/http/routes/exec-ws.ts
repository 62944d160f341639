import { ExecRequest } from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { z } from "zod";
import type { ExecProcess } from "../../service/sandbox-io.ts";
import { toErrorResponse } from "../errors.ts";
import type { HttpServices } from "../http-services.ts";

/** First message of an exec WebSocket: the command, and whether stdin will follow. */
const Start = ExecRequest.omit({ stdin: true }).extend({ stdin: z.boolean().optional() });
const Control = z.union([
  z.strictObject({ type: z.literal("stdin_close") }),
  z.strictObject({ type: z.literal("signal"), signal: z.string().regex(/^SIG[A-Z0-9]+$/) }),
]);

/** Binary frames from the server start with this byte: which stream the bytes belong to. */
export const STREAM = { stdout: 1, stderr: 2 } as const;

/**
 * `GET /v1/sandboxes/{id}/exec/ws`: a process whose output streams as it is produced.
 *
 * Client → server: a first text frame `{argv | command, cwd?, env?, stdin?: boolean}`; then
 * binary frames are stdin bytes, `{"type":"stdin_close"}` ends stdin and
 * `{"type":"signal","signal":"SIGTERM"}` signals the process group.
 * Server → client: `{"type":"started","pid"}`, binary frames `[1|2, ...bytes]` for
 * stdout/stderr, and finally `{"type":"exit","exitCode","signal"}` before a normal close;
 * a failure is `{"type":"error","code","message"}` and close code 4000.
 */
export async function execWsRoute(app: FastifyInstance, s: HttpServices): Promise<void> {
  app.get<{ Params: { id: string } }>(
    "/sandboxes/:id/exec/ws",
    { websocket: true, schema: { hide: true } },
    (socket: WebSocket, req) => {
      const fail = (err: unknown) => {
        const { body, internal } = toErrorResponse(err, req.id);
        if (internal) req.log.error({ err }, "exec over WebSocket failed");
        if (socket.readyState === socket.OPEN) {
          socket.send(JSON.stringify({ type: "error", ...body }));
          socket.close(4000, body.code);
        }
      };
      // One listener from the first frame on: frames a client sends right after the start
      // message (stdin, stdin_close) queue behind the start instead of being lost.
      let proc: Promise<ExecProcess | undefined> | undefined;
      let queue = Promise.resolve();
      socket.on("message", (data, isBinary) => {
        if (proc === undefined) {
          proc = run(data as Buffer, isBinary).catch((err: unknown) => {
            fail(err);
            return undefined;
          });
          return;
        }
        const started = proc;
        queue = queue
          .then(async () => {
            const p = await started;
            if (p) await control(p, data as Buffer, isBinary);
          })
          .catch((err: unknown) => req.log.warn({ err }, "exec control message failed"));
      });

      const control = async (p: ExecProcess, data: Buffer, isBinary: boolean) => {
        if (isBinary) return p.writeStdin(data);
        const msg = Control.safeParse(JSON.parse(String(data)));
        if (!msg.success) return;
        if (msg.data.type === "stdin_close") await p.closeStdin();
        else await p.signal(msg.data.signal as NodeJS.Signals);
      };

      const run = async (first: Buffer, isBinary: boolean): Promise<ExecProcess | undefined> => {
        if (isBinary) {
          throw Object.assign(new Error("the first frame must be the JSON start message"), {
            statusCode: 400,
          });
        }
        const start = Start.parse(JSON.parse(String(first)));
        const started = await s.io.start(req.orgId, req.params.id, {
          ...start,
          stdin: start.stdin ?? false,
        });
        if (!("pid" in started)) {
          socket.send(JSON.stringify({ type: "started", pid: null }));
          if (started.stderr) {
            socket.send(
              Buffer.concat([Buffer.from([STREAM.stderr]), Buffer.from(started.stderr, "base64")]),
            );
          }
          socket.send(JSON.stringify({ type: "exit", exitCode: started.exitCode, signal: null }));
          socket.close(1000);
          return undefined;
        }
        socket.send(JSON.stringify({ type: "started", pid: started.pid }));
        // The client leaving kills the process, as closing a terminal does.
        socket.on("close", () => {
          started.signal("SIGKILL").catch(() => {});
        });
        void stream(started).catch(fail);
        return started;
      };

      const stream = async (p: ExecProcess) => {
        const pipe = async (out: AsyncIterable<unknown>, tag: number) => {
          for await (const chunk of out) {
            const frame = Buffer.concat([Buffer.from([tag]), chunk as Buffer]);
            // Backpressure: past a few MB queued for a slow client, wait until this frame is written.
            if (socket.bufferedAmount < 4 * 1024 * 1024) socket.send(frame);
            else await new Promise<void>((resolve) => socket.send(frame, () => resolve()));
          }
        };
        await Promise.all([pipe(p.stdout, STREAM.stdout), pipe(p.stderr, STREAM.stderr)]);
        const status = await p.exited;
        if (socket.readyState === socket.OPEN) {
          socket.send(
            JSON.stringify({ type: "exit", exitCode: status.code, signal: status.signal }),
          );
          socket.close(1000);
        }
      };
    },
  );
}
