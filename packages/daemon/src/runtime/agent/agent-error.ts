import { errnoName } from "./errno.ts";
import { decodeError } from "./protocol.ts";

/**
 * A failure reported by the sandbox agent, or the loss of the agent itself.
 *
 * `code` is the errno name the agent reported (`"ENOENT"`, `"EACCES"`, …, with `errno`
 * its Linux number), or `"agent_gone"` (errno 0) when the connection to the agent ended
 * or broke the protocol before the operation finished.
 *
 * @example
 * try {
 *   await agent.stat("/etc/missing");
 * } catch (e) {
 *   if (e instanceof AgentError && e.code === "ENOENT") return undefined;
 *   throw e;
 * }
 */
export class AgentError extends Error {
  readonly code: string;
  readonly errno: number;

  constructor(code: string, errno: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgentError";
    this.code = code;
    this.errno = errno;
  }

  /** From an ERROR payload; `what` says what failed, e.g. `Cannot stat "/x"`. */
  static fromPayload(payload: Buffer, what: string): AgentError {
    const { errno, message } = decodeError(payload);
    const code = errnoName(errno);
    return new AgentError(code, errno, `${what}: ${message} (${code})`);
  }

  static gone(why: string, cause?: unknown): AgentError {
    return new AgentError("agent_gone", 0, `The sandbox agent is gone: ${why}`, { cause });
  }
}
