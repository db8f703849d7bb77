import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits, groupLimits } from '../../transport/limits.js';
import {
  coordinatorPartition,
  groupMethods,
  groupsTopic,
  isInternalTopic,
  readCommit,
  readDeleteGroup,
  readDescribeGroup,
  readFindCoordinator,
  readHeartbeat,
  readLeave,
  readListGroups,
  readOffsetFetch,
  readResetOffsets,
  type FindCoordinatorResponse,
  type OffsetEntry,
} from '../../transport/protocol/groups.js';
import type { LeaderHint, TopicConfig } from '../../transport/protocol/messages.js';
import type { ControllerOperation } from '../cluster/controller-service.js';
import type { MetadataState } from '../cluster/metadata-state.js';
import type { Partition } from '../partition/partition.js';
import { Coordinator } from './coordinator.js';
import { EndOffsets } from './end-offsets.js';
import { GroupLog } from './group-log.js';

/**
 * A broker's part in consumer groups: the state machines of the
 * `__skein_groups` partitions it hosts (fed by their logs, see GroupLog), a
 * coordinator for each one it leads, and the group requests, each served by
 * the coordinator of its group or answered NOT_LEADER with the hint this
 * broker has (the client's ordinary partition routing does the rest).
 * `findCoordinator` is answered by any broker, which has the controller
 * create the internal topic the first time a group is used.
 */
export interface GroupServiceOptions {
  readonly brokerId: number;
  metadata(): MetadataState;
  metadataCaughtUp(): boolean;
  partition(topic: string, partition: number): Partition | undefined;
  controller(operation: ControllerOperation, signal: AbortSignal): Promise<unknown>;
  aliveBrokers(): Set<number>;
  askPeer<T>(brokerId: number, method: string, body: unknown, signal: AbortSignal): Promise<T>;
  notLeader(message: string, hint: LeaderHint): SkeinError;
  /** The longest election timeout of this cluster (see groupLimits.failoverGraceElectionTimeouts). */
  readonly electionTimeoutMaxMs: number;
}

/** The internal topic keeps its state: every commit is on disk before it is acknowledged, and nothing is deleted by age or size. */
const groupsTopicConfig: Partial<TopicConfig> = { flush: { mode: 'always' }, retentionMs: null, retentionBytes: null };

export class GroupService {
  private readonly logs = new Map<number, GroupLog>();
  private readonly coordinators = new Map<number, Coordinator>();
  private readonly endOffsets: EndOffsets;

  constructor(private readonly options: GroupServiceOptions) {
    this.endOffsets = new EndOffsets(options);
  }

  /** The state machine for a replica of `__skein_groups` partition `partition` being opened here. */
  machineFor(partition: number): GroupLog {
    this.stopCoordinator(partition);
    const log = new GroupLog();
    this.logs.set(partition, log);
    return log;
  }

  leadershipChanged(replica: Partition, writable: boolean): void {
    const log = this.logs.get(replica.partition);
    if (log === undefined) return;
    this.stopCoordinator(replica.partition);
    log.collectResults(writable);
    if (!writable) return;
    const coordinator = new Coordinator({
      brokerId: this.options.brokerId,
      partition: replica,
      log,
      endOffsets: this.endOffsets,
      metadata: () => this.options.metadata(),
      metadataCaughtUp: () => this.options.metadataCaughtUp(),
      failoverGraceMs: groupLimits.failoverGraceElectionTimeouts * this.options.electionTimeoutMaxMs,
      proposeTimeoutMs: brokerLimits.controllerCommandTimeoutMs,
    });
    this.coordinators.set(replica.partition, coordinator);
  }

  /** A replica of `__skein_groups` closed here. */
  closed(replica: Partition): void {
    this.stopCoordinator(replica.partition);
    this.logs.delete(replica.partition);
  }

  close(): void {
    for (const partition of [...this.coordinators.keys()]) this.stopCoordinator(partition);
  }

