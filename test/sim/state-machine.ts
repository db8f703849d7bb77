import type { Entry, NodeId, Snapshot } from '../../broker/raft/core/types.js';
import type { RaftStateMachine } from '../../broker/raft/driver.js';

/**
 * The replicated state of the simulation: the set of proposal ids applied,
 * and a hash chain over every entry applied, so two replicas with the same
 * chain at the same index applied exactly the same sequence.
 */

const decoder = new TextDecoder();

/** A readable, comparable form of an entry's content. */
export function entryKey(entry: Entry): string {
  return entry.type === 'normal' ? `n:${decoder.decode(entry.data)}` : entry.type === 'noop' ? 'noop' : `c:${decoder.decode(entry.data)}`;
}

/** FNV-1a over the previous chain value and the entry. */
export function chainNext(chain: number, entry: { index: number; term: number; key: string }): number {
  let h = (chain ^ 0x811c9dc5) >>> 0;
  const text = `${entry.index}|${entry.term}|${entry.key}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface ApplyObserver {
  onApply(node: NodeId, entry: Entry, previousIndex: number): void;
  onRestore(node: NodeId, index: number, chain: number): void;
}

export class SimStateMachine implements RaftStateMachine {
  appliedIndex = 0;
  chain = 0;
  readonly ids = new Set<string>();

  constructor(
    private readonly node: NodeId,
    private readonly observer: ApplyObserver,
  ) {}

  apply(entry: Entry): void {
    this.observer.onApply(this.node, entry, this.appliedIndex);
    this.appliedIndex = entry.index;
    const key = entryKey(entry);
    this.chain = chainNext(this.chain, { index: entry.index, term: entry.term, key });
    if (entry.type === 'normal') this.ids.add(key.slice(2));
  }

  restore(snapshot: Snapshot): void {
    const state = JSON.parse(decoder.decode(snapshot.data)) as { chain: number; ids: string[] };
    this.observer.onRestore(this.node, snapshot.meta.index, state.chain);
    this.appliedIndex = snapshot.meta.index;
    this.chain = state.chain;
    this.ids.clear();
    for (const id of state.ids) this.ids.add(id);
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ chain: this.chain, ids: [...this.ids] }));
  }
}
