import { closeSync, fdatasyncSync, fsyncSync, openSync, readSync, renameSync, rmSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { SkeinError } from '../../transport/errors.js';

/**
 * Synchronous file primitives of the log, each turning a failed system call
 * into STORAGE_FAILED naming the operation and the file. Synchronous on
 * purpose: appends land in the page cache in microseconds, and Raft wants
 * its storage calls to return with the state changed; only fsync, which can
 * take milliseconds, goes to the thread pool (flusher.ts).
 */

export function storageError(operation: string, path: string, cause: unknown): SkeinError {
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : 'error';
  return new SkeinError('STORAGE_FAILED', { message: `${operation} ${path} failed: ${code}`, cause, details: { path, operation } });
}

/** Whether a storage error is a full disk or an exhausted quota: a condition that passes once space is freed. */
export function isNoSpace(error: unknown): boolean {
  let cause = error;
  // A SkeinError wraps the system error, perhaps twice (the log's, then the replica's).
  while (cause instanceof SkeinError && cause.cause !== undefined) cause = cause.cause;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? (cause as { code: unknown }).code : undefined;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Whether `dir` takes `bytes` of writes now: writes, syncs and removes a
 * probe file. A replica stopped by a full disk is reopened only once this
 * passes, so a disk still full costs one failed probe per try, not a
 * replica reopened, replayed and failed again.
 */
export function probeWritable(dir: string, bytes: number): boolean {
  const path = join(dir, '.space-probe');
  let fd: number | null = null;
  try {
    fd = openSync(path, 'w');
    const chunk = Buffer.alloc(Math.min(bytes, 64 * 1024));
    for (let written = 0; written < bytes; written += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written));
    fdatasyncSync(fd);
    return true;
  } catch {
    return false;
  } finally {
    try {
      if (fd !== null) closeSync(fd);
      rmSync(path, { force: true });
    } catch {
      // A disk that cannot even close or remove the probe fails the next probe too.
    }
  }
}

export function storageCorrupt(path: string, reason: string, details: Record<string, unknown> = {}): SkeinError {
  return new SkeinError('STORAGE_CORRUPT', { message: `${path}: ${reason}`, details: { path, reason, ...details } });
}

export function attempt<T>(operation: string, path: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof SkeinError) throw error;
    throw storageError(operation, path, error);
  }
}

/** Reads exactly `length` bytes at `position` into a fresh buffer, or fewer if the file ends first. */
export function readAt(fd: number, path: string, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  const got = readInto(fd, path, out, position);
  return got === length ? out : out.subarray(0, got);
}

export function readInto(fd: number, path: string, out: Buffer, position: number): number {
  let done = 0;
  while (done < out.length) {
    const n = attempt('read', path, () => readSync(fd, out, done, out.length - done, position + done));
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `buffers` at `position` with as few system calls as the kernel allows. */
export function writeAllAt(fd: number, path: string, buffers: readonly Uint8Array[], position: number): void {
  // writev takes at most IOV_MAX (1024 on Linux) buffers and may write short; loop over both.
  let pending = buffers.slice();
  while (pending.length > 0) {
    const chunk = pending.slice(0, 1024);
    let written = attempt('write', path, () => (chunk.length === 1 ? writeSync(fd, chunk[0]!, 0, chunk[0]!.length, position) : writevSync(fd, chunk, position)));
    position += written;
    let i = 0;
    while (i < pending.length && written >= pending[i]!.length) {
      written -= pending[i]!.length;
      i++;
    }
    pending = pending.slice(i);
    if (written > 0) pending[0] = pending[0]!.subarray(written);
  }
}

export function fsyncDir(dir: string): void {
  const fd = attempt('open directory', dir, () => openSync(dir, 'r'));
  try {
    attempt('fsync directory', dir, () => fsyncSync(fd));
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `dir/name` with `bytes` so a crash leaves the old file or the new
 * one, never a mix: write a temporary file, fsync it, rename it over, fsync
 * the directory (the rename is only durable once the directory is).
 */
export function writeFileAtomic(dir: string, name: string, bytes: Uint8Array, options: { durable: boolean }): void {
  const path = join(dir, name);
  const temporary = `${path}.tmp`;
  const fd = attempt('create', temporary, () => openSync(temporary, 'w'));
  try {
    writeAllAt(fd, temporary, [bytes], 0);
    if (options.durable) attempt('fsync', temporary, () => fdatasyncSync(fd));
  } finally {
    closeSync(fd);
  }
  attempt('rename', temporary, () => renameSync(temporary, path));
  if (options.durable) fsyncDir(dir);
}

/** Unlinks a file; a file already gone is fine (a crash may have removed it before). */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError('unlink', path, error);
  }
}
