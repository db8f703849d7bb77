import { SkeinError } from '../../transport/errors.js';
import {
  type DescribeClusterResponse,
  type HelloResponse,
  type LeaderHint,
  type ListOffsetsResponse,
  type MetadataResponse,
  methods,
  protocolVersion,
  readCreateTopic,
  readCredit,
  readDeleteTopic,
  readFetch,
  readHello,
  readInitProducer,
  readListOffsets,
  readMetadata,
  readProduce,
  type ProduceRequest,
  readSubscribe,
  readUnsubscribe,
  type StoppedReplica,
  type TopicMetadata,
} from '../../transport/protocol/messages.js';
import type { RpcHandlerContext } from '../../transport/rpc/index.js';
import { groupMethods, isInternalTopic, notInternal } from '../../transport/protocol/groups.js';
import type { GroupService } from '../groups/service.js';
import { type MetadataState, toMetadata } from '../cluster/metadata-state.js';
import type { ControllerOperation } from '../cluster/controller-service.js';
import type { ProducerIdIssuer } from '../cluster/producer-ids.js';
import type { Partition, ProduceOptions } from '../partition/partition.js';
import { fetchRecords } from './fetch.js';
import { clusterLiveness, handleReassignment, isReassignmentMethod } from './reassignment-handlers.js';
import type { PushSubscriptions } from './subscriptions.js';

/**
 * The client protocol, served by every broker. Requests about a partition
 * are served by this broker's replica of it (writes and where the log ends
 * only by the leader, fetches by any replica); a broker without a replica answers NOT_LEADER with
 * the best hint it has, so a client goes straight to the leader. Admin
 * requests are forwarded to the controller.
 */
export interface ServerContext {
  readonly brokerId: number;
  readonly clusterId: string;
  metadata(): MetadataState;
  /** This broker's replica of a partition, if it hosts one. */
  partition(topic: string, partition: number): Partition | undefined;
  /** Runs a metadata operation on the controller (here or forwarded). */
  controller(operation: ControllerOperation, signal: AbortSignal): Promise<unknown>;
  controllerId(): number | null;
  /** False while this broker's metadata may still be missing what the controller already committed. */
  metadataCaughtUp(): boolean;
  aliveBrokers(): Set<number>;
  /** This broker's replicas stopped by a failing or full disk. */
  storageStatus(): StoppedReplica[];
  /** Issues producer ids and checks their proofs. */
  readonly producerIds: ProducerIdIssuer;
  /** The metadata group's voters and learners, as this broker's replica of it knows them. */
  controllerGroup(): { voters: number[]; learners: number[] };
  /** Consumer groups: coordinators of the groups partitions this broker leads. */
  readonly groups: GroupService;
  counters: { acksNoneFailures: number };
}

export interface Session {
  readonly pushes: PushSubscriptions;
  /** The client's IP address: producer ids are issued within a budget per connection and per address. */
  readonly clientAddress: string;
}

const groupMethodNames: ReadonlySet<string> = new Set(Object.values(groupMethods));

