import { applyConfEntry, decodeConfEntry } from './membership.js';
import type { ConfigState, Entry } from './types.js';

/**
 * Which configuration is in force at each point of a replica's log. A
 * configuration takes effect as soon as its entry is in the log, committed
 * or not (Raft thesis §4.1), so a replica's membership is a function of its
 * log alone: it survives restarts without any durable commit index, and it
 * rolls back when a conflicting suffix holding a config entry is truncated.
 *
 * `base` is the configuration as of a point that can no longer be truncated
 * (a snapshot, or an applied index); `later` holds the config entries after it.
 */
export class MembershipHistory {
  private base: { index: number; config: ConfigState };
  private later: Array<{ index: number; config: ConfigState }> = [];

  constructor(base: { index: number; config: ConfigState }) {
    this.base = base;
  }

  current(): ConfigState {
    return this.later[this.later.length - 1]?.config ?? this.base.config;
  }

  /** Index of the entry that established the current configuration (the base's index if none since). */
  currentIndex(): number {
    return this.later[this.later.length - 1]?.index ?? this.base.index;
  }

  /** The configuration in force once the log holds entries through `index`. */
  at(index: number): ConfigState {
    for (let i = this.later.length - 1; i >= 0; i--) if (this.later[i]!.index <= index) return this.later[i]!.config;
    return this.base.config;
  }

  /** Why `entries`, appended right after `from - 1`, would not apply in order; null if they would. */
  check(from: number, entries: readonly Entry[]): string | null {
    let config = this.at(from - 1);
    for (const entry of entries) {
      if (entry.type !== 'config') continue;
      const next = applyEntry(config, entry);
      if (typeof next === 'string') return next;
      config = next;
    }
    return null;
  }

  /**
   * Records entries appended at `from` (from <= last index + 1), dropping the
   * configurations of whatever they overwrite. True if the current configuration changed.
   */
  appended(from: number, entries: readonly Entry[]): boolean {
    const before = this.current();
    while (this.later.length > 0 && this.later[this.later.length - 1]!.index >= from) this.later.pop();
    for (const entry of entries) {
      if (entry.type !== 'config') continue;
      const next = applyEntry(this.current(), entry);
      // The leader checks before appending and followers check before accepting, so this is a bug.
      if (typeof next === 'string') throw new Error(`raft: config entry ${entry.index} does not apply: ${next}`);
      this.later.push({ index: entry.index, config: next });
    }
    return this.current() !== before;
  }

  /** Entries through `index` can no longer be truncated: fold their configurations into the base. */
  settle(index: number): void {
    while (this.later.length > 0 && this.later[0]!.index <= index) this.base = this.later.shift()!;
  }

  reset(base: { index: number; config: ConfigState }): void {
    this.base = base;
    this.later = [];
  }
}

function applyEntry(config: ConfigState, entry: Entry): ConfigState | string {
  const decoded = decodeConfEntry(entry.data);
  if (typeof decoded === 'string') return `config entry ${entry.index} is corrupt: ${decoded}`;
  return applyConfEntry(config, decoded);
}
