import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { attempt, fsyncDir, removeFile, storageCorrupt, writeFileAtomic } from './files.js';
import { INDEX_NAME, SEGMENT_NAME, decodeCleanMarker, decodeResetMarker, encodeResetMarker } from './formats.js';
import type { ResetPoint } from './formats.js';
import { Segment } from './segment.js';
import { scanSegment } from './segment-scan.js';

export interface RecoveryReport {
  /** The previous owner closed the log cleanly, so the tail was not rescanned. */
  clean: boolean;
  /** A resetTo() interrupted by a crash was finished. */
  resetCompleted: boolean;
  /** The torn or damaged end of the tail segment that was cut off, if any. */
  truncated: { segment: string; position: number; droppedBytes: number; reason: string } | null;
  /** Segments whose missing, stale or damaged index was rebuilt from the log. */
  rebuiltIndexes: string[];
  /** Leftovers deleted: temporary files of interrupted writes, indexes of deleted segments. */
  removedFiles: string[];
}

export interface RecoveryInput {
  dir: string;
  indexIntervalBytes: number;
  /** Milliseconds since the epoch: the creation time of a segment made here. */
  epochMs: number;
}

const CLEAN = 'CLEAN';
const RESET = 'RESET';

/**
 * Brings a partition directory to a consistent state and returns its
 * segments, oldest first, the last one loaded and ready for appends.
 *
 * Sealed segments are trusted when their index file matches them (rolling
 * fsyncs a segment before the next exists, so a sealed segment is never
 * torn); otherwise they are scanned, and any fault there is real damage to
 * acknowledged data: STORAGE_CORRUPT, naming the file and the byte. The tail
 * segment is scanned batch by batch unless the last close left a CLEAN
 * marker describing it, and whatever follows its last valid batch (a torn
 * write, garbage) is cut off. Unknown files are refused by name.
 */
export function recoverDirectory(input: RecoveryInput): { segments: Segment[]; report: RecoveryReport } {
  const { dir } = input;
  const report: RecoveryReport = { clean: false, resetCompleted: false, truncated: null, rebuiltIndexes: [], removedFiles: [] };
  const listing = classify(dir, report);

  const resetBytes = listing.reset ? attempt('read', join(dir, RESET), () => readFileSync(join(dir, RESET))) : null;
  if (resetBytes !== null) {
    const point = decodeResetMarker(resetBytes);
    if (typeof point === 'string') throw storageCorrupt(join(dir, RESET), point);
    if (listing.clean) removeFile(join(dir, CLEAN));
    report.resetCompleted = true;
    // The old segments go unread: they may be what the reset was replacing, damage and all.
    const files = [...listing.indexes.map((stem) => `${stem}.index`), ...listing.segments.map((s) => s.name).reverse()];
    return { segments: [finishReset(dir, files, point, input)], report };
  }

  const segments = listing.segments.map((s) => Segment.fromFile(dir, s.name, s, input.indexIntervalBytes));
  for (const stem of listing.indexes) {
    if (!segments.some((s) => s.stem === stem)) {
      removeFile(join(dir, `${stem}.index`));
      report.removedFiles.push(`${stem}.index`);
    }
  }
  if (segments.length === 0) {
    segments.push(Segment.create(dir, { baseOffset: 0, baseIndex: 1, prevTerm: 0, createdMs: input.epochMs }, input.indexIntervalBytes));
    return { segments, report };
  }

  for (let i = 0; i < segments.length - 1; i++) {
    const segment = segments[i]!;
    const fileBytes = attempt('stat', segment.path, () => statSync(segment.path).size);
    if (!segment.loadSummary(fileBytes)) {
      const scan = scanSegment(segment);
      if (scan.fault !== null) {
        throw storageCorrupt(segment.path, `sealed segment is damaged at byte ${scan.fault.position}: ${scan.fault.reason}`, { position: scan.fault.position });
      }
      segment.writeIndexFile({ durable: false });
      report.rebuiltIndexes.push(segment.stem);
    }
    if (segment.empty) throw storageCorrupt(segment.path, 'a sealed segment holds no batches');
    segment.unload();
    if (i > 0) checkChain(segments[i - 1]!, segment);
  }

  const tail = segments[segments.length - 1]!;
  if (segments.length > 1) checkChain(segments[segments.length - 2]!, tail);
  tail.open();
  report.clean = listing.clean && trustCleanTail(dir, tail);
  if (!report.clean) {
    const scan = scanSegment(tail);
    if (scan.fault !== null) {
      tail.truncateAt(scan.validBytes, tail);
      tail.syncNow();
      report.truncated = { segment: tail.stem, position: scan.validBytes, droppedBytes: scan.fileBytes - scan.validBytes, reason: scan.fault.reason };
    }
  }
  if (listing.clean) {
    // From the first append on, the tail differs from what CLEAN describes: the marker must be gone for good first.
    removeFile(join(dir, CLEAN));
    fsyncDir(dir);
  }
  // Whatever a killed predecessor wrote may still be only in the page cache; from here on it all counts as durable.
  tail.syncNow();
  return { segments, report };
}

