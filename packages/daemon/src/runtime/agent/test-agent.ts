/**
 * Test support: builds strata-agent and runs it as an ordinary host process whose fd 3
 * is a socketpair (libuv creates stdio pipes as unix socketpairs). Run this way the
 * agent is a subreaper and only ever kills its own descendants.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Duplex, Readable } from "node:stream";
import { AgentClient } from "./client.ts";

const AGENT_DIR = resolve(import.meta.dirname, "../../../../agent");
export const AGENT_PATH = resolve(AGENT_DIR, "build/strata-agent");

/** Builds the agent when its sources changed; throws with make's output on failure. */
export function buildAgent(): void {
  const r = spawnSync("bash", [resolve(AGENT_DIR, "build.sh")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`Building strata-agent failed:\n${r.stderr}`);
}

export interface TestAgent extends AsyncDisposable {
  client: AgentClient;
  child: ChildProcess;
  /** Settles when the agent process exits. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startAgent(): Promise<TestAgent> {
  const child = spawn(AGENT_PATH, [], { stdio: ["ignore", "inherit", "inherit", "pipe"] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once("exit", (code, signal) => res({ code, signal })),
  );
  const client = await AgentClient.connect(child.stdio[3] as Duplex, { readyTimeoutMs: 5000 });
  return {
    client,
    child,
    exit,
    async [Symbol.asyncDispose]() {
      await client.close();
      await exit;
    },
  };
}

export const ENV: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

export async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function textOf(stream: Readable): Promise<string> {
  return (await bytesOf(stream)).toString("utf8");
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A process that exited but was not reaped still answers kill(0): look at its state. */
export function isRunningOrZombie(pid: number): "running" | "zombie" | "gone" {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z") ? "zombie" : "running";
  } catch {
    return "gone";
  }
}

/** Polls a condition that has no event to await (another process's state). */
export async function waitUntil(what: string, check: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function vmRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
}
