import { expect } from 'vitest';
import type { GroupCommand, GroupResult, HeartbeatCommand } from '../../../../broker/groups/core/commands.js';
import { Liveness } from '../../../../broker/groups/core/liveness.js';
import { keyOf, type TopicPartition, type TopicShape } from '../../../../broker/groups/core/partitions.js';
import { GroupShard } from '../../../../broker/groups/core/shard.js';
import { decodeGroupsSnapshot, encodeGroupsSnapshot } from '../../../../broker/groups/core/snapshot.js';
import { checkInvariants, sessionMs } from './commands.js';

/**
 * A model of a coordinator and its members for property tests of the group
 * core. The coordinator side is what the broker will do: answer heartbeats
 * that change nothing, stamp and apply the others, tell Liveness whom it
 * heard, apply what Liveness says is due. The members behave as the SDK
 * will: they heartbeat (answers may be lost), consume what they are given,
 * drain and release what is taken back, commit, and stop using everything
 * the moment their lease (the last answered heartbeat's send time plus the
 * session timeout) ends. They may also crash, stall, leave, restart under
 * the same instance id, change subscription; the coordinator may fail over
 * (a new Liveness, its state through a snapshot); a topic may be recreated.
 *
 * After every step: the coordinator's invariants hold, and no partition is in
 * the hands of two members whose leases are valid — the promise, as the
 * members themselves see it.
 */

export type WorldEvent =
  | { kind: 'beat'; who: number; lose: boolean }
  | { kind: 'drain'; who: number }
  | { kind: 'commit'; who: number; delta: number }
  | { kind: 'staleCommit'; who: number; pick: number }
  | { kind: 'earlyCommit'; who: number; pick: number }
  | { kind: 'join'; instance: number | null; topics: readonly string[] }
  | { kind: 'leave'; who: number; temporary: boolean; lost: boolean }
  | { kind: 'crash'; who: number }
  | { kind: 'stall'; who: number; ms: number }
  | { kind: 'failover'; graceMs: number }
  | { kind: 'tick' }
  | { kind: 'subscribe'; who: number; topics: readonly string[] }
  | { kind: 'recreate'; partitions: number };

interface Held {
  tp: TopicPartition;
  topicId: number;
  /** The member's epoch before the answer that gave it this partition: a commit at that epoch predates the grant. */
  epochBefore: number;
}

interface Client {
  name: string;
  generation: number;
  memberId: string;
  instanceId: string | null;
  topics: string[];
  sentTopics: string[] | null;
  joined: boolean;
  epoch: number;
  local: Map<string, Held>;
  draining: Set<string>;
  /** Released, not yet confirmed by an answered heartbeat. */
  releasing: Array<Held & { memberId: string; epoch: number }>;
  /** Released and confirmed: committing these now must be refused. */
  released: Array<Held & { memberId: string; epoch: number }>;
  leaseEndMs: number;
  state: 'running' | 'stalled' | 'crashed' | 'closed' | 'fenced';
  stalledUntilMs: number;
}

const group = 'g';
const clientsMax = 8;
/** Short against the session, so members that still heartbeat are fenced for draining too slowly (and their leases outlive that). */
const rebalanceMs = 2_500;

export class World {
  shard = new GroupShard();
  liveness: Liveness;
  nowMs = 1_000;
  readonly clients: Client[] = [];
  readonly trace: string[] = [];
  readonly shapes: TopicShape[];
  private names = 0;
  /** The highest offset the coordinator stored per partition: stored offsets must never go below it. */
  private readonly stored = new Map<string, number>();

  constructor(partitions: [number, number]) {
    this.shapes = [
      { name: 't0', topicId: 1, partitions: partitions[0] },
      { name: 't1', topicId: 2, partitions: partitions[1] },
    ];
    this.liveness = this.newLiveness(0);
  }

