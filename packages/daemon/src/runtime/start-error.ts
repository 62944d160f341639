/**
 * A sandbox's container did not come up: the OCI runtime refused or failed to start it,
 * or its agent never said READY. `reason` is the runtime's own words (crun's stderr, or
 * why the agent connection failed), fit to show the caller; `launch` has undone
 * everything it made before throwing it.
 *
 * The service layer maps it to `sandbox_start_failed` (503); it is never a 500.
 *
 * @example
 * ```ts
 * try {
 *   await launcher.launch(spec);
 * } catch (err) {
 *   if (err instanceof SandboxStartError) log.warn({ sandbox: err.sandboxId }, err.reason);
 * }
 * ```
 */
export class SandboxStartError extends Error {
  /** The sandbox whose container did not start. */
  readonly sandboxId: string;
  /** Why, in the runtime's words: `crun exited with 1: <its stderr>`. */
  readonly reason: string;

  constructor(sandboxId: string, reason: string, options?: { cause?: unknown }) {
    super(`Sandbox ${sandboxId} did not start: ${reason}`, options);
    this.name = "SandboxStartError";
    this.sandboxId = sandboxId;
    this.reason = reason;
  }
}
