import type { AgentError } from "./agent-error.ts";
import type { MessageType } from "./protocol.ts";

/** Receives the frames of one request id. Throwing from onFrame is a protocol violation. */
export interface FrameHandler {
  onFrame(type: MessageType, payload: Buffer): void;
  /** The connection ended before the request did. */
  onGone(error: AgentError): void;
}

/** One request id's view of the connection (internal to the agent client). */
export interface Port {
  readonly id: number;
  /** Resolves once the frame is queued without exceeding the socket's buffer. */
  send(type: MessageType, payload?: Uint8Array): Promise<void>;
  /** Routes this id's frames to the handler (replacing any earlier one). */
  attach(handler: FrameHandler): void;
  /** Stops routing; later frames for the id are dropped. */
  release(): void;
}

/** A promise with its settle functions; rejections count as handled until awaited. */
export function deferred<T>(): PromiseWithResolvers<T> {
  const d = Promise.withResolvers<T>();
  d.promise.catch(() => {});
  return d;
}
