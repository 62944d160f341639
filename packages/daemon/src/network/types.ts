/** The network module's public types. */

/** The slice of the daemon's logger the network module uses. */
export interface NetworkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface NetworkManagerOptions {
  /** The daemon's prefix (2–8 of [a-z0-9], starting with a letter); names every host object. */
  prefix: string;
  /** Sandbox subnet, CIDR /16–/29. Default: a free /20 of 10.64.0.0/10 picked from the prefix. */
  subnet?: string;
  log: NetworkLogger;
  /** Resolves allowNet host names at attach time. Default: the host's getaddrinfo, IPv4. */
  lookup?: (host: string) => Promise<string[]>;
  /** Resolvers the DNS forwarder asks ("ip" or "ip:port"). Default: /etc/resolv.conf's. */
  dnsUpstreams?: readonly string[];
  /**
   * How many spare networks (netns, veth, address, bridge port) to keep made ahead, so
   * that `attach` costs no exec. Refilled in the background; removed by `close`. Default 0.
   */
  warm?: number;
}

export interface AttachOptions {
  /** Egress allow-list (see `parseAllowNet`). Absent: unrestricted; `[]`: no egress at all. */
  allowNet?: readonly string[];
}

/** A sandbox's network, as the runtime needs it. */
export interface Attachment {
  /** Name of the netns, as `ip netns` lists it. */
  netns: string;
  /** Path of the netns, for the network entry of the OCI config's `linux.namespaces`. */
  netnsPath: string;
  /** The sandbox's IPv4 address (eth0); the reverse proxy connects to it. */
  address: string;
  /** Its default gateway: the bridge's address. */
  gateway: string;
  /** Content for the sandbox's /etc/resolv.conf. */
  resolvConf: string;
}
