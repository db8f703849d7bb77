import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

/**
 * The simulation's disk: the real file system, with every asynchronous call
 * completing on the simulated clock (thread-pool completions would arrive in
 * a different order each run) and fsync a no-op. The test mocks node:fs and
 * node:fs/promises with these.
 *
 * Each call does its work at once and reports it one event later, through
 * the caller's own setImmediate: a process killed in between never learns of
 * a write that did reach the disk, as a real one would not.
 */
function later<T>(work: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: work() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    setImmediate(() => (outcome.ok ? resolve(outcome.value) : reject(outcome.error)));
  });
}

class SimulatedFileHandle {
  constructor(readonly fd: number) {}
  writeFile(data: Uint8Array | string): Promise<void> {
    return later(() => writeFileSync(this.fd, data));
  }
  sync(): Promise<void> {
    return later(() => undefined);
  }
  close(): Promise<void> {
    return later(() => closeSync(this.fd));
  }
}

export const fsOverrides = {
  fdatasync(_fd: number, callback: (error: NodeJS.ErrnoException | null) => void): void {
    setImmediate(() => callback(null));
  },
  fdatasyncSync(): void {},
  fsyncSync(): void {},
};

export const fsPromisesOverrides = {
  open: (path: string, flags = 'r') => later(() => new SimulatedFileHandle(openSync(path, flags))),
  readFile: (path: string) => later(() => readFileSync(path)),
  rename: (from: string, to: string) => later(() => renameSync(from, to)),
  unlink: (path: string) => later(() => unlinkSync(path)),
};