  step(event: WorldEvent, elapseMs: number): void {
    this.nowMs += elapseMs;
    for (const c of this.clients) if (c.state === 'stalled' && c.stalledUntilMs <= this.nowMs) c.state = 'running';
    this.trace.push(`${this.nowMs}: ${JSON.stringify(event)}`);
    const c = 'who' in event ? this.pick(event.who) : undefined;
    if (c !== undefined) this.checkLease(c);
    switch (event.kind) {
      case 'beat':
        if (c !== undefined) this.heartbeat(c, event.lose);
        break;
      case 'drain':
        if (c !== undefined) this.drain(c);
        break;
      case 'commit':
        if (c !== undefined) this.commit(c, event.delta);
        break;
      case 'staleCommit':
        if (c !== undefined) this.staleCommit(c, event.pick);
        break;
      case 'earlyCommit':
        if (c !== undefined) this.earlyCommit(c, event.pick);
        break;
      case 'join':
        this.join(event.instance === null ? null : `i${event.instance}`, event.topics);
        break;
      case 'leave':
        if (c !== undefined) this.leave(c, event.temporary, event.lost);
        break;
      case 'crash':
        if (c !== undefined) this.lose(c, 'crashed');
        break;
      case 'stall':
        if (c !== undefined) Object.assign(c, { state: 'stalled', stalledUntilMs: this.nowMs + event.ms });
        break;
      case 'failover':
        this.failover(event.graceMs);
        break;
      case 'tick':
        this.tick();
        break;
      case 'subscribe':
        if (c !== undefined) c.topics = [...event.topics];
        break;
      case 'recreate':
        this.recreate(event.partitions);
        break;
    }
    this.check();
  }

  /** Stops the faults and lets every running member heartbeat, drain and commit until the group has settled. */
  settle(): void {
    for (const c of this.clients) if (c.state === 'stalled') c.state = 'running';
    for (let round = 0; round < 80; round++) {
      this.nowMs += 500;
      for (const c of this.running()) {
        this.checkLease(c);
        this.heartbeat(c, false);
        this.drain(c);
        this.heartbeat(c, false);
      }
      this.tick();
      this.check();
    }
  }

  running(): Client[] {
    return this.clients.filter((c) => c.state === 'running');
  }

  // ------------------------------------------------------------------ the coordinator's side

  /** What the broker's coordinator does with a heartbeat request. */
  coordinate(command: HeartbeatCommand): GroupResult {
    let result: GroupResult;
    if (!this.shard.needsWrite(command, this.nowMs)) result = this.shard.answer(command);
    else result = this.shard.apply(this.stamp(command));
    if (result.ok) this.liveness.heard(group, command.memberId, this.nowMs);
    return result;
  }

  private stamp(command: HeartbeatCommand): HeartbeatCommand {
    let stamped: HeartbeatCommand = command;
    if (command.topics !== undefined) {
      const known = new Set(this.shapes.map((s) => s.name));
      stamped = { ...stamped, shapes: this.shapes.filter((s) => command.topics!.includes(s.name)), missing: command.topics.filter((t) => !known.has(t)) };
    }
    const instanceId = command.join?.instanceId ?? null;
    const predecessor = instanceId === null ? undefined : [...(this.shard.group(group)?.members.values() ?? [])].find((m) => m.instanceId === instanceId && m.awaySinceMs === null);
    if (command.epoch === 0 && predecessor !== undefined && predecessor.memberId !== command.memberId) {
      stamped = { ...stamped, replacedLeaseEndMs: this.liveness.leaseEndMs(group, predecessor) };
    }
    return stamped;
  }

  private tick(): void {
    for (const command of this.liveness.due(this.shard, this.nowMs)) this.expectOk(this.shard.apply(command), command);
  }

  private failover(graceMs: number): void {
    const before = this.shard.names().map((n) => this.shard.describe(n));
    const bytes = encodeGroupsSnapshot(this.shard);
    // The estimate bounds every group's bytes; the snapshot's own envelope (version, clock, list) adds a few.
    expect(bytes.byteLength, 'the cost estimate bounds the snapshot').toBeLessThanOrEqual(this.shard.costBytes + 32);
    this.shard = decodeGroupsSnapshot(bytes);
    expect(this.shard.names().map((n) => this.shard.describe(n))).toEqual(before);
    this.liveness = this.newLiveness(graceMs);
  }

  private newLiveness(graceMs: number): Liveness {
    return new Liveness({ sinceMs: this.nowMs, failoverGraceMs: graceMs, retryMs: 1_000, emptyGroupRetentionMs: 3_600_000 });
  }

  private recreate(partitions: number): void {
    const old = this.shapes[1]!;
    this.shapes[1] = { name: old.name, topicId: old.topicId + 1, partitions };
    for (const key of [...this.stored.keys()]) if (key.startsWith(`${old.name}/`)) this.stored.delete(key);
    this.expectOk(this.shard.apply({ type: 'topics', group, nowMs: this.nowMs, shapes: [this.shapes[1]!] }), 'recreate');
  }

  // ------------------------------------------------------------------ the members' side

  private join(instanceId: string | null, topics: readonly string[]): void {
    if (this.running().length >= clientsMax) return;
    const name = `c${this.names++}`;
    const client: Client = {
      name,
      generation: 0,
      memberId: `${name}.0`,
      instanceId,
      topics: [...topics],
      sentTopics: null,
      joined: false,
      epoch: 0,
      local: new Map(),
      draining: new Set(),
      releasing: [],
      released: [],
      leaseEndMs: 0,
      state: 'running',
      stalledUntilMs: 0,
    };
    this.clients.push(client);
    this.heartbeat(client, false);
  }