  /** Serves one group request (see groupMethods): the whole body is read first, so a bad one is MALFORMED_REQUEST wherever it lands. */
  async handle(method: string, body: unknown, clientHost: string, signal: AbortSignal): Promise<unknown> {
    switch (method) {
      case groupMethods.findCoordinator:
        return this.findCoordinator(readFindCoordinator(body).group, signal);
      case groupMethods.groupHeartbeat: {
        const request = refuseInternal(readHeartbeat(body));
        return this.coordinatorOf(request.group).heartbeat(request, clientHost, signal);
      }
      case groupMethods.groupLeave: {
        const request = readLeave(body);
        return this.coordinatorOf(request.group).leave(request, signal);
      }
      case groupMethods.offsetCommit: {
        const request = refuseInternal(readCommit(body));
        return this.coordinatorOf(request.group).commit(request, signal);
      }
      case groupMethods.offsetFetch: {
        const request = readOffsetFetch(body);
        return this.coordinatorOf(request.group).offsetFetch(request);
      }
      case groupMethods.listGroups:
        return this.coordinatorAt(readListGroups(body).partition).listGroups();
      case groupMethods.describeGroup: {
        const request = readDescribeGroup(body);
        return this.coordinatorOf(request.group).describe(request);
      }
      case groupMethods.resetOffsets: {
        const request = refuseInternal(readResetOffsets(body));
        return this.coordinatorOf(request.group).reset(request, signal);
      }
      case groupMethods.deleteGroup: {
        const request = readDeleteGroup(body);
        return this.coordinatorOf(request.group).deleteGroup(request, signal);
      }
      default:
        throw new SkeinError('UNKNOWN_METHOD', { message: `unknown request "${method}"` });
    }
  }

  private async findCoordinator(group: string, signal: AbortSignal): Promise<FindCoordinatorResponse> {
    let record = this.options.metadata().topic(groupsTopic);
    if (record === undefined) {
      if (!this.options.metadataCaughtUp()) throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `broker ${this.options.brokerId} is still catching up on the cluster metadata` });
      await this.createGroupsTopic(signal);
      record = this.options.metadata().topic(groupsTopic);
      if (record === undefined) throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `the ${groupsTopic} topic is being created` });
    }
    const partitions = record.partitions.length;
    return { topic: groupsTopic, partition: coordinatorPartition(group, partitions), partitions };
  }

  /** Has the controller create the internal topic: replicated like records (up to three replicas), partitions fixed forever. */
  private async createGroupsTopic(signal: AbortSignal): Promise<void> {
    const registered = this.options.metadata().brokerList().length;
    const request = { name: groupsTopic, partitions: groupLimits.coordinatorPartitionsDefault, replicationFactor: Math.max(1, Math.min(3, registered)), config: groupsTopicConfig };
    try {
      await this.options.controller({ op: 'createTopic', request }, signal);
    } catch (error) {
      if (!isSkeinError(error, 'TOPIC_EXISTS')) throw error;
    }
  }

  /** The coordinator of `group`, if this broker is it; else why not (see coordinatorAt). */
  private coordinatorOf(group: string): Coordinator {
    const record = this.options.metadata().topic(groupsTopic);
    if (record === undefined) throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `the ${groupsTopic} topic is not known here yet: ask findCoordinator first` });
    return this.coordinatorAt(coordinatorPartition(group, record.partitions.length));
  }

  /** The coordinator of a partition of `__skein_groups`, if this broker leads it; else why not, with the hint it has. */
  private coordinatorAt(partition: number): Coordinator {
    const coordinator = this.coordinators.get(partition);
    const replica = this.options.partition(groupsTopic, partition);
    if (coordinator !== undefined && replica?.isLeader() === true) return coordinator;
    if (replica !== undefined) {
      const hint = replica.leaderHint();
      if (hint.leaderId === this.options.brokerId || hint.leaderId === null) throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `${groupsTopic}/${partition}: the coordinator is starting` });
      throw this.options.notLeader(`broker ${this.options.brokerId} does not coordinate the groups of ${groupsTopic}/${partition}`, hint);
    }
    const info = this.options.metadata().topic(groupsTopic)?.partitions[partition];
    if (info === undefined) throw new SkeinError('UNKNOWN_PARTITION', { message: `${groupsTopic} has no partition ${partition}` });
    throw this.options.notLeader(`broker ${this.options.brokerId} holds no replica of ${groupsTopic}/${partition}`, { leaderId: info.leader, leaderEpoch: info.leaderEpoch });
  }

  private stopCoordinator(partition: number): void {
    this.coordinators.get(partition)?.stop();
    this.coordinators.delete(partition);
  }
}

/** Groups consume user topics only: skein's own are not theirs to read or commit. */
function refuseInternal<T extends { topics?: string[]; offsets?: OffsetEntry[] }>(request: T): T {
  const names = [...(request.topics ?? []), ...(request.offsets ?? []).map((o) => o.topic)];
  for (const name of names) {
    if (isInternalTopic(name)) throw new SkeinError('NOT_AUTHORIZED', { message: `topic ${name} is internal to skein: groups cannot consume it` });
  }
  return request;
}
