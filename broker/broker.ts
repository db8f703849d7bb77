import { randomInt } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { withTimeout } from '../transport/abort.js';
import { Endpoint } from '../transport/endpoint.js';
import type { Connection } from '../transport/connection.js';
import { Prng } from '../transport/core/prng.js';
import { isSkeinError, SkeinError } from '../transport/errors.js';
import { brokerLimits } from '../transport/limits.js';
import { type RetryPolicy, type Verdict, retryLoop } from '../transport/retry.js';
import { RpcChannel, type RpcHandlerContext } from '../transport/rpc/index.js';
import type { BrokerInfo, StoppedReplica } from '../transport/protocol/messages.js';
import { BodyReader } from '../transport/protocol/validate.js';
import { ControllerService, type ControllerOperation } from './cluster/controller-service.js';
import { Controller } from './cluster/controller.js';
import { joinCluster } from './cluster/join.js';
import { Departure } from './cluster/departure.js';
import { ControllerDuties } from './cluster/controller-duties.js';
import { Mover } from './cluster/mover.js';
import { openStorageIdentity, raftFromOtherStorage, recordFounders, type StorageIdentity } from './cluster/storage-identity.js';
import { assignedTo, type Assignment } from './cluster/assigned.js';
import type { MetadataState } from './cluster/metadata-state.js';
import { peerAuthMethods, newChallenge, verifyHello } from './cluster/peer-auth.js';
import { peerMethods, PeerLinks } from './cluster/peers.js';
import { ProducerIdIssuer } from './cluster/producer-ids.js';
import type { BrokerConfig } from './config.js';
import { DirLock } from './log/dir-lock.js';
import { isNoSpace, probeWritable } from './log/files.js';
import { partitionDir, readDescriptors, writeDescriptor, type PartitionDescriptor } from './partition/descriptor.js';
import { LeaderBalancer } from './partition/leader-balance.js';
import { Partition, partitionGroup } from './partition/partition.js';
import { CatchUpThrottle } from './raft/throttle.js';
import { RaftMux } from './raft/mux.js';
import { handleNotify, handleRequest, notLeader, type ServerContext, type Session } from './server/handlers.js';
import { groupsTopic } from '../transport/protocol/groups.js';
import { GroupService } from './groups/service.js';
import { PushSubscriptions } from './server/subscriptions.js';

export interface BrokerCounters {
  connections: number;
  requests: number;
  errors: number;
  acksNoneFailures: number;
  /** Peer messages refused because their connection had not proved it belongs to a broker of the cluster. */
  peerRejected: number;
  /** Raft messages dropped because they came from another data directory than their broker's (a wiped disk). */
  raftForeignStorage: number;
  /** Replicas stopped by a failing or full disk, and reopened once it took writes again. */
  storageFailures: number;
  storageRecoveries: number;
  /** Partition replicas opened and closed here (reconciling with the metadata, storage recovery, shutdown). */
  partitionsOpened: number;
  partitionsClosed: number;
  /** Attempts of the broker's own metadata commands (registering, reporting a leadership) that failed, and commands given up. */
  controllerCommandFailures: number;
  controllerCommandsAbandoned: number;
  /** Snapshot and retention passes of a replica that failed (a failing disk also stops the replica itself). */
  maintenanceFailures: number;
}

/** How the broker retries its own metadata commands (transport/retry.ts runs the loop). */
const controllerCommandRetryPolicy: RetryPolicy = {
  retriesMax: brokerLimits.controllerCommandRetriesMax,
  redirectsMax: 0,
  backoffMsMin: brokerLimits.controllerCommandBackoffMsMin,
  backoffMsMax: brokerLimits.controllerCommandBackoffMsMax,
};

/** Where a request or message came from: a connection to us (its session), or null for one of our own links to a peer. */
type Origin = Session | null;

/**
 * One skein broker: a UDP endpoint serving clients and peers, its replica of
 * the metadata group, and its replicas of the partitions assigned to it.
 * Reconciles the partitions it hosts with the metadata as it changes, and
 * reports partition leadership it wins to the controller.
 */
