/** A peer's address; `key` ("host:port", "[v6]:port") names it to loss models, in logs and in maps. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
  readonly key: string;
}

export function peerAddress(host: string, port: number): PeerAddress {
  return { host, port, key: hostPortKey(host, port) };
}

/** "host:port", with an IPv6 host in brackets: the one way every layer writes an address. */
export function hostPortKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
