/**
 * Sandbox networking: a netns per sandbox on a per-daemon bridge, NAT, isolation and
 * `allowNet` egress rules. See {@link NetworkManager}.
 */
export { type AllowRule, parseAllowNet } from "./allow-net.ts";
export { NetworkManager } from "./manager.ts";
export type { Attachment, AttachOptions, NetworkLogger, NetworkManagerOptions } from "./types.ts";