export class Broker implements AsyncDisposable {
  readonly counters: BrokerCounters = {
    connections: 0,
    requests: 0,
    errors: 0,
    acksNoneFailures: 0,
    peerRejected: 0,
    raftForeignStorage: 0,
    storageFailures: 0,
    storageRecoveries: 0,
    partitionsOpened: 0,
    partitionsClosed: 0,
    controllerCommandFailures: 0,
    controllerCommandsAbandoned: 0,
    maintenanceFailures: 0,
  };
  /** What each incoming connection has proved (peer-auth.ts): the challenge it was given, and the broker it proved to be. */
  private readonly peerAuth = new WeakMap<Session, { challenge: Uint8Array | null; peerId: number | null }>();
  private readonly refusedBy = new Set<number>();
  private readonly hosted = new Map<string, Partition>();
  private readonly byName = new Map<string, Map<number, Partition>>();
  private readonly configPeers: Map<number, BrokerInfo>;
  private readonly sessions = new Set<Session>();
  /** The connection under each session, to lift a proven peer out of the client limits. */
  private readonly connectionOf = new WeakMap<Session, Connection>();
  private readonly prng: Prng;
  private reconciling: Promise<void> = Promise.resolve();
  private reconcileQueued = false;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  /** Replicas stopped by their storage, by group, each with how to reopen it; retried every storageRetryMs. */
  private readonly stoppedReplicas = new Map<string, StoppedReplica & { reopen: () => Promise<void> }>();
  private storageTimer: NodeJS.Timeout | null = null;
  private storageRetrying = false;
  /** The stopped replica being reopened now, if any (see replicaStopped). */
  private reopening: string | null = null;
  private balanceTimer: NodeJS.Timeout | null = null;
  private readonly balancer: LeaderBalancer<Partition>;
  private stopped = false;
  /** Aborts when the broker stops, ending its background retries at once. */
  private readonly lifetime = new AbortController();
  private endpoint!: Endpoint;
  private peers!: PeerLinks;
  private mux!: RaftMux;
  private controller!: Controller;
  private service!: ControllerService;
  private duties: ControllerDuties | null = null;
  private mover: Mover | null = null;
  /** Learns when the cluster has decommissioned this broker for good (then it holds nothing and serves no client). */
  private departure: Departure | null = null;
  /** What every partition this broker leads may send to new replicas catching up (--move-rate). */
  private readonly throttle: CatchUpThrottle;
  private identity!: StorageIdentity;
  /** Settles once this broker's registration (address and storage id) is in the metadata, or was refused. */
  registered: Promise<void> = Promise.resolve();
  private lock!: DirLock;
  private readonly context: ServerContext;
  private readonly groups: GroupService;

  private constructor(readonly config: BrokerConfig) {
    this.configPeers = new Map(config.peers.map((p) => [p.id, p]));
    this.throttle = new CatchUpThrottle(config.moveRateBytesPerSecond);
    // Election timeouts must differ between brokers and between runs; nothing else here needs randomness.
    this.prng = new Prng(randomInt(2 ** 31) ^ config.id);
    this.balancer = new LeaderBalancer({
      selfId: config.id,
      holdMs: brokerLimits.leaderBalanceHoldElectionTimeouts * config.electionTicks * config.tickMs,
      alive: () => this.aliveBrokers(),
    });
    this.groups = new GroupService({
      brokerId: config.id,
      metadata: () => this.controller.state,
      metadataCaughtUp: () => this.controller.isCaughtUp(),
      partition: (topic, partition) => this.partition(topic, partition),
      controller: (operation, signal) => this.service.run(operation, signal),
      aliveBrokers: () => this.aliveBrokers(),
      askPeer: (id, method, body, signal) => this.peers.request(id, method, body, { signal }),
      notLeader: (message, hint) => notLeader(this.context, message, hint),
      electionTimeoutMaxMs: 2 * config.electionTicks * config.tickMs,
    });
    this.context = {
      brokerId: config.id,
      clusterId: config.clusterId,
      metadata: () => this.controller.state,
      partition: (topic, partition) => this.partition(topic, partition),
      controller: (operation, signal) => this.service.run(operation, signal),
      controllerId: () => this.controller.leaderId(),
      metadataCaughtUp: () => this.controller.isCaughtUp(),
      aliveBrokers: () => this.aliveBrokers(),
      storageStatus: () => this.storageStatus(),
      producerIds: new ProducerIdIssuer({
        allocate: (signal) => this.service.run({ op: 'producerIds', brokerId: config.id }, signal),
        clusterKey: () => this.controller.state.clusterKey,
        onMetadataChange: (listener) => this.controller.onChange(listener),
      }),
      controllerGroup: () => {
        const { config } = this.controller.raft.status();
        return { voters: [...config.voters], learners: [...config.learners] };
      },
      groups: this.groups,
      counters: this.counters,
    };
  }

  /** Opens the data directory (taking its lock), recovers every replica in it, and starts serving. */
  static async start(config: BrokerConfig): Promise<Broker> {
    const broker = new Broker(config);
    await broker.open();
    return broker;
  }

  get address(): { host: string; port: number } {
    return this.endpoint.address;
  }

