import { readFileSync } from 'node:fs';

/**
 * Datagrams the kernel dropped on our socket because its receive buffer was
 * full (the `drops` column of /proc/net/udp for our local port). These are
 * real losses, never confused with the loss model's injected ones. Linux
 * only: elsewhere (or if the file is unreadable) the answer is null.
 */
export function kernelReceiveDrops(port: number, family: 'udp4' | 'udp6'): number | null {
  let text: string;
  try {
    text = readFileSync(family === 'udp6' ? '/proc/net/udp6' : '/proc/net/udp', 'utf8');
  } catch {
    return null;
  }
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  let drops: number | null = null;
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 13) continue;
    const local = fields[1]!;
    if (local.slice(local.indexOf(':') + 1) !== portHex) continue;
    drops = (drops ?? 0) + Number(fields[12]);
  }
  return drops;
}