/**
 * Replaces every segment by one empty segment that starts right after
 * `point`. Durable in this order: RESET marker, deletions, new segment,
 * marker removal; a crash anywhere leaves either the old log or RESET, which
 * the next open finishes the same way.
 */
export function resetDirectory(dir: string, segments: readonly Segment[], point: ResetPoint, input: Omit<RecoveryInput, 'dir'>): Segment {
  writeFileAtomic(dir, RESET, encodeResetMarker(point), { durable: true });
  for (const segment of segments) segment.unload();
  const files = segments.flatMap((s) => [`${s.stem}.index`, `${s.stem}.log`]).reverse();
  return finishReset(dir, files, point, { ...input, dir });
}

function finishReset(dir: string, files: readonly string[], point: ResetPoint, input: RecoveryInput): Segment {
  for (const name of files) removeFile(join(dir, name));
  const fresh = Segment.create(dir, { baseOffset: point.baseOffset, baseIndex: point.entryIndex + 1, prevTerm: point.term, createdMs: input.epochMs }, input.indexIntervalBytes);
  removeFile(join(dir, RESET));
  fsyncDir(dir);
  return fresh;
}

function trustCleanTail(dir: string, tail: Segment): boolean {
  const marker = decodeCleanMarker(attempt('read', join(dir, CLEAN), () => readFileSync(join(dir, CLEAN))));
  if (typeof marker === 'string' || marker.baseIndex !== tail.baseIndex) return false;
  const fileBytes = attempt('stat', tail.path, () => statSync(tail.path).size);
  if (marker.logBytes !== fileBytes || !tail.loadSummary(fileBytes)) return false;
  if (tail.loadIndex()) return true;
  tail.resetSummary();
  return false;
}

function checkChain(previous: Segment, next: Segment): void {
  if (next.baseIndex !== previous.lastIndex + 1 || next.baseOffset !== previous.nextOffset || next.prevTerm !== previous.lastTerm) {
    throw storageCorrupt(
      next.path,
      `does not continue ${previous.stem}.log (which ends at index ${previous.lastIndex}, offset ${previous.nextOffset}, term ${previous.lastTerm})`,
    );
  }
}

interface Listing {
  segments: Array<{ name: string; baseOffset: number; baseIndex: number }>;
  indexes: string[];
  clean: boolean;
  reset: boolean;
}

function classify(dir: string, report: RecoveryReport): Listing {
  const listing: Listing = { segments: [], indexes: [], clean: false, reset: false };
  const entries = attempt('list', dir, () => readdirSync(dir, { withFileTypes: true }));
  for (const entry of entries) {
    const name = entry.name;
    if (name === 'LOCK' || name.startsWith('LOCK.')) continue; // dir-lock.ts owns these
    if (!entry.isFile()) throw storageCorrupt(join(dir, name), 'unexpected entry in a log directory (not a regular file)');
    if (name.endsWith('.tmp')) {
      removeFile(join(dir, name));
      report.removedFiles.push(name);
      continue;
    }
    const segment = SEGMENT_NAME.exec(name);
    if (segment !== null) {
      const baseOffset = Number(segment[1]);
      const baseIndex = Number(segment[2]);
      if (!Number.isSafeInteger(baseOffset) || !Number.isSafeInteger(baseIndex)) throw storageCorrupt(join(dir, name), 'segment name out of range');
      listing.segments.push({ name, baseOffset, baseIndex });
      continue;
    }
    const index = INDEX_NAME.exec(name);
    if (index !== null) listing.indexes.push(name.slice(0, -'.index'.length));
    else if (name === CLEAN) listing.clean = true;
    else if (name === RESET) listing.reset = true;
    else throw storageCorrupt(join(dir, name), 'foreign file in a log directory (the log owns its directory)');
  }
  listing.segments.sort((a, b) => a.baseIndex - b.baseIndex);
  for (let i = 1; i < listing.segments.length; i++) {
    const a = listing.segments[i - 1]!;
    const b = listing.segments[i]!;
    if (a.baseIndex === b.baseIndex || a.baseOffset > b.baseOffset) throw storageCorrupt(join(dir, b.name), `conflicts with ${a.name}`);
  }
  return listing;
}