  private async open(): Promise<void> {
    const { config } = this;
    mkdirSync(config.dataDir, { recursive: true });
    this.lock = DirLock.acquire(config.dataDir);
    try {
      this.identity = openStorageIdentity(config.dataDir, config.id, config.clusterId);
      this.endpoint = await Endpoint.open({
        host: config.listen.host,
        port: config.listen.port,
        acceptConnections: true,
        datagramBytes: config.datagramBytes,
        deadPeerTimeoutMs: brokerLimits.deadPeerTimeoutMs,
        // The cluster's own brokers are outside the limits that protect this broker from clients.
        isPriorityPeer: (host, port) => this.isBrokerAddress(host, port),
        reassemblyBytesMax: config.clientBufferBytes,
        sendBytesMax: config.clientBufferBytes,
        connectionsPerAddressMax: config.connectionsPerAddress,
        ...(config.loss !== null ? { loss: config.loss } : {}),
      });
      this.peers = new PeerLinks({
        selfId: config.id,
        endpoint: this.endpoint,
        addressOf: (id) => this.controller?.state.broker(id) ?? this.configPeers.get(id),
        handler: (method, body, ctx) => this.handle(method, body, ctx, null),
        onNotify: (method, body) => this.notify(method, body, null),
        secret: config.peerSecret,
        incarnation: randomInt(2 ** 32),
        storageId: this.identity.storageId,
        onNotice: (message) => process.stderr.write(`skein broker ${config.id}: ${message}\n`),
        onRefused: (id, error) => {
          if (this.refusedBy.has(id)) return;
          this.refusedBy.add(id);
          process.stderr.write(`skein broker ${config.id}: broker ${id} refused our peer link: ${(error as Error).message} (every broker of a cluster needs the same --peer-secret)\n`);
        },
      });
      this.mux = new RaftMux((to, wire) => this.peers.sendRaft(to, wire));
      const timing = { tickMs: config.tickMs, electionTicks: config.electionTicks, heartbeatTicks: config.heartbeatTicks };
      const notice = (message: string): void => void process.stderr.write(`skein broker ${config.id}: ${message}\n`);
      const founders = config.join === null ? config.peers : (this.identity.founders ?? (await this.join(notice)));
      this.controller = await Controller.open({
        brokerId: config.id,
        dataDir: config.dataDir,
        clusterId: config.clusterId,
        peers: founders,
        bootstrap: config.join === null,
        controllerVoters: config.controllerVoters,
        mux: this.mux,
        prng: this.prng.fork(),
        timing,
        onFatal: (error) => this.replicaStopped('meta', 'metadata', error, () => this.controller.reopen()),
      });
      this.service = new ControllerService({ controller: this.controller, peers: this.peers, topicDefaults: config.topicDefaults, aliveBrokers: () => this.aliveBrokers() });
      for (const { dir, descriptor } of readDescriptors(config.dataDir)) await this.host(dir, descriptor);
      this.controller.onChange(() => this.scheduleReconcile());
      this.endpoint.onConnection((connection) => this.serve(connection));
      this.maintenanceTimer = setInterval(() => void this.maintain(), brokerLimits.maintenanceEveryMs);
      this.maintenanceTimer.unref();
      if (config.leaderBalance) {
        // A moving partition's leadership is the move's to place (it hands it to a staying replica first).
        const settled = (): Partition[] => [...this.hosted.values()].filter((p) => this.controller.state.topicById(p.topicId)?.partitions[p.partition]?.move === undefined);
        this.balanceTimer = setInterval(() => this.balancer.pass(settled(), performance.now()), brokerLimits.leaderBalanceEveryMs);
        this.balanceTimer.unref();
      }
      const run = (operation: ControllerOperation, signal: AbortSignal): Promise<unknown> => this.service.run(operation, signal);
      const rebalanceOnJoin = config.autoRebalance === 'on-join' ? () => run({ op: 'rebalance', dryRun: false }, this.lifetime.signal) : null;
      this.duties = new ControllerDuties({ controller: this.controller, movesInFlight: config.movesInFlight, rebalanceOnJoin, aliveBrokers: () => this.aliveBrokers(), onNotice: notice });
      this.mover = new Mover({ brokerId: config.id, controller: this.controller, partitions: () => this.hosted.values(), run, signal: this.lifetime.signal });
      this.departure = new Departure({
        brokerId: config.id,
        state: () => this.controller.state,
        peers: () => [this.controller.leaderId(), ...this.controller.state.brokerList().map((b) => b.id), ...this.configPeers.keys()],
        ask: (to, signal) => this.peers.request(to, peerMethods.controller, { op: 'brokerState', brokerId: config.id }, { signal }),
        onGone: (reason) => this.leave(reason),
        linked: (id) => this.peers.linked(id),
      });
      this.controller.onChange(() => this.departure?.metadataChanged());
      // A joiner that joined before (it knows the founders) registers as any restarted broker does.
      this.registered = config.join !== null && this.identity.founders === undefined ? Promise.resolve() : this.register(notice);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  // ------------------------------------------------------------------ serving

  private serve(connection: Connection): void {
    if (this.stopped) {
      void connection.close();
      return;
    }
    this.counters.connections++;
    let session: Session | null = null;
    const rpc = new RpcChannel(connection, {
      handler: (method, body, ctx) => this.handle(method, body, ctx, session),
      onNotify: (method, body) => this.notify(method, body, session),
      // A connection that only keeps itself alive serves nobody; one with push subscriptions waits for records.
      idleTimeoutMs: brokerLimits.clientIdleMs,
      isBusy: () => (session?.pushes.size ?? 0) > 0,
    });
    session = { pushes: new PushSubscriptions(rpc, (topic, partition) => this.leaderView(topic, partition)), clientAddress: connection.remote.host };
    const current = session;
    this.sessions.add(current);
    this.connectionOf.set(current, connection);
    connection.onClose(() => {
      current.pushes.closeAll();
      this.sessions.delete(current);
    });
  }

  private async handle(method: string, body: unknown, ctx: RpcHandlerContext, origin: Origin): Promise<unknown> {
    this.counters.requests++;
    // Stopping: replicas are closing under the requests; the client should simply go elsewhere.
    if (this.stopped) throw new SkeinError('CONNECTION_CLOSED', { message: `broker ${this.config.id} is stopping` });
    try {
      if (method === peerMethods.controller) {
        const peer = this.peerOf(origin);
        if (peer === null) {
          this.counters.peerRejected++;
          throw new SkeinError('NOT_AUTHORIZED', { message: 'forwarded controller requests come from brokers of the cluster only' });
        }
        return await this.service.handleForwarded(body, ctx.signal, peer);
      }
      if (origin === null) throw new SkeinError('UNKNOWN_METHOD', { message: `"${method}" is not served on a peer link` });
      if (method === peerAuthMethods.challenge || method === peerAuthMethods.hello) return this.answerPeerAuth(origin, method, body);
      if (this.departure?.isGone() === true) throw new SkeinError('BROKER_REMOVED', { message: `broker ${this.config.id} was decommissioned and is no longer part of the cluster: ask another broker`, details: { brokerId: this.config.id } });
      return await handleRequest(this.context, origin, method, body, ctx);
    } catch (error) {
      this.counters.errors++;
      // A replica knows its leader's id; the metadata knows where that broker is.
      if (isSkeinError(error, 'NOT_LEADER') && error.details?.host === undefined) {
        const { leaderId, leaderEpoch } = (error.details ?? {}) as { leaderId?: number | null; leaderEpoch?: number };
        throw notLeader(this.context, error.message, { leaderId: leaderId ?? null, leaderEpoch: leaderEpoch ?? 0 }, error.details);
      }
      throw error;
    }
  }

  private notify(method: string, body: unknown, origin: Origin): void {
    if (method === peerMethods.raft) {
      this.receiveRaft(body, this.peerOf(origin));
      return;
    }
    if (origin !== null) handleNotify(this.context, origin, method, body);
  }

  /**
   * The broker a connection speaks for. With a peer secret: the one it
   * proved to be, on a connection it dialled; null for anyone else — and for
   * whatever arrives on a link we dialled, since brokers send Raft and
   * controller requests over their own links only (see peer-auth.ts).
   * Without a secret the network is trusted, and any connection may speak for
   * any broker (`undefined`: take the message's word for it).
   */
  private peerOf(origin: Origin): number | null | undefined {
    if (this.config.peerSecret === null) return undefined;
    if (origin === null) return null;
    return this.peerAuth.get(origin)?.peerId ?? null;
  }

  private answerPeerAuth(session: Session, method: string, body: unknown): unknown {
    const secret = this.config.peerSecret;
    if (secret === null) throw new SkeinError('NOT_AUTHORIZED', { message: `broker ${this.config.id} has no peer secret; every broker of a cluster needs the same one` });
    const state = this.peerAuth.get(session) ?? { challenge: null, peerId: null };
    this.peerAuth.set(session, state);
    if (method === peerAuthMethods.challenge) {
      state.challenge = newChallenge();
      return { challenge: state.challenge };
    }
    // A challenge answers one hello, right or wrong.
    const challenge = state.challenge;
    state.challenge = null;
    state.peerId = verifyHello(secret, this.config.id, challenge, body);
    // A proven peer is outside the limits on clients, whatever address its link comes from.
    if (state.peerId !== null) this.connectionOf.get(session)?.markPriority();
    return {};
  }

  private receiveRaft(body: unknown, peer: number | null | undefined): void {
    const r = new BodyReader(body, 'raft');
    const from = r.int('from', { min: 1, max: brokerLimits.brokerIdMax });
    if (peer !== undefined && peer !== from) {
      this.counters.peerRejected++;
      return;
    }
    const incarnation = r.int('incarnation', { min: 0, max: 0xffff_ffff, optional: true });
    const storage = r.has('storage') ? r.string('storage', { bytesMax: 32 }) : undefined;
    const registered = this.controller.state.lifecycle(from)?.storageId;
    if (raftFromOtherStorage(registered, storage)) {
      if (this.counters.raftForeignStorage++ === 0) {
        process.stderr.write(`skein broker ${this.config.id}: broker ${from} speaks from another data directory (storage ${storage!.slice(0, 8)}…) than the one the cluster knows (${registered!.slice(0, 8)}…): it lost its disk; its Raft traffic is ignored. Decommission broker ${from} and start the new one under a new id\n`);
      }
      return;
    }
    const messages = r.list('messages', { lengthMax: brokerLimits.peerRaftQueueMax }, (wire) => wire)!;
    this.peers.heardFrom(from, performance.now(), incarnation);
    for (const wire of messages) this.mux.receiveWire(wire, from);
  }

  /** Whether `host:port` is where a broker of this cluster is (its connections to us come from there). */
  private isBrokerAddress(host: string, port: number): boolean {
    for (const peer of this.configPeers.values()) if (peer.port === port && peer.host === host) return true;
    return this.controller?.state.brokerList().some((b) => b.port === port && b.host === host) ?? false;
  }

  // ------------------------------------------------------------------ partitions

  private partition(topic: string, partition: number): Partition | undefined {
    return this.byName.get(topic)?.get(partition);
  }

  private leaderView(topic: string, partition: number): Partition {
    const local = this.partition(topic, partition);
    if (local === undefined) {
      const record = this.controller.state.topic(topic);
      if (record === undefined) {
        if (!this.controller.isCaughtUp()) throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `broker ${this.config.id} is still catching up on the cluster metadata` });
        throw new SkeinError('UNKNOWN_TOPIC', { message: `topic ${topic} does not exist` });
      }
      const info = record.partitions[partition];
      if (info === undefined) throw new SkeinError('UNKNOWN_PARTITION', { message: `topic ${topic} has no partition ${partition}` });
      throw notLeader(this.context, `broker ${this.config.id} holds no replica of ${topic}/${partition}`, { leaderId: info.leader, leaderEpoch: info.leaderEpoch });
    }
    if (!local.isLeader()) throw notLeader(this.context, `broker ${this.config.id} does not lead ${topic}/${partition}`, local.leaderHint());
    return local;
  }

