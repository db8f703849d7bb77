import { hostPortKey } from '../transport/core/address.js';
import { describe } from './check.js';

/** How to reach one broker. */
export interface BrokerAddress {
  host: string;
  port: number;
}

/** Parses "host:port" or "[v6]:port"; returns what is wrong as a string. */
export function parseBrokerAddress(entry: unknown): BrokerAddress | string {
  if (typeof entry !== 'string') return `expected "host:port", got ${describe(entry)}`;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(entry);
  if (match === null) return `expected "host:port" (or "[ipv6]:port"), got ${describe(entry)}`;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return `port ${port} is outside 1-65535 in ${describe(entry)}`;
  return { host: (match[1] ?? match[2])!, port };
}

export function formatAddress(address: BrokerAddress): string {
  return hostPortKey(address.host, address.port);
}
