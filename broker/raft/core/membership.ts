import { raftLimits } from '../../../transport/limits.js';
import type { ConfigState, Entry, HardState, NodeId } from './types.js';

/**
 * Membership changes by joint consensus (Raft paper §6, thesis §4.3). Every
 * change, even a single one, goes through a joint configuration: the leader
 * appends `enterJoint`; once that is committed it appends `leaveJoint` by
 * itself. While joint, every election and every commit needs a majority of
 * the old voters AND a majority of the new ones, so no two disjoint
 * majorities can ever decide.
 *
 * A configuration takes effect as soon as its entry is in a replica's log,
 * committed or not (thesis §4.1; see membership-history.ts), so membership is a
 * function of the log and needs no durable commit index. We first built the
 * etcd variant (effect on apply) and our simulator found two ways to lose
 * with it once the commit index is not made durable on every change: a
 * restarted replica that forgot a config entry was committed campaigned
 * under the configuration before it, and a removed leader that stepped down
 * left the new voters waiting for votes of the old ones.
 *
 * One change at a time: a leader proposes a change only when it is not joint
 * and every config entry in its log is committed, and a new leader first
 * commits an entry of its own term (the no-op) before any change.
 */

export type ConfChange =
  | { readonly type: 'addVoter'; readonly node: NodeId }
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

export type ConfEntry =
  /** The first entry of a new group, written by whoever creates it: sets the initial membership. */
  | { readonly kind: 'bootstrap'; readonly config: ConfigState }
  | { readonly kind: 'enterJoint'; readonly changes: readonly ConfChange[] }
  | { readonly kind: 'leaveJoint' };

export function isNodeId(value: unknown): value is NodeId {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= raftLimits.nodeIdMax;
}

export function isJoint(config: ConfigState): boolean {
  return config.votersOutgoing.length > 0;
}

/** Everyone whose vote counts in some half of the configuration. */
export function votersOf(config: ConfigState): NodeId[] {
  const all = new Set([...config.voters, ...config.votersOutgoing]);
  return [...all].sort((a, b) => a - b);
}

/** Everyone the leader replicates to. */
export function membersOf(config: ConfigState): NodeId[] {
  const all = new Set([...config.voters, ...config.votersOutgoing, ...config.learners, ...config.learnersNext]);
  return [...all].sort((a, b) => a - b);
}

export function isVoterIn(config: ConfigState, id: NodeId): boolean {
  return config.voters.includes(id) || config.votersOutgoing.includes(id);
}

export function isMemberOf(config: ConfigState, id: NodeId): boolean {
  return membersOf(config).includes(id);
}