  private async host(dir: string, descriptor: PartitionDescriptor): Promise<void> {
    const { config } = this;
    const group = partitionGroup(descriptor.topicId, descriptor.partition);
    const partition = await Partition.open({
      topic: descriptor.topic,
      topicId: descriptor.topicId,
      partition: descriptor.partition,
      brokerId: config.id,
      dir,
      voters: descriptor.bootstrap === false ? null : descriptor.replicas,
      preferredLeader: descriptor.replicas[0]!,
      config: descriptor.config,
      mux: this.mux,
      prng: this.prng.fork(),
      timing: { tickMs: config.tickMs, electionTicks: config.electionTicks, heartbeatTicks: config.heartbeatTicks },
      learnerBudget: this.throttle,
      ...(descriptor.topic === groupsTopic ? { machine: this.groups.machineFor(descriptor.partition) } : {}),
      onLeadership: (writable, p) => {
        if (p.topic === groupsTopic) this.groups.leadershipChanged(p, writable);
        this.balancer.leadershipChanged(p, writable, performance.now());
        if (writable) void this.reportLeadership(p);
      },
      onFatal: (error) => this.replicaStopped(group, `${descriptor.topic}/${descriptor.partition}`, error, () => this.rehost(group, dir, descriptor)),
    });
    this.counters.partitionsOpened++;
    this.hosted.set(group, partition);
    let partitions = this.byName.get(descriptor.topic);
    if (partitions === undefined) this.byName.set(descriptor.topic, (partitions = new Map()));
    partitions.set(descriptor.partition, partition);
    if (config.leaderBalance && partition.preferredLeader === config.id) {
      for (const ticks of [brokerLimits.preferredCampaignTicks, 2 * brokerLimits.preferredCampaignTicks]) {
        if (ticks < config.electionTicks) setTimeout(() => this.balancer.campaignIfNew(partition), ticks * config.tickMs).unref();
      }
    }
  }

