import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SkeinError } from '../../transport/errors.js';
import { removeFile, storageError } from './files.js';

/**
 * One process per log directory. Node has no flock(), so the lock is a file
 * named LOCK holding the owner's pid and a random nonce, created atomically
 * with link() (which fails if LOCK exists) from a fully written temporary
 * file, so LOCK is never seen half-written.
 *
 * A LOCK whose pid is gone was left by a crashed process and is taken over:
 * renamed aside (atomic; only one contender can win a given file), checked
 * to still be the stale lock that was read, then deleted. A pid that is
 * alive, this process included, means STORAGE_LOCKED: a second open of the
 * same directory from the same process is refused too.
 *
 * Known limit: pids are recycled, so a stale LOCK whose pid now names an
 * unrelated live process is reported as locked; the message names the pid
 * and file, and deleting LOCK is then the operator's call.
 */
export class DirLock {
  private constructor(
    readonly path: string,
    private readonly content: string,
  ) {}

  static acquire(dir: string): DirLock {
    const path = join(dir, 'LOCK');
    const nonce = randomBytes(8).toString('hex');
    const content = `${process.pid} ${nonce}\n`;
    const temporary = join(dir, `LOCK.${nonce}.tmp`);
    try {
      writeFileSync(temporary, content);
    } catch (error) {
      throw storageError('create', temporary, error);
    }
    try {
      // Two rounds: a stale lock taken over in the first leaves the second to win or to find a live owner.
      for (let round = 0; round < 2; round++) {
        try {
          linkSync(temporary, path);
          return new DirLock(path, content);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw storageError('link', path, error);
        }
        const existing = readLock(path);
        if (existing === null) continue; // removed between our link and read: try again
        if (existing.pid !== null && isAlive(existing.pid)) {
          throw new SkeinError('STORAGE_LOCKED', {
            message: `${dir} is locked by process ${existing.pid} (${path})`,
            details: { path, pid: existing.pid },
          });
        }
        takeOverStale(path, existing.raw, nonce);
      }
      throw new SkeinError('STORAGE_LOCKED', { message: `${dir}: another process keeps taking ${path}`, details: { path } });
    } finally {
      removeFile(temporary);
    }
  }

  /** Removes LOCK if it is still ours (it always is, unless an operator intervened). */
  release(): void {
    const current = readLock(this.path);
    if (current !== null && current.raw === this.content) removeFile(this.path);
  }
}

function readLock(path: string): { raw: string; pid: number | null } | null {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw storageError('read', path, error);
  }
  const pid = Number(raw.split(' ')[0]);
  return { raw, pid: Number.isSafeInteger(pid) && pid > 0 ? pid : null };
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * A killed process whose parent has not reaped it yet still answers
 * kill(pid, 0). In a container whose init does not reap promptly, a broker
 * SIGKILLed and restarted half a second later was refused (STORAGE_LOCKED by
 * its own corpse). Linux tells: state Z in /proc/<pid>/stat. Elsewhere, or
 * if unreadable, the process counts as alive.
 */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) state ...": comm may hold spaces and parentheses, so read after the last ')'.
  return stat[stat.lastIndexOf(')') + 2] === 'Z';
}

function takeOverStale(path: string, staleContent: string, nonce: string): void {
  const aside = `${path}.${nonce}.stale.tmp`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // another contender moved it first
    throw storageError('rename', path, error);
  }
  let moved: string;
  try {
    moved = readFileSync(aside, 'utf8');
  } catch (error) {
    throw storageError('read', aside, error);
  }
  if (moved !== staleContent) {
    // We moved a fresh lock another contender had just created: put it back if LOCK is still free.
    try {
      linkSync(aside, path);
    } catch {
      // LOCK exists again: whoever holds it wins; ours will be refused on the next round.
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // Best effort: a leftover *.stale.tmp is deleted by the next open.
  }
}