  private heartbeat(c: Client, lose: boolean): void {
    const sentAtMs = this.nowMs;
    const topicsChanged = c.sentTopics === null || c.sentTopics.join() !== c.topics.join();
    const command: HeartbeatCommand = c.joined
      ? { type: 'heartbeat', group, nowMs: sentAtMs, memberId: c.memberId, epoch: c.epoch, owned: [...c.local.values()].map((h) => h.tp), ...(topicsChanged ? { topics: c.topics } : {}) }
      : {
          type: 'heartbeat',
          group,
          nowMs: sentAtMs,
          memberId: c.memberId,
          epoch: 0,
          join: { instanceId: c.instanceId, clientId: c.name, clientHost: 'h', sessionTimeoutMs: sessionMs, rebalanceTimeoutMs: rebalanceMs },
          topics: c.topics,
        };
    const result = this.coordinate(command);
    if (lose) return;
    if (!result.ok) {
      const code = result.error.code;
      if (code === 'FENCED_INSTANCE_ID') this.lose(c, 'fenced');
      else if (code === 'UNKNOWN_MEMBER' || code === 'FENCED_MEMBER_EPOCH') this.lose(c, 'running');
      else throw new Error(`heartbeat of ${c.memberId} refused: ${code} ${result.error.message}`);
      return;
    }
    const view = result.member!;
    // Its last answered epoch: anything it was given and did not hold then was given later. (Joining, it knows none.)
    const epochBefore = c.joined ? c.epoch : 0;
    c.joined = true;
    c.sentTopics = [...c.topics];
    c.epoch = view.epoch;
    c.leaseEndMs = sentAtMs + sessionMs;
    c.released.push(...c.releasing.splice(0));
    const given = new Map(view.assignment.map((tp) => [keyOf(tp), tp]));
    for (const [key, tp] of given) {
      expect(c.draining.has(key), `${c.memberId} was given ${key} while still draining it`).toBe(false);
      if (!c.local.has(key)) c.local.set(key, { tp, topicId: this.shapes.find((s) => s.name === tp.topic)!.topicId, epochBefore });
    }
    for (const key of c.local.keys()) if (!given.has(key)) c.draining.add(key);
  }

  private drain(c: Client): void {
    for (const key of c.draining) {
      c.releasing.push({ ...c.local.get(key)!, memberId: c.memberId, epoch: c.epoch });
      c.local.delete(key);
    }
    c.draining.clear();
  }

  /** A member commits a partition it holds: accepted, or refused only because the coordinator let it go (or the topic was recreated). */
  private commit(c: Client, delta: number): void {
    const held = [...c.local.values()][delta % Math.max(1, c.local.size)];
    if (held === undefined || !c.joined) return;
    const key = keyOf(held.tp);
    // Sometimes below what is stored: a member's late retry of an older commit.
    const offset = Math.max(0, (this.stored.get(key) ?? 0) + delta - 5);
    const command: GroupCommand = { type: 'commit', group, nowMs: this.nowMs, memberId: c.memberId, epoch: c.epoch, offsets: [{ ...held.tp, topicId: held.topicId, offset }] };
    const result = this.shard.apply(command);
    if (result.ok) return;
    const allowed = ['UNKNOWN_MEMBER', 'FENCED_INSTANCE_ID', ...(held.topicId !== this.topicId(held.tp.topic) ? ['UNKNOWN_TOPIC'] : [])];
    expect(allowed, `${c.memberId} holds ${key} at epoch ${c.epoch} but its commit was refused: ${result.error.message}`).toContain(result.error.code);
  }

  /** A delayed commit for a partition the member released (and the coordinator knows it) must be refused. */
  private staleCommit(c: Client, pick: number): void {
    const old = c.released[pick % Math.max(1, c.released.length)];
    if (old === undefined) return;
    const command: GroupCommand = { type: 'commit', group, nowMs: this.nowMs, memberId: old.memberId, epoch: old.epoch, offsets: [{ ...old.tp, topicId: old.topicId, offset: 1e9 }] };
    const result = this.shard.apply(command);
    expect(result.ok, `a stale commit of ${keyOf(old.tp)} by ${old.memberId} at epoch ${old.epoch} was accepted`).toBe(false);
  }

