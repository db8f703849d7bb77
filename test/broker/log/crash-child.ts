import { PartitionLog } from '../../../broker/log/index.js';
import type { FlushPolicy } from '../../../broker/log/index.js';
import { makeBatch, scriptedSpec } from './helpers.js';

/**
 * A writer for the crash tests, run as its own process and killed with
 * SIGKILL at a random moment. Usage:
 *   node crash-child.mjs <dir> <policy> <seed> <mode>
 * policy: every-append | records | ms | manual; mode: write | hold.
 * It appends the scripted batches (helpers.scriptedSpec) after whatever the
 * log holds, and prints "durable <index> <offset>" each time the durable
 * point advances, so the parent knows what must survive the kill. In "hold"
 * mode it only opens the log and waits (for the lock test).
 */

const [dir, policyName, seedText, mode] = process.argv.slice(2);
const seed = Number(seedText);
const policies: Record<string, FlushPolicy> = {
  'every-append': 'every-append',
  records: { everyRecords: 200 },
  ms: { everyMs: 5 },
  manual: 'manual',
};
const flush = policies[policyName!];
if (dir === undefined || flush === undefined || !Number.isSafeInteger(seed)) {
  console.error('usage: crash-child <dir> <every-append|records|ms|manual> <seed> <write|hold>');
  process.exit(2);
}

const log = await PartitionLog.open({
  dir,
  flush,
  segmentBytes: 256 * 1024,
  onDurable: (point) => process.stdout.write(`durable ${point.index} ${point.offset}\n`),
});
process.stdout.write(`ready ${log.lastIndex()} ${log.endOffset} ${process.pid}\n`);

if (mode === 'hold') {
  setInterval(() => {}, 1000);
} else {
  // Bounded: stop writing after this much, and wait to be killed.
  const bytesMax = 48 * 1024 * 1024;
  let written = 0;
  let appends = 0;
  while (written < bytesMax) {
    const batches: Buffer[] = [];
    let index = log.lastIndex();
    let offset = log.endOffset;
    const count = 1 + (appends % 4);
    for (let i = 0; i < count; i++) {
      const spec = scriptedSpec(seed, ++index, offset);
      batches.push(makeBatch(spec));
      offset += spec.records;
    }
    log.append(batches);
    written += batches.reduce((n, b) => n + b.length, 0);
    appends++;
    if (policyName === 'manual' && appends % 8 === 0) await log.flush();
    // Let fsync completions and the flush timer run between appends.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await log.flush();
  process.stdout.write('done\n');
  setInterval(() => {}, 1000);
}