  private async unhost(group: string, partition: Partition, options: { deleteData: boolean }): Promise<void> {
    this.hosted.delete(group);
    this.stoppedReplicas.delete(group);
    this.balancer.leadershipChanged(partition, false, performance.now());
    if (partition.topic === groupsTopic) this.groups.closed(partition);
    const partitions = this.byName.get(partition.topic);
    if (partitions?.get(partition.partition) === partition) partitions.delete(partition.partition);
    if (partitions?.size === 0) this.byName.delete(partition.topic);
    this.counters.partitionsClosed++;
    // Data about to be deleted is not worth a flush.
    await partition.close({ discard: options.deleteData });
    if (options.deleteData) rmSync(partitionDir(this.config.dataDir, partition), { recursive: true, force: true });
  }

  private scheduleReconcile(): void {
    // Every applied metadata entry asks for a pass; one queued pass covers all that arrive before it runs.
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    this.reconciling = this.reconciling
      .then(() => {
        this.reconcileQueued = false;
        return this.reconcile();
      })
      .catch((error: unknown) => this.fatal('reconcile', error));
  }

  /**
   * Hosts exactly the partitions the metadata assigns to this broker, as it
   * stands now: deletions first (closing frees what opening takes), then
   * opens one at a time, each checked against the current metadata and
   * followed by a turn of the event loop (requests and the metadata group
   * run between them). A topic deleted meanwhile ends the pass: the pass
   * queued behind it starts over from the deletions.
   */
  private async reconcile(): Promise<void> {
    if (this.stopped || this.departure?.isGone() === true) return;
    const state: MetadataState = this.controller.state;
    const deletions = state.topicsDeleted;
    await this.closeDeleted(state);
    const wanted = assignedTo(state, this.config.id);
    await this.closeUnassigned(wanted);
    this.refreshHosted(wanted);
    for (const [group, want] of wanted) {
      if (this.stopped || this.controller.state !== state || state.topicsDeleted !== deletions) return;
      // A replica its storage stopped is retried on its own schedule (retryStoppedReplicas).
      if (this.hosted.has(group) || this.stoppedReplicas.has(group)) continue;
      await this.openPartition(group, want);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Decommissioned for good (see departure.ts): no partition names this broker now or ever will, so every
   * replica here is deleted without asking the metadata group (which no longer has it), and clients are
   * refused with BROKER_REMOVED from now on.
   */
  private leave(reason: string): void {
    process.stderr.write(`skein broker ${this.config.id}: decommissioned (${reason}); its replicas are deleted and it serves no client: it can be stopped\n`);
    this.reconciling = this.reconciling
      .then(async () => {
        for (const [group, partition] of [...this.hosted]) if (!this.stopped) await this.unhost(group, partition, { deleteData: true });
      })
      .catch((error: unknown) => this.fatal('deleting the replicas of a decommissioned broker', error));
  }

  /** Closes and deletes the replicas of topics the metadata no longer has. */
  private async closeDeleted(state: MetadataState): Promise<void> {
    for (const [group, partition] of [...this.hosted]) {
      if (this.stopped) return;
      // A topic id that the metadata no longer knows was deleted; one it never knew may still be on its way.
      if (state.topicById(partition.topicId) === undefined && partition.topicId < state.topicIdsIssued) {
        await this.unhost(group, partition, { deleteData: true });
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /**
   * Deletes the replicas a finished move took off this broker (or a cancelled one had added). The
   * metadata is first confirmed by a linearizable read: a restarted broker's copy may have applied an
   * entry of the current term and still miss the move's end. The metadata stops naming a broker only
   * once its group no longer has it as a voter, so what is deleted is never needed.
   */
  private async closeUnassigned(wanted: Map<string, Assignment>): Promise<void> {
    const unassigned = (state: MetadataState, want: Map<string, Assignment>): Array<[string, Partition]> =>
      [...this.hosted].filter(([group, p]) => !want.has(group) && state.topicById(p.topicId) !== undefined);
    if (unassigned(this.controller.state, wanted).length === 0) return;
    try {
      await this.controller.raft.read({ signal: AbortSignal.timeout(brokerLimits.controllerCommandTimeoutMs) });
    } catch {
      // No controller to confirm with now: try again shortly.
      setTimeout(() => this.scheduleReconcile(), brokerLimits.storageRetryMs).unref();
      return;
    }
    const state = this.controller.state;
    for (const [group, partition] of unassigned(state, assignedTo(state, this.config.id))) {
      if (this.stopped) return;
      process.stderr.write(`skein broker ${this.config.id}: ${partition.topic}/${partition.partition} moved off this broker; its replica is deleted\n`);
      await this.unhost(group, partition, { deleteData: true });
    }
  }

  /** A finished move may change a hosted replica's preferred leader: leadership follows it, and a restart reads it from the descriptor. */
  private refreshHosted(wanted: Map<string, Assignment>): void {
    for (const [group, want] of wanted) {
      const partition = this.hosted.get(group);
      if (partition === undefined || want.moving || partition.preferredLeader === want.replicas[0]) continue;
      partition.preferredLeader = want.replicas[0]!;
      try {
        writeDescriptor(partitionDir(this.config.dataDir, partition), descriptorOf(want));
      } catch {
        // The descriptor only names the preferred leader at the next start; the metadata corrects it then.
      }
    }
  }

  /** Opens a replica the metadata assigns here, for the first time. */
  private async openPartition(group: string, want: Assignment): Promise<void> {
    const descriptor = descriptorOf(want);
    const dir = partitionDir(this.config.dataDir, descriptor);
    // One partition that cannot open (a damaged directory, say) must not keep the others from being served.
    try {
      writeDescriptor(dir, descriptor);
      await this.host(dir, descriptor);
    } catch (error) {
      const replica = `${descriptor.topic}/${descriptor.partition}`;
      // A disk that cannot take the new replica's files now may later: retried with the stopped replicas.
      if (isSkeinError(error, 'STORAGE_FAILED')) this.replicaStopped(group, replica, storageFailure(error), () => this.openWanted(group, want));
      else this.fatal(`partition ${replica}`, error);
    }
  }

  /** Tells the controller this broker now leads a partition, until it is told or leadership moves on. */
  private async reportLeadership(partition: Partition): Promise<void> {
    const term = partition.raft.status().term;
    const command = { type: 'partitionLeader', topicId: partition.topicId, partition: partition.partition, leader: this.config.id, leaderEpoch: term } as const;
    await this.commandRetried(`reporting its leadership of ${partition.topic}/${partition.partition}`, controllerCommandRetryPolicy, async () => {
      if (!partition.isLeader() || partition.raft.status().term !== term) return;
      const known = this.controller.state.topicById(partition.topicId)?.partitions[partition.partition];
      if (known !== undefined && known.leader === this.config.id && known.leaderEpoch >= term) return;
      await this.runCommand(command);
    });
  }

  /**
   * Joins a running cluster for the first time (see join.ts): resolves with the founding brokers once
   * the controller registered this broker, and keeps them beside the data for later starts.
   */
  private async join(notice: (message: string) => void): Promise<BrokerInfo[]> {
    const { config } = this;
    const self = { id: config.id, host: config.advertise.host, port: config.advertise.port };
    // The peer links dial brokers the metadata does not name yet (it is empty until the log arrives).
    const learned = (brokers: readonly BrokerInfo[]): void => brokers.forEach((b) => this.configPeers.has(b.id) || this.configPeers.set(b.id, b));
    const founders = await joinCluster({ endpoint: this.endpoint, peers: this.peers, via: config.join!, clusterId: config.clusterId, self, storageId: this.identity.storageId, learned, signal: this.lifetime.signal, onNotice: notice });
    this.identity = recordFounders(config.dataDir, this.identity, founders);
    return founders;
  }

  /**
   * Records this broker's advertised address and its data directory's storage id in the metadata (peers
   * and clients dial the address; the id ties the broker id to this directory). Retried until the
   * metadata holds both; a refusal (the id belongs to another directory, or was decommissioned) is said
   * once and ends the attempts.
   */
  private async register(notice: (message: string) => void): Promise<void> {
    const me = { id: this.config.id, host: this.config.advertise.host, port: this.config.advertise.port };
    // Without it no peer or client can find this broker: retried for as long as the broker runs.
    const policy = { ...controllerCommandRetryPolicy, retriesMax: Infinity };
    await this.commandRetried('registering', policy, async (attemptNumber) => {
      // A retry may follow an attempt that was applied but whose answer was lost.
      const known = this.controller.state.broker(me.id);
      // Done once the metadata ties this broker id to this data directory (see storage-identity.ts).
      const storageId = this.controller.state.lifecycle(me.id)?.storageId;
      if (known !== undefined && known.host === me.host && known.port === me.port && storageId === this.identity.storageId) return;
      try {
        await this.runCommand({ type: 'registerBroker', broker: me, storageId: this.identity.storageId });
      } catch (error) {
        if (!isSkeinError(error, 'BROKER_ID_IN_USE')) throw error;
        notice(`the cluster refused this broker: ${error.message}`);
      }
    });
  }

  /**
   * Runs `attempt` (one of the broker's own metadata commands) until it is done, the retries run out or the broker
   * stops. Whatever the failure, it is retried: the controller may be between leaders, and nobody else sends these.
   * Each failure is counted; a command given up is counted and said once.
   */
  private async commandRetried(what: string, policy: RetryPolicy, attempt: (attemptNumber: number) => Promise<void>): Promise<void> {
    const onFailure = (): Verdict => {
      this.counters.controllerCommandFailures++;
      return 'retry';
    };
    try {
      // Without jitter: after a failover clients wait on the new leader's report, and a wait of up to twice the
      // backoff would be theirs; one broker's commands are few and not in step with other brokers' anyway.
      await retryLoop({ policy, signal: this.lifetime.signal, onFailure, random: () => 0 }, attempt);
    } catch (error) {
      if (this.lifetime.signal.aborted) return;
      this.counters.controllerCommandsAbandoned++;
      process.stderr.write(`skein broker ${this.config.id}: gave up ${what} after ${policy.retriesMax} retries: ${(error as Error)?.message ?? String(error)}\n`);
    }
  }

  /** One metadata command on this broker's own behalf, given up after controllerCommandTimeoutMs or when the broker stops. */
  private async runCommand(command: Extract<ControllerOperation, { op: 'command' }>['command']): Promise<void> {
    const bounded = withTimeout(this.lifetime.signal, brokerLimits.controllerCommandTimeoutMs, () => new SkeinError('TIMEOUT', { message: 'the controller did not answer in time' }));
    try {
      await this.service.run({ op: 'command', command }, bounded.signal);
    } finally {
      bounded.dispose();
    }
  }

  private aliveBrokers(): Set<number> {
    const windowMs = 3 * this.config.electionTicks * this.config.tickMs;
    return this.peers.alive(performance.now(), windowMs);
  }

  /**
   * Snapshots and retention for every replica here, as the broker does every
   * maintenanceEveryMs; `force` snapshots whatever the count since the last.
   * A failing disk surfaces through the replica itself, so a failure here
   * is counted and waits for the next round.
   */
  async maintain(options: { force?: boolean } = {}): Promise<void> {
    const nowMs = Date.now();
    const failed = (): void => void this.counters.maintenanceFailures++;
    await Promise.all([...[...this.hosted.values()].map((partition) => partition.maintain(nowMs, options).catch(failed)), this.controller.maintain(nowMs, options).catch(failed)]);
  }

  // ------------------------------------------------------------------ storage failures

  /**
   * A replica's disk failed under it (full, most often): the replica has
   * stopped (no writes, no reads; its group elects another leader), every
   * other replica here goes on. Said once on stderr, shown by describeCluster
   * and the counters, and retried until the disk takes writes again.
   */
  private replicaStopped(group: string, replica: string, error: unknown, reopen: () => Promise<void>): void {
    const failure = storageFailure(error);
    this.stoppedReplicas.set(group, { replica, code: failure.code, message: failure.message, sinceMs: Date.now(), reopen });
    // A retry that fails again is the same episode: counted and said once.
    if (this.reopening === group) return;
    this.counters.storageFailures++;
    const retryS = brokerLimits.storageRetryMs / 1000;
    process.stderr.write(`skein broker ${this.config.id}: ${replica} stopped: ${failure.message}; the other replicas here go on, and it is retried every ${retryS} s until the disk takes writes again\n`);
    if (this.storageTimer === null && !this.stopped) {
      this.storageTimer = setInterval(() => this.retryStoppedReplicas(), brokerLimits.storageRetryMs);
      this.storageTimer.unref();
    }
  }

  /** What describeCluster shows of this broker's storage: the replicas stopped by it. */
  storageStatus(): StoppedReplica[] {
    return [...this.stoppedReplicas.values()].map(({ replica, code, message, sinceMs }) => ({ replica, code, message, sinceMs }));
  }

  /** One retry round, in line with reconciling (both open and close replicas): reopens the stopped replicas once the disk takes a probe write. */
  private retryStoppedReplicas(): void {
    if (this.storageRetrying || this.stopped) return;
    this.storageRetrying = true;
    this.reconciling = this.reconciling
      .then(async () => {
        if (!probeWritable(this.config.dataDir, brokerLimits.storageProbeBytes)) return;
        for (const [group, stopped] of [...this.stoppedReplicas]) {
          if (this.stopped) return;
          this.stoppedReplicas.delete(group);
          this.reopening = group;
          try {
            await stopped.reopen();
            this.counters.storageRecoveries++;
            process.stderr.write(`skein broker ${this.config.id}: ${stopped.replica} resumed: the disk takes writes again\n`);
          } catch (error) {
            // Reopening failed before the replica ran: it stays stopped, as it was.
            this.stoppedReplicas.set(group, { ...stopped, message: (error as Error)?.message ?? String(error) });
          } finally {
            this.reopening = null;
          }
        }
      })
      .catch((error: unknown) => this.fatal('storage retry', error))
      .finally(() => {
        this.storageRetrying = false;
        if (this.stoppedReplicas.size === 0 && this.storageTimer !== null) {
          clearInterval(this.storageTimer);
          this.storageTimer = null;
        }
      });
  }

  /** Opens a wanted partition that its storage kept from opening (see reconcile); throws if it still cannot. */
  private async openWanted(group: string, want: Assignment): Promise<void> {
    // Still wanted? The topic may have gone while the disk was full.
    if (this.controller.state.topicById(want.topic.topicId) === undefined) return;
    await this.openPartition(group, want);
    const still = this.stoppedReplicas.get(group);
    if (still !== undefined) {
      this.stoppedReplicas.delete(group);
      throw new SkeinError('STORAGE_FAILED', { message: still.message });
    }
  }

  /** Reopens a partition replica that its storage stopped (unless the topic went meanwhile): recovery, then Raft catches it up. */
  private async rehost(group: string, dir: string, descriptor: PartitionDescriptor): Promise<void> {
    const current = this.hosted.get(group);
    if (current !== undefined) await this.unhost(group, current, { deleteData: false });
    const { state } = this.controller;
    if (state.topicById(descriptor.topicId) === undefined && descriptor.topicId < state.topicIdsIssued) return;
    await this.host(dir, descriptor);
  }

  private fatal(what: string, error: unknown): void {
    process.stderr.write(`skein broker ${this.config.id}: ${what} stopped: ${(error as Error)?.stack ?? String(error)}\n`);
  }

  // ------------------------------------------------------------------ shutdown

  /**
   * Graceful stop: hands every leadership this broker holds to another
   * replica (bounded by `transferTimeoutMs`), then closes everything. What
   * was acknowledged stays acknowledged either way; the handover only spares
   * clients an election timeout.
   */
  async stop(options: { transferTimeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    const timeoutMs = options.transferTimeoutMs ?? 2 * this.config.electionTicks * this.config.tickMs;
    await Promise.all([...this.hosted.values()].map((p) => p.transferLeadership(timeoutMs).catch(() => false)));
    await this.transferController(timeoutMs);
    await this.close();
  }

  private async transferController(timeoutMs: number): Promise<void> {
    const status = this.controller.raft.status();
    if (status.role !== 'leader') return;
    const target = status.config.voters.find((id) => id !== status.id && this.aliveBrokers().has(id));
    if (target === undefined) return;
    try {
      this.controller.raft.transferLeadership(target);
    } catch {
      return;
    }
    const until = performance.now() + timeoutMs;
    while (this.controller.raft.status().role === 'leader' && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  }

  private async close(): Promise<void> {
    this.stopped = true;
    this.lifetime.abort();
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
    if (this.balanceTimer !== null) clearInterval(this.balanceTimer);
    if (this.storageTimer !== null) clearInterval(this.storageTimer);
    this.duties?.close();
    this.mover?.close();
    this.departure?.close();
    this.groups.close();
    await this.reconciling.catch(() => {});
    for (const session of this.sessions) session.pushes.closeAll();
    await Promise.all([...this.hosted].map(([group, p]) => this.unhost(group, p, { deleteData: false }).catch(() => {})));
    await this.controller?.close().catch(() => {});
    await this.peers?.close().catch(() => {});
    await this.endpoint?.close().catch(() => {});
    this.lock?.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function descriptorOf(want: Assignment): PartitionDescriptor {
  return { topic: want.topic.name, topicId: want.topic.topicId, partition: want.partition, replicas: want.replicas, config: want.topic.config, bootstrap: want.bootstrap };
}

/** STORAGE_FULL for a full disk, else the storage error as it is. */
function storageFailure(error: unknown): SkeinError {
  if (isNoSpace(error)) return isSkeinError(error, 'STORAGE_FULL') ? error : new SkeinError('STORAGE_FULL', { message: (error as Error).message, cause: error });
  return error instanceof SkeinError ? error : new SkeinError('STORAGE_FAILED', { message: String(error), cause: error });
}

export type { ControllerOperation };