function sorted(ids: Iterable<NodeId>): NodeId[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

/**
 * The configuration after `entry`, or a reason it does not apply. The leader
 * calls this before proposing, so an entry that reaches the log always applies.
 */
export function applyConfEntry(config: ConfigState, entry: ConfEntry): ConfigState | string {
  switch (entry.kind) {
    case 'bootstrap': {
      if (config.voters.length > 0 || isJoint(config)) return 'the group is already bootstrapped';
      return validated(entry.config) ?? entry.config;
    }
    case 'leaveJoint': {
      if (!isJoint(config)) return 'the configuration is not joint';
      return {
        voters: config.voters,
        votersOutgoing: [],
        learners: sorted([...config.learners, ...config.learnersNext]),
        learnersNext: [],
      };
    }
    case 'enterJoint': {
      if (isJoint(config)) return 'the configuration is already joint';
      if (config.voters.length === 0) return 'the group is not bootstrapped';
      if (entry.changes.length === 0) return 'no changes';
      const nodes = entry.changes.map((c) => c.node);
      if (new Set(nodes).size !== nodes.length) return 'a node appears twice in one change';
      const outgoing = [...config.voters];
      const voters = new Set(config.voters);
      const learners = new Set(config.learners);
      const learnersNext = new Set<NodeId>();
      for (const change of entry.changes) {
        switch (change.type) {
          case 'addVoter':
            learners.delete(change.node);
            voters.add(change.node);
            break;
          case 'addLearner':
            voters.delete(change.node);
            // A voter of the old half keeps voting there until the joint configuration is left.
            if (outgoing.includes(change.node)) learnersNext.add(change.node);
            else learners.add(change.node);
            break;
          case 'remove':
            voters.delete(change.node);
            learners.delete(change.node);
            break;
        }
      }
      const next: ConfigState = {
        voters: sorted(voters),
        votersOutgoing: sorted(outgoing),
        learners: sorted(learners),
        learnersNext: sorted(learnersNext),
      };
      return validated(next) ?? next;
    }
  }
}

/** A reason the configuration is not well formed, or null. */
export function validated(config: ConfigState): string | null {
  if (config.voters.length === 0) return 'a configuration needs at least one voter';
  const members = membersOf(config);
  if (members.length > raftLimits.configMembersMax) return `more than ${raftLimits.configMembersMax} members`;
  for (const id of members) if (!isNodeId(id)) return `invalid node id ${String(id)}`;
  for (const id of config.learners) {
    if (isVoterIn(config, id)) return `node ${id} is both voter and learner`;
  }
  for (const id of config.learnersNext) {
    if (!config.votersOutgoing.includes(id) || config.voters.includes(id)) return `node ${id} cannot be a next learner`;
  }
  if (config.learnersNext.length > 0 && !isJoint(config)) return 'next learners outside a joint configuration';
  return null;
}

export function sameConfig(a: ConfigState, b: ConfigState): boolean {
  const eq = (x: readonly NodeId[], y: readonly NodeId[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.voters, b.voters) && eq(a.votersOutgoing, b.votersOutgoing) && eq(a.learners, b.learners) && eq(a.learnersNext, b.learnersNext);
}

// ------------------------------------------------------------------ encoding
// Config entries are rare and small; JSON keeps them readable in a log dump.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfEntry(entry: ConfEntry): Uint8Array {
  return encoder.encode(JSON.stringify(entry));
}

/** The entry, or a reason the bytes are not one. */
export function decodeConfEntry(bytes: Uint8Array): ConfEntry | string {
  if (bytes.byteLength > raftLimits.confEntryBytesMax) return 'config entry too large';
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return 'config entry is not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'config entry is not an object';
  const v = value as Record<string, unknown>;
  switch (v.kind) {
    case 'leaveJoint':
      return { kind: 'leaveJoint' };
    case 'bootstrap': {
      const config = configFromUnknown(v.config);
      return typeof config === 'string' ? config : { kind: 'bootstrap', config };
    }
    case 'enterJoint': {
      if (!Array.isArray(v.changes) || v.changes.length > raftLimits.configMembersMax) return 'bad changes';
      const changes: ConfChange[] = [];
      for (const c of v.changes as unknown[]) {
        if (typeof c !== 'object' || c === null) return 'bad change';
        const { type, node } = c as Record<string, unknown>;
        if (type !== 'addVoter' && type !== 'addLearner' && type !== 'remove') return 'bad change type';
        if (!isNodeId(node)) return 'bad node id in change';
        changes.push({ type, node });
      }
      return { kind: 'enterJoint', changes };
    }
    default:
      return 'unknown config entry kind';
  }
}

/** A configuration from untrusted plain data (the wire, a file), or a reason it is not one. */
export function configFromUnknown(value: unknown): ConfigState | string {
  if (typeof value !== 'object' || value === null) return 'configuration is not an object';
  const v = value as Record<string, unknown>;
  const lists: NodeId[][] = [];
  for (const key of ['voters', 'votersOutgoing', 'learners', 'learnersNext'] as const) {
    const list = v[key];
    if (!Array.isArray(list) || list.length > raftLimits.configMembersMax) return `configuration.${key} is not a list`;
    if (!list.every(isNodeId)) return `configuration.${key} holds an invalid node id`;
    lists.push(sorted(list as NodeId[]));
  }
  const config: ConfigState = { voters: lists[0]!, votersOutgoing: lists[1]!, learners: lists[2]!, learnersNext: lists[3]! };
  // An empty configuration is the state of a replica not yet told its group.
  if (membersOf(config).length === 0) return config;
  return validated(config) ?? config;
}

/**
 * The first entry and hard state of a brand-new group's founding members: a
 * committed bootstrap entry at index 1. Replicas added later start empty and
 * receive it (or a snapshot covering it) from the leader.
 */
export function bootstrapState(config: ConfigState): { entry: Entry; hardState: HardState } {
  const reason = validated(config);
  if (reason !== null) throw new Error(`raft: bootstrap configuration is invalid: ${reason}`);
  return {
    entry: { index: 1, term: 1, type: 'config', data: encodeConfEntry({ kind: 'bootstrap', config }) },
    hardState: { term: 1, vote: 0, commit: 1 },
  };
}