  /** A commit carrying an epoch from before the member was given the partition (a request delayed across the grant) must be refused. */
  private earlyCommit(c: Client, pick: number): void {
    const candidates = [...c.local.values()].filter((h) => h.epochBefore > 0);
    const held = candidates[pick % Math.max(1, candidates.length)];
    if (held === undefined || !c.joined) return;
    const command: GroupCommand = { type: 'commit', group, nowMs: this.nowMs, memberId: c.memberId, epoch: held.epochBefore, offsets: [{ ...held.tp, topicId: held.topicId, offset: 1e9 }] };
    const result = this.shard.apply(command);
    expect(result.ok, `a commit of ${keyOf(held.tp)} by ${c.memberId} at epoch ${held.epochBefore}, before it was given it, was accepted`).toBe(false);
  }

  private leave(c: Client, temporary: boolean, lost: boolean): void {
    c.draining = new Set(c.local.keys());
    this.drain(c);
    if (c.joined && !lost) {
      const result = this.shard.apply({ type: 'leave', group, nowMs: this.nowMs, memberId: c.memberId, epoch: c.epoch, temporary: temporary && c.instanceId !== null });
      if (result.ok) c.released.push(...c.releasing.splice(0));
    }
    this.lose(c, 'closed');
  }

  /** The member lets go of everything it holds (a crash, a fence, a lease that ran out); still running, it rejoins as a new member. */
  private lose(c: Client, state: Client['state']): void {
    c.local.clear();
    c.draining.clear();
    c.releasing.length = 0;
    c.joined = false;
    c.sentTopics = null;
    c.state = state;
    c.memberId = `${c.name}.${++c.generation}`;
  }

  /** The SDK stops consuming when its lease ends, before anything else it does. */
  private checkLease(c: Client): void {
    if (c.joined && c.state === 'running' && this.nowMs >= c.leaseEndMs) this.lose(c, 'running');
  }

  private pick(who: number): Client | undefined {
    const running = this.running();
    return running.length === 0 ? undefined : running[who % running.length];
  }

  private topicId(topic: string): number | undefined {
    return this.shapes.find((s) => s.name === topic)?.topicId;
  }

  private expectOk(result: GroupResult, what: unknown): void {
    if (!result.ok) throw new Error(`${JSON.stringify(what)} refused: ${result.error.code} ${result.error.message}`);
  }

  // ------------------------------------------------------------------ checking

  private check(): void {
    checkInvariants(this.shard);
    const holder = new Map<string, string>();
    for (const c of this.clients) {
      const live = (c.state === 'running' || c.state === 'stalled') && c.joined && this.nowMs < c.leaseEndMs;
      if (!live) continue;
      for (const key of c.local.keys()) {
        expect(holder.get(key), `${key} is held by ${holder.get(key)} and ${c.memberId} at ${this.nowMs}`).toBeUndefined();
        holder.set(key, c.memberId);
      }
    }
    for (const o of this.shard.describe(group)?.offsets ?? []) {
      const key = `${o.topic}/${o.partition}`;
      expect(o.offset, `the offset of ${key} went backwards`).toBeGreaterThanOrEqual(this.stored.get(key) ?? 0);
      this.stored.set(key, o.offset);
    }
  }

  /** After settle(): every running member holds exactly its target, nobody else is a member, and the target is balanced. */
  checkSettled(): void {
    const described = this.shard.describe(group, this.nowMs);
    const running = this.running();
    if (running.length === 0) {
      expect(described?.members ?? []).toEqual([]);
      return;
    }
    expect(described!.members.map((m) => m.memberId).sort()).toEqual(running.map((c) => c.memberId).sort());
    expect(described!.state).toBe('stable');
    expect(described!.held).toEqual([]);
    for (const m of described!.members) {
      const c = running.find((r) => r.memberId === m.memberId)!;
      expect(m.revoking).toEqual([]);
      expect(m.assignment).toEqual(m.target);
      expect([...c.local.keys()].sort()).toEqual(m.assignment.map(keyOf).sort());
    }
    // Balanced as the subscriptions allow: no partition could go to a subscriber with two fewer.
    for (const from of described!.members) {
      for (const tp of from.assignment) {
        for (const to of described!.members) {
          if (to.topics.includes(tp.topic)) expect(to.assignment.length, `${keyOf(tp)} could move from ${from.memberId} to ${to.memberId}`).toBeGreaterThan(from.assignment.length - 2);
        }
      }
    }
    const subscribed = new Set(described!.members.flatMap((m) => m.topics));
    const expected = this.shapes.filter((s) => subscribed.has(s.name)).reduce((n, s) => n + s.partitions, 0);
    expect(described!.members.reduce((n, m) => n + m.assignment.length, 0)).toBe(expected);
  }
}