export async function handleRequest(ctx: ServerContext, session: Session, method: string, body: unknown, rpc: RpcHandlerContext): Promise<unknown> {
  switch (method) {
    case methods.hello: {
      readHello(body);
      const response: HelloResponse = { version: protocolVersion, brokerId: ctx.brokerId, clusterId: ctx.clusterId };
      return response;
    }
    case methods.metadata:
      return metadata(ctx, readMetadata(body).topics);
    case methods.produce: {
      const request = readProduce(body);
      notInternal(request.topic, 'produce');
      return hostedReplica(ctx, request.topic, request.partition).produce(request.batch, produceOptions(ctx, request, request.acks, rpc.signal));
    }
    case methods.initProducer:
      readInitProducer(body);
      return ctx.producerIds.issue({ connection: session, address: session.clientAddress }, rpc.signal);
    case methods.fetch: {
      const request = readFetch(body);
      notInternal(request.topic, 'fetch');
      return fetchRecords(hostedReplica(ctx, request.topic, request.partition), request, rpc);
    }
    case methods.listOffsets: {
      const request = readListOffsets(body);
      const view = leadingReplica(ctx, request.topic, request.partition);
      let offset: number;
      if (request.spec === 'earliest') offset = view.logStartOffset;
      else if (request.spec === 'latest') offset = view.highWatermark;
      else offset = Math.min(view.offsetForTimestamp(request.spec.timestamp) ?? view.highWatermark, view.highWatermark);
      const response: ListOffsetsResponse = { offset };
      return response;
    }
    case methods.subscribe: {
      const request = readSubscribe(body);
      notInternal(request.topic, 'subscribe');
      return session.pushes.subscribe(request);
    }
    case methods.unsubscribe:
      session.pushes.unsubscribe(readUnsubscribe(body).subscriptionId);
      return {};
    case methods.createTopic: {
      const request = readCreateTopic(body);
      if (isInternalTopic(request.name)) throw new SkeinError('INVALID_TOPIC', { message: `createTopic: names starting with __skein are reserved for skein's own topics` });
      return ctx.controller({ op: 'createTopic', request }, rpc.signal);
    }
    case methods.deleteTopic: {
      const { name } = readDeleteTopic(body);
      notInternal(name, 'deleteTopic');
      await ctx.controller({ op: 'deleteTopic', name }, rpc.signal);
      return {};
    }
    case methods.describeCluster: {
      const alive = await clusterLiveness(ctx, rpc.signal);
      const response: DescribeClusterResponse = {
        clusterId: ctx.clusterId,
        controllerId: ctx.controllerId(),
        brokers: ctx.metadata().brokerList().map((b) => ({ ...b, alive: alive.has(b.id), state: ctx.metadata().lifecycle(b.id)?.state ?? 'active' })),
        controllerGroup: ctx.controllerGroup(),
        storage: { brokerId: ctx.brokerId, stoppedReplicas: ctx.storageStatus() },
      };
      return response;
    }
    default:
      if (isReassignmentMethod(method)) return handleReassignment(ctx, method, body, rpc);
      if (groupMethodNames.has(method)) return ctx.groups.handle(method, body, session.clientAddress, rpc.signal);
      throw new SkeinError('UNKNOWN_METHOD', { message: `unknown request "${method}"` });
  }
}

export function handleNotify(ctx: ServerContext, session: Session, method: string, body: unknown): void {
  switch (method) {
    case methods.credit:
      session.pushes.credit(readCredit(body));
      return;
    case methods.produce: {
      // acks: 'none' — nobody waits for an answer; failures are only counted.
      const request = readProduce(body);
      const partition = ctx.partition(request.topic, request.partition);
      if (partition === undefined || isInternalTopic(request.topic)) {
        ctx.counters.acksNoneFailures++;
        return;
      }
      partition.produce(request.batch, produceOptions(ctx, request, 'none')).catch(() => ctx.counters.acksNoneFailures++);
      return;
    }
    default:
      throw new SkeinError('UNKNOWN_METHOD', { message: `unknown one-way message "${method}"` });
  }
}

/** An idempotent batch is taken only with the proof issued with its producer id. */
function produceOptions(ctx: ServerContext, request: ProduceRequest, acks: ProduceRequest['acks'], signal?: AbortSignal): ProduceOptions {
  const { producerProof } = request;
  return {
    acks,
    timeoutMs: request.timeoutMs,
    ...(signal === undefined ? {} : { signal }),
    verifyProducer: (producerId, producerEpoch) => ctx.producerIds.proofs.verify(producerProof, producerId, producerEpoch),
  };
}

