import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { systemClock } from '../transport/clock.js';
import { Endpoint } from '../transport/endpoint.js';
import type { Connection } from '../transport/connection.js';
import { Prng } from '../transport/core/prng.js';
import { isSkeinError, SkeinError } from '../transport/errors.js';
import { brokerLimits, clusterLimits } from '../transport/limits.js';
import { RpcChannel, type RpcHandlerContext } from '../transport/rpc/index.js';
import type { BrokerInfo, StoppedReplica } from '../transport/protocol/messages.js';
import { BodyReader } from '../transport/protocol/validate.js';
import { ControllerService, type ControllerOperation } from './cluster/controller-service.js';
import { Controller } from './cluster/controller.js';
import { joinCluster } from './cluster/join.js';
import { Departure } from './cluster/departure.js';
import { ControllerDuties } from './cluster/controller-duties.js';
import { Mover } from './cluster/mover.js';
import { FoundingCheck, foundingFlags, foundingText } from './cluster/founding.js';
import { openStorageIdentity, raftFromOtherStorage, recordFounders, type StorageIdentity } from './cluster/storage-identity.js';
import { OwnCommands, ownCommandRetryPolicy } from './cluster/own-commands.js';
import { peerAuthMethods, newChallenge, verifyHello } from './cluster/peer-auth.js';
import { peerMethods, PeerLinks } from './cluster/peers.js';
import { ProducerIdIssuer } from './cluster/producer-ids.js';
import type { BrokerConfig } from './config.js';
import { DirLock } from './log/dir-lock.js';
import { PartitionHost } from './partition/host.js';
import type { RaftTiming } from './replica/log-replica.js';
import { LeaderBalancer } from './partition/leader-balance.js';
import type { Partition } from './partition/partition.js';
import { CatchUpThrottle } from './raft/throttle.js';
import { RaftMux } from './raft/mux.js';
import { StoppedReplicas } from './replica/stopped-replicas.js';
import { handleNotify, handleRequest, leadingReplica, notLeader, type ServerContext, type Session } from './server/handlers.js';
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
  /** Raft messages dropped because they came from a founder founded with other flags (founding.ts). */
  raftForeignFounding: number;
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
  /** Push subscriptions over every connection: pushes read and queued to clients, their bytes, and subscriptions the broker ended. */
  pushes: number;
  pushedBytes: number;
  pushesEnded: number;
}

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
    raftForeignFounding: 0,
    storageFailures: 0,
    storageRecoveries: 0,
    partitionsOpened: 0,
    partitionsClosed: 0,
    controllerCommandFailures: 0,
    controllerCommandsAbandoned: 0,
    maintenanceFailures: 0,
    pushes: 0,
    pushedBytes: 0,
    pushesEnded: 0,
  };
  /** What each incoming connection has proved (peer-auth.ts): the challenge it was given, and the broker it proved to be. */
  private readonly peerAuth = new WeakMap<Session, { challenge: Uint8Array | null; peerId: number | null }>();
  private readonly refusedBy = new Set<number>();
  private readonly configPeers: Map<number, BrokerInfo>;
  private readonly sessions = new Set<Session>();
  /** The connection under each session, to lift a proven peer out of the client limits. */
  private readonly connectionOf = new WeakMap<Session, Connection>();
  private readonly prng: Prng;
  private stopMaintenance: (() => void) | null = null;
  private readonly stoppedReplicas: StoppedReplicas;
  private readonly commands: OwnCommands;
  private host!: PartitionHost;
  private stopBalance: (() => void) | null = null;
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
  private founding!: FoundingCheck;

  /** Settles when this broker must not go on: a founder whose founding differs from the cluster's (see founding.ts). */
  get refused(): Promise<SkeinError> {
    return this.founding.refused;
  }
  private lock!: DirLock;
  private readonly context: ServerContext;
  private readonly groups: GroupService;

  private constructor(readonly config: BrokerConfig) {
    this.configPeers = new Map(config.peers.map((p) => [p.id, p]));
    this.commands = new OwnCommands({ brokerId: config.id, run: (operation, signal) => this.service.run(operation, signal), lifetime: this.lifetime.signal, counters: this.counters });
    this.stoppedReplicas = new StoppedReplicas({
      brokerId: config.id,
      dataDir: config.dataDir,
      counters: this.counters,
      // In line with reconciling: both open and close replicas.
      exclusive: (task) => this.host.exclusive(task),
      fatal: (what, error) => this.fatal(what, error),
    });
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
      this.identity = this.openIdentity();
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
        receivePaceBytes: config.clientPaceBytes,
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
        ...(this.identity.founding === undefined ? {} : { founding: this.identity.founding }),
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
        onFatal: (error) => this.stoppedReplicas.stopped('meta', 'metadata', error, () => this.controller.reopen()),
      });
      this.service = new ControllerService({ controller: this.controller, peers: this.peers, topicDefaults: config.topicDefaults, aliveBrokers: () => this.aliveBrokers() });
      await this.hostPartitions(timing);
      this.endpoint.onConnection((connection) => this.serve(connection));
      this.startTimers();
      this.startDuties(notice);
      // A joiner that joined before (it knows the founders) registers as any restarted broker does.
      this.registered = config.join !== null && this.identity.founders === undefined ? Promise.resolve() : this.register(notice);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * The data directory's identity; a new one of a founding broker records its founding (founding.ts),
   * which is this broker's for good: later flags that say otherwise are said and ignored, as the metadata
   * group ignores them once founded.
   */
  private openIdentity(): StorageIdentity {
    const { config } = this;
    const flags = config.join === null ? foundingText(config.peers, config.controllerVoters) : undefined;
    const identity = openStorageIdentity(config.dataDir, config.id, config.clusterId, flags);
    if (flags !== undefined && identity.founding !== undefined && identity.founding !== flags) {
      process.stderr.write(`skein broker ${config.id}: ${foundingFlags} now say "${flags}"; this broker was founded as "${identity.founding}" and stays so\n`);
    }
    this.founding = new FoundingCheck({
      selfId: config.id,
      own: identity.founding,
      registered: () => this.controller?.state.lifecycle(config.id)?.storageId === identity.storageId,
      onNotice: (message) => void process.stderr.write(`skein broker ${config.id}: ${message}\n`),
    });
    return identity;
  }

  /** Opens the partition replicas found on disk, then follows the metadata (see PartitionHost). */
  private async hostPartitions(timing: RaftTiming): Promise<void> {
    const { config } = this;
    this.host = new PartitionHost({
      brokerId: config.id,
      dataDir: config.dataDir,
      timing,
      leaderBalance: config.leaderBalance,
      controller: this.controller,
      mux: this.mux,
      prng: this.prng,
      throttle: this.throttle,
      groups: this.groups,
      balancer: this.balancer,
      commands: this.commands,
      stoppedReplicas: this.stoppedReplicas,
      counters: this.counters,
      fatal: (what, error) => this.fatal(what, error),
    });
    await this.host.start();
  }

  /** Snapshots and retention, and (with --leader-balance) handing leaderships back to preferred replicas, on their schedules. */
  private startTimers(): void {
    this.stopMaintenance = systemClock.every(brokerLimits.maintenanceEveryMs, () => void this.maintain(), { keepAlive: false });
    if (this.config.leaderBalance) {
      // A moving partition's leadership is the move's to place (it hands it to a staying replica first).
      const settled = (): Partition[] => [...this.host.replicas()].filter((p) => this.controller.state.topicById(p.topicId)?.partitions[p.partition]?.move === undefined);
      this.stopBalance = systemClock.every(brokerLimits.leaderBalanceEveryMs, () => this.balancer.pass(settled(), systemClock.nowMs()), { keepAlive: false });
    }
  }

  /**
   * What the broker does for the cluster beside serving: the controller's duties (moves, activating joined
   * brokers, rebalancing on join with --auto-rebalance on-join), this broker's part in the moves of its
   * partitions, and learning that the cluster decommissioned it (departure.ts).
   */
  private startDuties(notice: (message: string) => void): void {
    const { config } = this;
    const run = (operation: ControllerOperation, signal: AbortSignal): Promise<unknown> => this.service.run(operation, signal);
    const rebalanceOnJoin = config.autoRebalance === 'on-join' ? () => run({ op: 'rebalance', dryRun: false }, this.lifetime.signal) : null;
    this.duties = new ControllerDuties({ controller: this.controller, movesInFlight: config.movesInFlight, rebalanceOnJoin, aliveBrokers: () => this.aliveBrokers(), onNotice: notice });
    this.mover = new Mover({ brokerId: config.id, controller: this.controller, partitions: () => this.host.replicas(), run, signal: this.lifetime.signal });
    this.departure = new Departure({
      brokerId: config.id,
      state: () => this.controller.state,
      peers: () => [this.controller.leaderId(), ...this.controller.state.brokerList().map((b) => b.id), ...this.configPeers.keys()],
      ask: (to, signal) => this.peers.request(to, peerMethods.controller, { op: 'brokerState', brokerId: config.id }, { signal }),
      onGone: (reason) => this.leave(reason),
      linked: (id) => this.peers.linked(id),
    });
    this.controller.onChange(() => this.departure?.metadataChanged());
  }

  /**
   * Decommissioned for good (see departure.ts): every replica here is deleted (PartitionHost.depart), and
   * clients are refused with BROKER_REMOVED from now on.
   */
  private leave(reason: string): void {
    process.stderr.write(`skein broker ${this.config.id}: decommissioned (${reason}); its replicas are deleted and it serves no client: it can be stopped\n`);
    this.host.depart().catch((error: unknown) => this.fatal('deleting the replicas of a decommissioned broker', error));
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
    session = { pushes: new PushSubscriptions(rpc, (topic, partition) => leadingReplica(this.context, topic, partition), this.counters), clientAddress: connection.remote.host };
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
      this.receiveRaft(body, this.peerOf(origin), origin);
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

  private receiveRaft(body: unknown, peer: number | null | undefined, origin: Origin): void {
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
    const founding = r.has('founding') ? r.string('founding', { bytesMax: clusterLimits.foundingTextBytesMax }) : undefined;
    if (!this.founding.accepts(from, founding)) {
      this.counters.raftForeignFounding++;
      return;
    }
    const messages = r.list('messages', { lengthMax: brokerLimits.peerRaftQueueMax }, (wire) => wire)!;
    // Where its link comes from: proven to be broker `from` by the peer secret (or the network is trusted).
    const remote = origin === null ? undefined : this.connectionOf.get(origin)?.remote;
    this.peers.heardFrom(from, systemClock.nowMs(), incarnation, remote);
    for (const wire of messages) this.mux.receiveWire(wire, from);
  }

  /** Whether `host:port` is where a broker of this cluster is (its connections to us come from there). */
  private isBrokerAddress(host: string, port: number): boolean {
    for (const peer of this.configPeers.values()) if (peer.port === port && peer.host === host) return true;
    return this.controller?.state.brokerList().some((b) => b.port === port && b.host === host) ?? false;
  }

  // ------------------------------------------------------------------ partitions

  private partition(topic: string, partition: number): Partition | undefined {
    return this.host.replica(topic, partition);
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
    const policy = { ...ownCommandRetryPolicy, retriesMax: Infinity };
    await this.commands.retried('registering', policy, async (attemptNumber) => {
      // A retry may follow an attempt that was applied but whose answer was lost.
      const known = this.controller.state.broker(me.id);
      // Done once the metadata ties this broker id to this data directory (see storage-identity.ts).
      const storageId = this.controller.state.lifecycle(me.id)?.storageId;
      if (known !== undefined && known.host === me.host && known.port === me.port && storageId === this.identity.storageId) return;
      try {
        await this.commands.run({ type: 'registerBroker', broker: me, storageId: this.identity.storageId });
      } catch (error) {
        if (!isSkeinError(error, 'BROKER_ID_IN_USE')) throw error;
        notice(`the cluster refused this broker: ${error.message}`);
      }
    });
  }

  private aliveBrokers(): Set<number> {
    const windowMs = 3 * this.config.electionTicks * this.config.tickMs;
    return this.peers.alive(systemClock.nowMs(), windowMs);
  }

  /**
   * Snapshots and retention for every replica here, as the broker does every
   * maintenanceEveryMs; `force` snapshots whatever the count since the last.
   * A failing disk surfaces through the replica itself, so a failure here
   * is counted and waits for the next round.
   */
  async maintain(options: { force?: boolean } = {}): Promise<void> {
    const nowMs = systemClock.epochMs();
    const failed = (): void => void this.counters.maintenanceFailures++;
    await Promise.all([...[...this.host.replicas()].map((partition) => partition.maintain(nowMs, options).catch(failed)), this.controller.maintain(nowMs, options).catch(failed)]);
  }

  // ------------------------------------------------------------------ storage failures

  /** What describeCluster shows of this broker's storage: the replicas stopped by it. */
  storageStatus(): StoppedReplica[] {
    return this.stoppedReplicas.status();
  }

  private fatal(what: string, error: unknown): void {
    process.stderr.write(`skein broker ${this.config.id}: ${what} stopped: ${(error as Error)?.stack ?? String(error)}\n`);
  }

  // ------------------------------------------------------------------ shutdown

  /**
   * Graceful stop: hands every leadership this broker holds to another
   * replica and waits until each partition it holds a replica of could go on
   * committing without it (a majority of the others caught up), bounded by
   * `transferTimeoutMs` for each handover and `catchUpTimeoutMs` in all
   * (both in election timeouts from transport/limits.ts by default; a
   * `transferTimeoutMs` of 0 stops at once), then closes everything. What was
   * acknowledged stays acknowledged either way; the wait only spares clients
   * an election, or a follower's catch-up before the next commit.
   */
  async stop(options: { transferTimeoutMs?: number; catchUpTimeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    const electionTimeoutMs = this.config.electionTicks * this.config.tickMs;
    const handoverMs = options.transferTimeoutMs ?? brokerLimits.stopHandoverElectionTimeouts * electionTimeoutMs;
    const catchUpMs = options.catchUpTimeoutMs ?? (handoverMs === 0 ? 0 : brokerLimits.stopCatchUpElectionTimeouts * electionTimeoutMs);
    // To brokers heard from lately: a handover to one that is down waits out the whole timeout for nothing.
    const alive = (): ReadonlySet<number> => this.aliveBrokers();
    const graceMs = Math.min(catchUpMs, brokerLimits.stopAliveGraceElectionTimeouts * electionTimeoutMs);
    await Promise.all([...this.host.replicas()].map((p) => p.leave({ handoverMs, catchUpMs, graceMs, alive }).catch(() => false)));
    // The controller goes last: the partitions' new leaders report to it.
    await this.controller.handOverAndWait(handoverMs, (id) => alive().has(id));
    await this.close();
  }

  private async close(): Promise<void> {
    this.stopped = true;
    this.lifetime.abort();
    this.stopMaintenance?.();
    this.stopBalance?.();
    this.stoppedReplicas.close();
    this.duties?.close();
    this.mover?.close();
    this.departure?.close();
    this.groups.close();
    for (const session of this.sessions) session.pushes.closeAll();
    await this.host?.close();
    await this.controller?.close().catch(() => {});
    await this.peers?.close().catch(() => {});
    await this.endpoint?.close().catch(() => {});
    this.lock?.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

export type { ControllerOperation };
