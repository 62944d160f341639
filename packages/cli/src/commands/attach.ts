import type { Writable } from "node:stream";
import type { ByteStream, ChildProcess } from "@strata/sdk";

/** Copies a stream to stdout or stderr, waiting when the terminal or pipe is full. */
async function copy(from: ByteStream, to: Writable): Promise<void> {
  for await (const chunk of from) {
    if (!to.write(chunk)) await new Promise((resolve) => to.once("drain", resolve));
  }
}

/** Sends this process's stdin to the child's until end-of-file or the child is gone. */
async function feed(child: ChildProcess): Promise<void> {
  const writer = child.stdin?.getWriter();
  if (!writer) return;
  try {
    for await (const chunk of process.stdin) await writer.write(chunk as Uint8Array);
    await writer.close();
  } catch {
    // The process ended (or closed its stdin) before reading everything: as with a local pipe.
  }
}

/**
 * Connects a remote process to this terminal: its output streams live to stdout and
 * stderr, piped stdin is forwarded, Ctrl-C and SIGTERM are passed on (a second Ctrl-C
 * kills it). Resolves with the exit code to exit with (128 + n after signal n).
 */
export async function attach(child: ChildProcess): Promise<number> {
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    void child.kill(interrupts > 1 ? "SIGKILL" : "SIGINT");
  };
  const onSigterm = () => void child.kill("SIGTERM");
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigterm);
  void feed(child);
  try {
    const [, , status] = await Promise.all([
      copy(child.stdout, process.stdout),
      copy(child.stderr, process.stderr),
      child.status,
    ]);
    return status.code;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
    // An open stdin pipe would keep this process alive after the command ended.
    if (child.stdin) process.stdin.destroy();
  }
}

/** Whether stdin should be forwarded: it is a pipe or a file, not a terminal. */
export function stdinIsPiped(): boolean {
  return process.stdin.isTTY !== true;
}