function metadata(ctx: ServerContext, names: string[] | undefined): MetadataResponse {
  const state = ctx.metadata();
  const topics: TopicMetadata[] = [];
  const missing: string[] = [];
  if (names === undefined) {
    for (const topic of state.topicList()) topics.push(withLocalLeaders(ctx, toMetadata(topic)));
  } else {
    for (const name of names) {
      const topic = state.topic(name);
      if (topic === undefined) missing.push(name);
      else topics.push(withLocalLeaders(ctx, toMetadata(topic)));
    }
  }
  if (missing.length > 0 && !ctx.metadataCaughtUp()) throw catchingUp(ctx);
  // A decommissioned broker is no place to send a client.
  const brokers = state.brokerList().filter((b) => state.lifecycle(b.id)?.state !== 'gone');
  return { clusterId: ctx.clusterId, controllerId: ctx.controllerId(), brokers, topics, missing };
}

/**
 * A replica here may know better than the metadata: a newer leader (the
 * report to the controller is on its way), or, when the metadata names this
 * broker, that it no longer leads (deposed, or cut off from its peers): then
 * it says "no leader" rather than send clients back to itself.
 */
function withLocalLeaders(ctx: ServerContext, topic: TopicMetadata): TopicMetadata {
  for (const p of topic.partitions) {
    const local = ctx.partition(topic.name, p.partition);
    if (local === undefined) continue;
    const hint = local.leaderHint();
    if (hint.leaderEpoch < p.leaderEpoch) continue;
    // At the same epoch, another broker's report stands unless it names us or we know the leader.
    if (hint.leaderEpoch === p.leaderEpoch && hint.leaderId === null && p.leader !== ctx.brokerId) continue;
    p.leader = hint.leaderId;
    p.leaderEpoch = hint.leaderEpoch;
  }
  return topic;
}

/** This broker's replica of a partition; without one, why not: no such topic or partition, or NOT_LEADER with the best hint. */
export function hostedReplica(ctx: ServerContext, topic: string, partition: number): Partition {
  const local = ctx.partition(topic, partition);
  if (local !== undefined) return local;
  const record = ctx.metadata().topic(topic);
  if (record === undefined) throw ctx.metadataCaughtUp() ? new SkeinError('UNKNOWN_TOPIC', { message: `topic ${topic} does not exist` }) : catchingUp(ctx);
  const info = record.partitions[partition];
  if (info === undefined) throw new SkeinError('UNKNOWN_PARTITION', { message: `topic ${topic} has ${record.partitions.length} partitions; there is no partition ${partition}` });
  throw notLeader(ctx, `broker ${ctx.brokerId} holds no replica of ${topic}/${partition}`, { leaderId: info.leader, leaderEpoch: info.leaderEpoch });
}

/**
 * This broker's replica when it leads the partition and has committed an entry
 * of its term: only then is its high watermark the partition's. A follower's
 * trails by up to a heartbeat, and after a restart a replica's starts at what
 * it last knew committed, so 'latest' from either would hand a new consumer
 * records written before it started (Kafka's KIP-207 keeps ListOffsets on the
 * leader for the same reason).
 */
export function leadingReplica(ctx: ServerContext, topic: string, partition: number): Partition {
  const local = hostedReplica(ctx, topic, partition);
  if (local.isLeader()) return local;
  const hint = local.leaderHint();
  if (hint.leaderId === ctx.brokerId) {
    throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `broker ${ctx.brokerId} leads ${topic}/${partition} but has not committed its first entry yet` });
  }
  throw notLeader(ctx, `broker ${ctx.brokerId} does not lead ${topic}/${partition}`, hint);
}

function catchingUp(ctx: ServerContext): SkeinError {
  return new SkeinError('LEADER_NOT_AVAILABLE', { message: `broker ${ctx.brokerId} is still catching up on the cluster metadata` });
}

/** NOT_LEADER with the leader's address filled in from the metadata, when known; `more` keeps what else the error said (an unknown outcome). */
export function notLeader(ctx: ServerContext, message: string, hint: LeaderHint, more: Readonly<Record<string, unknown>> = {}): SkeinError {
  const broker = hint.leaderId === null ? undefined : ctx.metadata().broker(hint.leaderId);
  return new SkeinError('NOT_LEADER', { message, details: broker === undefined ? { ...more, ...hint } : { ...more, ...hint, host: broker.host, port: broker.port } });
}
