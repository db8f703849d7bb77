/**
 * Every bound in skein lives here: queues, buffers, retries, frames, files.
 *
 * transport/ is the lowest layer, so broker/ and sdk/ can both import this one
 * module (they may not import each other). Each section belongs to one layer;
 * the asserts at the bottom relate limits across sections, so an edit that
 * breaks a relation fails at load, not in production.
 *
 * Names end in their unit: Bytes, Ms, Count, Max, Min.
 */

// ---------------------------------------------------------------- transport
export const transportLimits = {
  /** Largest UDP payload we ever send; 1200 B is safe across the internet (RFC 9000 §14). */
  datagramBytesDefault: 1200,
  datagramBytesMin: 1200,
  /** Loopback and LAN links can carry far larger datagrams; IPv4 caps a UDP payload at 65,507 B. */
  datagramBytesMax: 65_507,
  /** Largest message a connection carries by default, and the largest any configuration may set. */
  messageBytesDefault: 16 * 1024 * 1024,
  messageBytesMax: 64 * 1024 * 1024,
  /** Messages queued for sending but not yet packetised, per connection (backpressure beyond this). */
  sendBufferBytesDefault: 32 * 1024 * 1024,
  /** Receiver flow-control credit (bytes of message data not yet delivered to the application). */
  receiveWindowBytesDefault: 32 * 1024 * 1024,
  /** Connections one endpoint serves at once; further set-ups are refused. */
  connectionsPerEndpointMax: 4096,
  /**
   * Incoming connections from one IP address (any port) by default: a host behind a NAT with many clients
   * raises it (EndpointOptions.connectionsPerAddressMax); one attacker's address cannot take the table.
   */
  connectionsPerAddressMaxDefault: 256,
  /** Incoming connections from one socket (address and port); a newer one replaces the oldest (a client opens one per server). */
  connectionsPerSourceMax: 8,
  /** Set-ups whose client has not confirmed (half-open), per address and in total; a newer one replaces the oldest. */
  pendingConnectionsPerAddressMax: 16,
  pendingConnectionsMax: 256,
  /** Slots of the connection table only priority peers (a broker's own cluster) may take (at most a quarter of the table). */
  connectionsReservedForPriority: 128,
  /** Ack ranges remembered by the receiver (and accepted in one ACK frame). */
  ackRangesMax: 64,
  /**
   * Ack ranges sent in one ACK frame: the newest ones. Older ranges were in earlier ACKs already; under steady
   * loss every frame would otherwise carry all 64, and encoding and decoding them costs more than it saves.
   */
  ackRangesPerFrameMax: 16,
  /** Packets the sender tracks as in flight, whatever the congestion window says. */
  packetsInFlightMax: 65_536,
  /** With the idle timeout disabled (0), probe timeouts in a row before a peer is declared dead. */
  ptoBackoffMax: 10,
  /**
   * Upper bound of one probe timeout. Backoff stops here so a path that heals after a partition is probed
   * again within a second (a probe is one or two small packets), instead of after a long exponential sleep
   * that, on a lossy link, leaves too few attempts before the idle timeout declares the peer dead.
   */
  ptoMaxMs: 1_000,
  initialRttMs: 333,
  idleTimeoutMsDefault: 30_000,
  keepaliveMsDefault: 5_000,
  /** Off by default in the transport (see EndpointCoreOptions.deadPeerTimeoutMs); the SDK turns it on. */
  deadPeerTimeoutMsDefault: 0,
  handshakeTimeoutMsDefault: 10_000,
  /** A client resends INIT after this long, doubling up to the maximum (the RTT is still unknown then). */
  handshakeRetryMsInitial: 250,
  handshakeRetryMsMax: 2_000,
  /** How long a set-up cookie stays valid, and how often cookie keys rotate. */
  cookieLifetimeMs: 30_000,
  /** Kernel socket buffers requested (SO_RCVBUF/SO_SNDBUF); the kernel may grant less. */
  socketBufferBytes: 8 * 1024 * 1024,
  /** How long a graceful close waits for queued data to be acknowledged before closing anyway. */
  closeTimeoutMsDefault: 10_000,
  /** Longest we hold an ACK for an ack-eliciting packet (the max_ack_delay we promise the peer). */
  ackDelayMaxMs: 5,
  /** Ack-eliciting packets received before an ACK goes out without waiting (RFC 9000 §13.2.2). */
  ackElicitingPacketsBeforeAck: 2,
  /** A receiver that only sends ACKs adds a PING every this many, so it learns which ACKs arrived and can forget old ranges. */
  ackOnlyPacketsBeforePing: 16,
  /** RFC 9002 constants: reordering tolerated in packets, timer granularity, persistent-congestion periods. */
  lossPacketThreshold: 3,
  timerGranularityMs: 1,
  persistentCongestionThreshold: 3,
  /**
   * Where a connection sees reordering (packets declared lost, then acknowledged), its thresholds grow up to
   * these: packets overtaken, and the margin over the RTT after which an overtaken packet counts as lost
   * (RFC 9002's 1/8 at first; at most one more RTT, as Google QUIC's: a wider margin tolerates wilder jitter
   * but holds the repair of every real loss as long, and on a lossy path the latency of every message with it).
   */
  lossPacketThresholdMax: 1024,
  lossReorderFractionMin: 1 / 8,
  lossReorderFractionMax: 1,
  /** Packets declared lost that a connection remembers, to see in a later ACK that they were reordered instead. */
  lossRememberedPacketsMax: 256,
  /** NewReno windows in datagrams (RFC 9002 §7.2). */
  initialWindowPackets: 10,
  minimumWindowPackets: 2,
  /** Window of the 'fixed' congestion mode when none is given; below the receive window so it is the one that binds. */
  fixedWindowBytesDefault: 2 * 1024 * 1024,
  /**
   * ...and at most this many datagrams: a Node receiver's cost is per packet, and a window of more packets than
   * it handles in a few milliseconds only queues them in its socket buffer, where every resend waits behind the
   * queue while the data after a hole is held. Large datagrams still want the byte window (bench:transport; the
   * figures are in the README's benchmarks).
   */
  fixedWindowPacketsDefault: 800,
  /** Pacer bucket: this many ms of the pacing rate, between these many datagrams. */
  pacingBurstMs: 2,
  pacingBurstPacketsMin: 10,
  pacingBurstPacketsMax: 256,
  /** Small messages are copied into send chunks of this size; larger ones get a chunk of their own. */
  sendChunkBytes: 64 * 1024,
  /** Released send chunks a connection keeps for reuse (a bulk sender frees one per message it writes). */
  sendSpareChunksMax: 4,
  /** send() calls waiting for room in a full send buffer; beyond this they fail with BACKPRESSURE. */
  sendWaitersMax: 1024,
  /** Out-of-order or not-yet-parsed stream pieces a receiver holds per connection; beyond, packets are dropped unacknowledged. */
  receiveFragmentsMax: 65_536,
  /**
   * A message up to this size is assembled in a buffer allocated when its length arrives; a larger one is
   * kept as the pieces that carried it until it is complete, so a length prefix alone allocates nothing.
   */
  reassemblyPreallocateBytesMax: 64 * 1024,
  /**
   * What clients' connections may hold together in reassembly (data received and not yet a whole message
   * the application took), by default. Each may always hold reassemblyBytesGuaranteed; beyond, it needs
   * room in the budget, and one that completes nothing for reassemblyStuckMsMin while others wait is closed.
   * At most reassemblyBytesMax plus every connection's guarantee is ever held.
   */
  reassemblyBytesMaxDefault: 256 * 1024 * 1024,
  reassemblyBytesGuaranteed: 64 * 1024,
  reassemblyStuckMsMin: 5_000,
  /**
   * Stream bytes a client's connection may send a server beyond what the server has taken in, by default
   * (credit that moves as data arrives, within the receive window). A sender's congestion window grows
   * until datagrams are lost, and on a server the loss is its socket buffer overflowing: bulk senders kept
   * it full, and every other client's datagrams waited behind theirs or were dropped with them. Paced, what
   * waits in that buffer is this much per sending client. It also sets a client's throughput to one server
   * at this much per round trip.
   */
  receivePaceBytesDefault: 256 * 1024,
  /**
   * A paced client's credit reaches at least this many times what its path holds (the rate its data arrives
   * times the minimum round trip), so a long path is not capped at the pace per round trip. Above 1, so a
   * sender held back by credit alone can grow; what it lets wait in the server's socket buffer beyond the
   * pace is (gain - 1) times the path's minimum round trip of data, small on a LAN.
   */
  receivePacePathGain: 2,
  /**
   * Clients sending to a server at once that each get the whole pace; more share this many paces between them
   * (at least receivePaceShareBytesMin, or four datagrams, each), so what waits in the server's socket buffer
   * stays this many paces however many connections send, and a client with a small request waits behind
   * no more than that. Senders are counted over periods of receivePaceSharePeriodMs.
   */
  receivePaceSendersFull: 4,
  receivePaceShareBytesMin: 8 * 1024,
  receivePaceSharePeriodMs: 100,
  /**
   * What clients' connections may hold together for sending (unacknowledged data, messages waiting for room,
   * room reserved for responses being prepared), by default; each may always hold sendBytesGuaranteed.
   */
  sendBytesMaxDefault: 256 * 1024 * 1024,
  sendBytesGuaranteed: 64 * 1024,
  /** Room reserved for a response beyond its payload: the RPC envelope and the response's other fields. */
  rpcEnvelopeBytesMax: 1024,
  /** How often, at most, a full budget looks for the connection to close. */
  budgetReliefEveryMs: 100,
  /** Whole messages waiting for the application per connection; parsing (and so credit) pauses beyond. */
  receiveQueuedMessagesMax: 65_536,
  /** Bytes one connection may ever carry per direction (stream offsets are exact integers below 2^53). */
  streamBytesMax: Number.MAX_SAFE_INTEGER - 2 ** 32,
  /** Stateless replies (RETRY, REFUSE) waiting to be sent; more are dropped and counted. */
  statelessRepliesQueuedMax: 256,
  /** Cookies that already opened a connection, remembered for their lifetime to refuse replays. */
  usedCookiesMax: 16_384,
  /** After a close, a connection lingers at least this many probe timeouts to absorb late packets (RFC 9000 §10.2). */
  closingPtoCount: 3,
  /** A closing side resends CLOSE with backoff up to this interval; a draining side lingers at least this long. */
  closeRetryMsMax: 1_000,
  drainingLingerMsMin: 2_000,
  /** Datagrams held back by the loss model's delays in the shell, in bytes; beyond, they are dropped and counted. */
  lossHeldBytesMax: 64 * 1024 * 1024,
  /**
   * A deadline this far overdue means the event loop was blocked (a timer fires within a millisecond or two
   * of its time otherwise): the endpoint stops counting peers' silence until it has read what waited.
   */
  loopStallMsMin: 100,
  /**
   * libuv reads at most this many datagrams from a socket per turn of the event loop; a turn that reads fewer
   * found the socket empty, so everything that waited in it has been read.
   */
  socketReadsPerTurnMax: 32,
  /** After a stall, silence counts again at the latest this long after the loop runs again, even under a flood that never lets the socket empty. */
  stallCatchUpMsMax: 1_000,
  /** Datagrams queued inside the socket (libuv) before the shell stops asking the core for more. */
  socketSendQueueMax: 256,
  /** Bounded queue of the bandwidth-cap loss model; the default is used when a rate is set without a queue. */
  lossQueueBytesMax: 4 * 1024 * 1024,
  lossQueueBytesDefault: 256 * 1024,
  /** Largest delay, jitter or reorder hold-back a loss spec may ask for, so held copies stay bounded in time. */
  lossDelayMsMax: 60_000,
  /** Extra delay of a reordered datagram when the spec gives none: later datagrams overtake it. */
  lossReorderDelayMsDefault: 10,
  /** Blackholed peers one loss model remembers. */
  lossBlackholesMax: 1024,
  /** Length of a loss spec text (SKEIN_LOSS, --loss) and of one peer address in it. */
  lossSpecCharsMax: 4096,
  lossPeerCharsMax: 256,
  /** Bandwidth cap bounds (bits per second). */
  lossRateBitsPerSecondMin: 1000,
  lossRateBitsPerSecondMax: 1e12,
  /** Longest wait a failure's retryAfterMs (THROTTLED) imposes on a retry; a longer one is clamped to it. */
  retryAfterMsMax: 30_000,
  /** Requests awaiting a response per RPC channel. */
  rpcPendingMax: 65_536,
  rpcTimeoutMsDefault: 30_000,
  /** Longest deadline a request may carry; a peer asking for more is clamped to it. */
  rpcTimeoutMsMax: 3_600_000,
  /** Requests from the peer being handled at once per RPC channel (BACKPRESSURE beyond this). */
  rpcHandlingMax: 65_536,
  /** Length of a method name in bytes. */
  rpcMethodBytesMax: 256,
  /** Nesting of arrays and maps inside one RPC frame, so a hostile frame cannot exhaust the decoder's stack. */
  rpcFrameDepthMax: 64,
  /**
   * What decoding one CBOR value (an RPC frame, a Raft entry, a record value) may allocate, estimated before
   * it is decoded: at most this many times its length, plus the slack. Plain data stays well below (a byte
   * string or a string costs about its length; a small integer, the eight bytes of its slot); one-byte empty
   * byte strings or maps by the million cost 60-110 bytes each, and are refused.
   */
  rpcFrameDecodedBytesPerByteMax: 8,
  rpcFrameDecodedBytesSlack: 64 * 1024,
} as const;

// ---------------------------------------------------------------- records
export const recordLimits = {
  /** One encoded record batch (header + records) as produced and stored. */
  batchBytesMax: 8 * 1024 * 1024,
  /** Records in one batch. */
  batchRecordsMax: 1_000_000,
  /** One record's key, value and headers together. */
  recordBytesMax: 4 * 1024 * 1024,
  headersPerRecordMax: 256,
  /** One header key, as UTF-8. */
  headerKeyBytesMax: 1024,
} as const;

// ---------------------------------------------------------------- broker/log
export const logLimits = {
  segmentBytesDefault: 256 * 1024 * 1024,
  segmentBytesMin: 64 * 1024,
  segmentBytesMax: 2 * 1024 * 1024 * 1024 - 1,
  /** Roll the active segment once it is this old, so age retention can delete quiet partitions' data. */
  segmentMsMin: 1000,
  /**
   * One sparse index entry per this many bytes of log (default). Index memory per
   * loaded segment is then at most 32 B * (segmentBytes / interval + 1); 0 indexes
   * every batch (tests), bounded by segmentBytes / batch header bytes.
   */
  indexIntervalBytes: 4096,
  indexIntervalBytesMax: 1024 * 1024,
  /**
   * Segment files held open at once per partition, and segments whose sparse
   * index is in memory (older ones are opened and loaded on demand, LRU).
   */
  openSegmentsMax: 8,
  /** A single read returns at most this many bytes. */
  readBytesMax: 16 * 1024 * 1024,
  /** Newest batches kept in memory so Raft and tailing consumers read them without a syscall. */
  tailCacheBytesDefault: 4 * 1024 * 1024,
  tailCacheBytesMax: 256 * 1024 * 1024,
  /** Read size while recovery validates a segment batch by batch. */
  scanChunkBytes: 1024 * 1024,
  /** Bounds of the flush policy: fsync every N records, every T ms. */
  flushRecordsMax: 1_000_000_000,
  flushIntervalMsMax: 3_600_000,
} as const;

// ---------------------------------------------------------------- broker/raft
export const raftLimits = {
  /** Append messages sent to one follower and not yet answered (pipelining depth). */
  inflightAppendsMax: 64,
  /** Bytes of entries in flight to one follower, whatever the count. */
  inflightBytesMax: 16 * 1024 * 1024,
  /** Bytes of entries in one append message (one larger entry still goes alone). */
  appendBytesMax: 1024 * 1024,
  /** Proposals appended by the leader and not yet committed; more are refused with BACKPRESSURE. */
  proposalQueueMax: 10_000,
  /** One entry's data: a record batch, a metadata command, a config change. */
  entryBytesMax: 8 * 1024 * 1024,
  /** Committed entries handed to the state machine in one Ready (one larger entry still goes alone). */
  applyBytesPerReadyMax: 16 * 1024 * 1024,
  /** Entries one append message may carry, as checked by the decoder. */
  entriesPerAppendMax: 65_536,
  /** Linearizable reads a leader holds while confirming its leadership. */
  readsPendingMax: 10_000,
  /** A read request's id (a local reader's, or one a follower forwards). */
  readRequestIdBytesMax: 128,
  /** Replica ids are positive 32-bit integers. */
  nodeIdMax: 0xffff_ffff,
  /** Members (voters and learners) of one group's configuration. */
  configMembersMax: 64,
  /** One encoded membership change. */
  confEntryBytesMax: 16 * 1024,
  /** A group id on the wire (a partition's "topic/partition", or the metadata group's name). */
  groupIdBytesMax: 512,
  /** One snapshot, sent whole in one message. */
  snapshotBytesMax: 15 * 1024 * 1024,
  /** Election timeout: a follower waits a random [electionTicks, 2 * electionTicks) ticks without a leader. */
  electionTicksDefault: 10,
  electionTicksMin: 3,
  electionTicksMax: 1000,
  heartbeatTicksDefault: 2,
  /** One tick of the driver's timer: with the defaults, elections after 0.5-1 s, heartbeats every 100 ms. */
  tickMsDefault: 50,
  tickMsMin: 1,
  tickMsMax: 10_000,
  /** How long a proposal or read may wait for its commit before it fails with TIMEOUT. */
  proposalTimeoutMsDefault: 30_000,
  /** Proposals and reads one driver tracks while they wait for commit. */
  waitersMax: 100_000,
  /** The hard-state file (term, vote, commit); anything larger is not ours. */
  hardStateBytesMax: 4096,
} as const;

// ---------------------------------------------------------------- broker
export const brokerLimits = {
  /**
   * A broker's connections (peer links and clients) with something unanswered and nothing heard for this long
   * are dead. A restarted broker no longer knows the connections others had to it, and without this the
   * links they dialled stayed silent until the idle timeout: a SIGKILLed and restarted broker got its
   * preferred leaderships back only then, its partitions unreplicated to it till then.
   */
  deadPeerTimeoutMs: 5_000,
  /**
   * A client connection with no request, response or push either way for this long (and no push subscription)
   * is closed, between one and two of these after its last frame: transport PINGs alone keep nothing open.
   * Kafka's connections.max.idle.ms; the SDK redials on its next request.
   */
  clientIdleMs: 600_000,
  /** A broker's own metadata commands (registering itself, reporting a leadership) wait this long before retrying. */
  controllerCommandTimeoutMs: 5_000,
  /**
   * A partition leadership is reported to the controller again this many times after a failure (an election
   * of the controller, a lost answer) before it is given up, counted and said: the next leadership change
   * reports afresh. Registering the broker is retried for as long as it runs, since nothing else would.
   */
  controllerCommandRetriesMax: 50,
  /** Backoff between those retries: exponential from min to max (without jitter, see Broker.commandRetried). */
  controllerCommandBackoffMsMin: 100,
  controllerCommandBackoffMsMax: 2_000,
  /** Broker ids are 1..brokerIdMax (two bytes, as ports are). */
  brokerIdMax: 65_535,
  topicNameBytesMax: 249,
  /** Partitions one createTopic asks for. */
  partitionsPerTopicMax: 1024,
  /**
   * Topics and partitions in a cluster, and partition replicas one broker hosts. Each replica is a Raft
   * group with its own files, timers and fsyncs, opened one at a time, so creating (or restarting with)
   * thousands is a long wait (bench:partition-churn). createTopic beyond them: LIMIT_EXCEEDED.
   */
  topicsMax: 10_000,
  partitionsMax: 50_000,
  partitionReplicasPerBrokerMax: 4_000,
  replicationFactorMax: 7,
  fetchWaitMsMax: 30_000,
  fetchBytesMax: 8 * 1024 * 1024,
  fetchRecordsMax: 100_000,
  /**
   * Smallest --client-buffer-bytes: one largest record batch and its envelope fit each budget, so a push (or
   * produce) of it finds room once others' data is taken; a push waits for room for its whole next batch.
   */
  clientBufferBytesMin: 9 * 1024 * 1024,
  /** Push subscriptions per connection, and un-credited bytes per subscription. */
  subscriptionsPerConnectionMax: 1024,
  pushCreditBytesMax: 64 * 1024 * 1024,
  pushCreditRecordsMax: 1_000_000,
  /** Bytes in one push message; a subscription with more credit gets several. */
  pushBytesMax: 1024 * 1024,
  /**
   * A replica snapshots once this many entries were applied since its last one: a restart then
   * scans at most this many entry headers for membership, and the metadata log is compacted.
   */
  snapshotEveryEntries: 10_000,
  /** Entries the metadata group keeps behind its snapshot, so a briefly absent follower catches up from the log. */
  metadataEntriesKeptMax: 1_000,
  /** How often a broker runs snapshots and retention. */
  maintenanceEveryMs: 30_000,
  /** How often a broker looks for leaderships to hand back to their preferred replicas. */
  leaderBalanceEveryMs: 1_000,
  /** Longest host or cluster id the metadata holds (config refuses longer ones up front; the snapshot reader too). */
  metadataStringBytesMax: 255,
  /** A peer secret is at least this long (bytes of UTF-8), so it cannot be guessed. */
  peerSecretBytesMin: 16,
  peerSecretBytesMax: 1024,
  /** A peer link that failed to dial is dialled again after this long, doubling with each failure up to the max. */
  peerRedialBackoffMsMin: 50,
  peerRedialBackoffMsMax: 2_000,
  /** A peer heard from again after this long a silence ends it: a dial sent into the silence starts over (see PeerLinks.heardFrom). */
  peerSilenceEndsDialMs: 1_000,
  /** Each step of a peer link's proof (challenge, then hello) is answered within this, or the dial fails and is retried. */
  peerAuthTimeoutMs: 5_000,
  /** A graceful stop waits this many election timeouts at most for each leadership it hands over. */
  stopHandoverElectionTimeouts: 2,
  /**
   * A graceful stop waits this many election timeouts at most (from its start, handovers included) until
   * every partition it holds a replica of could go on committing without it: a majority of the other
   * replicas keeping up, so none has to catch up first (a follower restarted far behind, say).
   */
  stopCatchUpElectionTimeouts: 10,
  /**
   * ...but after this many it waits no more for a partition without a majority of its other replicas alive
   * (they stopped before it, say); until then a replica restarting may not have been heard from yet.
   */
  stopAliveGraceElectionTimeouts: 4,
  /**
   * A leadership stands this many election timeouts before it is handed back: longer than a graceful
   * stop can take (the partitions' handovers and catch-up, then the controller's handover), so a broker
   * that is stopping is never handed back what it just gave away.
   */
  leaderBalanceHoldElectionTimeouts: 14,
  /**
   * A new partition's preferred replica campaigns after this many ticks, and once more at twice that if
   * nobody was elected: the other replicas learn of the partition from the metadata up to a heartbeat
   * later, and a vote request sent before they host it is lost.
   */
  preferredCampaignTicks: 2,
  /** Raft messages queued for one peer broker within one event-loop turn (dropped beyond: Raft resends). */
  peerRaftQueueMax: 4096,
  peerRaftQueueBytesMax: 64 * 1024 * 1024,
  /** Raft messages to one peer are coalesced into transport messages of about this size. */
  peerRaftMessageBytesMax: 4 * 1024 * 1024,
  /**
   * A broker dials each peer this many times: one connection for control traffic, one for bulk replication
   * (see broker/cluster/peer-lanes.ts), so a heartbeat never waits behind a megabyte of catch-up.
   */
  peerConnectionsPerBroker: 2,
  /**
   * An append up to this many bytes (entries and envelope, estimated) travels with the control traffic; a
   * larger one, and a snapshot, on the bulk connection. Small enough that a heartbeat queued behind such an
   * append waits for a handful of datagrams, not hundreds.
   */
  peerControlAppendBytesMax: 16 * 1024,
  /** A replica stopped by a full or failing disk is retried this often: the disk probed, then the replica reopened. */
  storageRetryMs: 1_000,
  /** Bytes a probe must be able to write (and sync) before a stopped replica is reopened: room for the appends that follow. */
  storageProbeBytes: 1024 * 1024,
  /**
   * Idempotent producers a partition admits. Beyond, the least recently written is forgotten only if it has
   * written nothing there for producerStateExpiryMs; otherwise a new producer's first batch is refused with
   * TOO_MANY_PRODUCERS (retriable), so no flood of producers can make a partition forget an active one.
   */
  producerStatesPerPartitionMax: 10_000,
  /**
   * A producer's state in a partition is kept at least this long after its last batch there (Kafka's
   * producer.id.expiration.ms); past it, and only when the partition needs the room, it may be forgotten.
   */
  producerStateExpiryMs: 3_600_000,
  /**
   * A replica may hold this many producers beyond the limit: new producers a deposed leader admitted whose
   * batches commit under its successor (at most its uncommitted proposals). Past it the least recently
   * written goes, whatever its age.
   */
  producerStatesOverflowMax: 10_000,
  /** Producer ids a broker takes from the controller at once (one metadata command); it asks for the next block before this one runs out. */
  producerIdBlockSize: 1_000,
  /**
   * Producer ids one connection, and one address, may be issued at once; each budget regains one id every
   * producerIdRefillMs. Beyond: THROTTLED (retriable) with the wait. An SDK producer takes one id, and one
   * more when a partition forgot it; so one address cannot fill a partition's producer table within the expiry.
   */
  producerIdsPerConnectionBurst: 64,
  producerIdsPerAddressBurst: 256,
  producerIdRefillMs: 1_000,
  /** Addresses whose producer-id budget is partly spent, remembered; beyond, full budgets are forgotten first, then the oldest. */
  producerIdAddressesTrackedMax: 4_096,
  /** Producer proofs a broker has verified, kept so a producer's next batches skip the HMAC (the least recent is dropped beyond). */
  producerProofsVerifiedMax: 10_000,
  /** Recent batches remembered per producer to answer retries as duplicates; at least the producer's in-flight bound. */
  producerBatchesRemembered: 16,
} as const;

// ---------------------------------------------------------------- broker/groups
export const groupLimits = {
  /** A consumer group's name, in bytes of UTF-8. */
  groupNameBytesMax: 255,
  /** A member id, chosen afresh by the client at every join (a random 128-bit id in base64url is 22 characters). */
  memberIdBytesMax: 64,
  /** A static member's instance id, and the host a member connects from as the coordinator saw it. */
  instanceIdBytesMax: 255,
  clientHostBytesMax: 255,
  /** Members of one group, static members that are away included. */
  membersPerGroupMax: 1024,
  /** Topics one group knows: subscribed by any member, or holding committed offsets. */
  topicsPerGroupMax: 64,
  /** Partitions over all of a group's topics: bounds its target assignment, ownership, holds and committed offsets. */
  partitionsPerGroupMax: 8192,
  /** Groups one coordinator (one partition of the internal groups topic) holds. */
  groupsPerCoordinatorMax: 4096,
  /**
   * Estimated snapshot bytes of one coordinator's groups. A snapshot travels whole in one Raft message, so a
   * join, subscription or reset that would grow the state past this is refused (GROUP_FULL) instead.
   */
  coordinatorStateBytesMax: 12 * 1024 * 1024,
  /** Members replaced by a newer member with their instance id, remembered per group so the old one learns it is fenced. */
  replacedMembersMax: 1024,
  /** Liveness: a member unheard for its session timeout is expired; it heartbeats every heartbeat interval. */
  sessionTimeoutMsMin: 1_000,
  sessionTimeoutMsMax: 300_000,
  sessionTimeoutMsDefault: 10_000,
  heartbeatIntervalMsDefault: 1_000,
  /** How long a member may take to release revoked partitions (drain, commit) before it is fenced. */
  rebalanceTimeoutMsMin: 1_000,
  rebalanceTimeoutMsMax: 30 * 60_000,
  rebalanceTimeoutMsDefault: 60_000,
  /** An empty group's committed offsets are kept this long after its last member left (Kafka's offsets.retention.minutes). */
  emptyGroupRetentionMs: 7 * 86_400_000,
  /** Partitions of the internal topic that spreads groups over coordinators, fixed when it is created. */
  coordinatorPartitionsDefault: 16,
  coordinatorPartitionsMax: 256,
  /** How often a coordinator looks for members to expire and for topics of its groups that changed. */
  livenessTickMs: 100,
  /** An expiry (or topic change) proposed and not applied is proposed again after this long. */
  expiryRetryMs: 1_000,
  /** A new coordinator gives every member this many maximum election timeouts on top of a session: its predecessor may have answered heartbeats until it saw it was deposed. */
  failoverGraceElectionTimeouts: 2,
  /** Applied results a coordinator keeps for proposals still being answered (a deposed leader's are never collected). */
  resultsPendingMax: 10_000,
  /** Entries of a coordinator's log kept behind its snapshot, for followers slightly behind (its state is the snapshot). */
  entriesKeptMax: 1_000,
  /** End offsets a coordinator remembers to check that commits do not pass the end of a partition. */
  endOffsetsCachedMax: 65_536,
  /** SDK: a member commits what its application finished this often (and on revocation, close and commit()). */
  autoCommitIntervalMsDefault: 1_000,
  autoCommitIntervalMsMin: 10,
  autoCommitIntervalMsMax: 600_000,
  /** SDK: while partitions meant for a member are still held by others, it asks again this often. */
  pendingHeartbeatMs: 100,
  /** SDK: attempts of a push handler on one record before it is dead-lettered or skipped; backoff between them. */
  handlerAttemptsDefault: 5,
  handlerAttemptsMax: 100,
  handlerBackoffMsMin: 100,
  handlerBackoffMsMax: 10_000,
  /** SDK: handlers a push group subscription runs at once on one partition (`inFlightMax`; default one, in offset order). */
  handlerInFlightMax: 1_000,
  /** SDK: the error message a dead-lettered record carries in its headers. */
  deadLetterErrorBytesMax: 1024,
  /** Admin: a member is stalled on a partition it holds with records to read when its finished offset has not moved for this long. */
  stalledAfterMsDefault: 10_000,
} as const;

// ---------------------------------------------------------------- broker/cluster: membership and moves
export const clusterLimits = {
  /**
   * Brokers in one cluster: every broker follows the metadata group, as a voter or a learner, and one
   * Raft configuration holds at most raftLimits.configMembersMax members.
   */
  brokersMax: 64,
  /** Voters of the metadata group: 3 tolerate one failure, 5 two; up to 7 while a voter is being replaced. */
  controllerVotersDefault: 3,
  controllerVotersMax: 7,
  /**
   * A founding configuration as founders send it with their Raft traffic ("voters 1,2,3; learners 4",
   * broker/cluster/founding.ts): every founder's id (five digits at most) and a separator, and the words.
   */
  foundingTextBytesMax: 512,
  /** Partition moves catching up or committing at once across the cluster; more wait, queued, in the metadata. */
  movesInFlightDefault: 8,
  movesInFlightMax: 1024,
  /** Moves the metadata holds, queued or in flight; one request, rebalance or decommission plans at most this many. */
  movesPendingMax: 65_536,
  /** Finished moves whose outcome the metadata remembers, so a command waiting on one learns it after a reconnect. */
  moveOutcomesKeptMax: 1024,
  /** Catch-up replication to learners, counted per broker as leader (bytes per second): default and bounds. */
  catchUpBytesPerSecondDefault: 16 * 1024 * 1024,
  catchUpBytesPerSecondMin: 64 * 1024,
  catchUpBytesPerSecondMax: 4 * 1024 * 1024 * 1024,
  /** The catch-up throttle's bucket holds this long's worth of its rate (and never less than one full append). */
  catchUpBurstMs: 100,
  /**
   * A learner is caught up while it is at most this many entries and bytes behind the leader's last entry
   * (about one pipelining window, so a steady writer does not keep it "behind" forever), was heard from
   * within caughtUpHeardWithinMs, and has been so for caughtUpStableMs: only then does it become a voter,
   * since a voter far behind would hold up every commit that needs it.
   */
  caughtUpEntriesBehindMax: 64,
  caughtUpBytesBehindMax: 4 * 1024 * 1024,
  caughtUpHeardWithinMs: 1_000,
  caughtUpStableMs: 1_000,
  /** A leader leaving the replica set hands leadership to a staying replica first; past this it commits the change itself and steps down. */
  moveLeaderTransferTimeoutMs: 3_000,
  /** How often a partition leader steps the moves of the partitions it leads, and reports their progress to the controller. */
  moveStepEveryMs: 250,
  moveProgressEveryMs: 1_000,
  /** How long describeCluster waits for the controller's view of who is alive before it answers with its own. */
  livenessTimeoutMs: 500,
  /** How often admin.watchMoves may ask, at most and at least (its everyMs option). */
  moveWatchEveryMsMin: 10,
  moveWatchEveryMsMax: 60_000,
  /** Under-replicated partitions describeCluster lists (their count is always exact). */
  underReplicatedListedMax: 1_000,
  /**
   * How often a broker asks a peer whether the cluster decommissioned it for good (see departure.ts):
   * often while its own metadata says it is being decommissioned (the metadata group drops it the moment
   * it is gone, so its own copy may never say so), seldom otherwise (it may have been cut off throughout).
   */
  departureCheckEveryMs: 1_000,
  departureCheckIdleEveryMs: 30_000,
} as const;

// ---------------------------------------------------------------- sdk
export const sdkLimits = {
  producerBufferBytesDefault: 64 * 1024 * 1024,
  /** Largest producer buffer an application may ask for (it is memory held by the process). */
  producerBufferBytesMax: 4 * 1024 * 1024 * 1024,
  producerInFlightMax: 16,
  /** Kafka's idempotent default: enough pipelining to hide an RTT, few enough to resend quickly. */
  producerInFlightDefault: 5,
  lingerMsMax: 60_000,
  lingerMsDefault: 5,
  /** A producer batch closes at this many encoded bytes (it never exceeds recordLimits.batchBytesMax). */
  producerBatchBytesDefault: 512 * 1024,
  /** Records in one `send` call (each holds a promise until acknowledged). */
  messagesPerSendMax: 100_000,
  /** Retries of one request through leader changes before the delivery deadline decides. */
  retriesMax: 64,
  /** NOT_LEADER answers whose hint is followed at once, without backoff, within one call. */
  redirectsMax: 8,
  /** Backoff between retries: exponential from min to max, randomised (jitter) x1-2. */
  retryBackoffMsMin: 25,
  retryBackoffMsMax: 1_000,
  deliveryTimeoutMsDefault: 120_000,
  deliveryTimeoutMsMax: 24 * 3_600_000,
  requestTimeoutMsDefault: 30_000,
  requestTimeoutMsMax: 3_600_000,
  connectTimeoutMsDefault: 10_000,
  /**
   * A client that has never reached any broker dials its bootstrap addresses and gives up on the
   * first contact after this long (NO_BROKERS_REACHABLE): a wrong address or a cluster that is not running
   * must not look like an election, retried in silence until the delivery deadline. Several handshake
   * retries fit in it (lossy links), and a process started with its cluster raises it (bootstrapTimeoutMs).
   */
  bootstrapTimeoutMsDefault: 3_000,
  /** The first contact dials the next bootstrap broker when one has not answered within this long (or failed). */
  bootstrapHedgeMs: 250,
  /** Bootstrap addresses the NO_BROKERS_REACHABLE message names one by one (its details name all). */
  bootstrapAddressesNamedMax: 8,
  /**
   * A broker connection with a request unanswered and nothing heard for this long is declared dead, so a
   * SIGKILLed leader's in-flight produces fail over in seconds instead of after the idle timeout, which
   * stalled every partition a killed leader had led.
   */
  brokerDeadPeerTimeoutMsDefault: 5_000,
  /**
   * Failover without waiting for that timeout. A produce unanswered this long (an acks 'all' round trip
   * takes milliseconds, a lossy one some retransmissions more) makes the producer ask the other brokers
   * whether the leader moved, and the leader whether it still hears us; then again every
   * leaderCheckEveryMs while nothing is answered. Evidence (another leader at a newer epoch, or no
   * answer to the probe) ends the wait; the idempotent resend is recognised if the batch was written.
   */
  leaderCheckAfterMs: 500,
  leaderCheckEveryMs: 250,
  leaderProbeTimeoutMs: 1_000,
  /** A metadata request unanswered this long is also sent to the next broker; the first answer wins. */
  metadataHedgeMs: 250,
  /**
   * Addresses of decommissioned brokers (they answer BROKER_REMOVED) a client stops dialling, and for how
   * long: long enough that a client does not keep asking a broker the operator has yet to stop, short
   * enough that a new broker later started at that address is found.
   */
  removedBrokersMax: 64,
  removedBrokerForgetMs: 60_000,
  metadataMaxAgeMs: 300_000,
  /** Bootstrap addresses accepted in one client's configuration. */
  bootstrapBrokersMax: 1024,
  /** The broker reads clientId with this bound (transport/protocol/messages readHello). */
  clientIdBytesMax: 256,
  /** Pull consumer: records and bytes asked for in one fetch, and its default long-poll wait. */
  fetchRecordsDefault: 1_000,
  fetchBytesDefault: 1024 * 1024,
  fetchWaitMsDefault: 500,
  /** Push consumer: the credit window granted per partition, and handler calls at once. */
  pushCreditBytesDefault: 1024 * 1024,
  pushCreditRecordsDefault: 1_000,
  /**
   * Credit a subscriber owes the broker goes back once a quarter of the window is owed, or this long
   * after the handler went idle with less owed: soon enough that credit never sits unused, rarely
   * enough that a steady trickle of pushes is not answered one credit message each.
   */
  pushCreditIdleFlushMs: 20,
  pushInFlightMax: 1_024,
  /** Status events kept for a slow reader of Subscription.status(); older ones are dropped and counted. */
  statusEventsMax: 256,
} as const;

function assert(condition: boolean, relation: string): void {
  if (!condition) throw new Error(`skein limits are inconsistent: ${relation}`);
}

assert(transportLimits.datagramBytesMin <= transportLimits.datagramBytesDefault, 'datagramBytesMin <= datagramBytesDefault');
assert(transportLimits.datagramBytesDefault <= transportLimits.datagramBytesMax, 'datagramBytesDefault <= datagramBytesMax');
assert(transportLimits.messageBytesDefault <= transportLimits.messageBytesMax, 'messageBytesDefault <= messageBytesMax');
assert(transportLimits.messageBytesDefault >= 16 * 1024 * 1024, 'messages of at least 16 MiB by default');
assert(transportLimits.sendBufferBytesDefault >= transportLimits.messageBytesDefault, 'one largest message fits the send buffer');
assert(transportLimits.receiveWindowBytesDefault >= transportLimits.messageBytesDefault, 'one largest message fits the receive window');
assert(transportLimits.ackRangesMax >= 2 && transportLimits.ackRangesMax <= 64, 'an ACK frame carries 1..64 ranges (a one-byte count)');
assert(transportLimits.ackRangesPerFrameMax >= 2 && transportLimits.ackRangesPerFrameMax <= transportLimits.ackRangesMax, 'ACK frames send at most the ranges remembered');
assert((transportLimits.packetsInFlightMax & (transportLimits.packetsInFlightMax - 1)) === 0, 'packetsInFlightMax is a power of two (ring index)');
// Truncated packet numbers decode correctly while the span of tracked packets stays under half the 32-bit space.
assert(transportLimits.packetsInFlightMax < 2 ** 31, 'packetsInFlightMax < 2^31 (packet number decoding window)');
assert(transportLimits.connectionsPerAddressMaxDefault + transportLimits.connectionsReservedForPriority <= transportLimits.connectionsPerEndpointMax, 'one address leaves room for others and for priority peers');
assert(transportLimits.connectionsPerSourceMax <= transportLimits.connectionsPerAddressMaxDefault, 'a socket holds fewer connections than its address');
assert(transportLimits.pendingConnectionsPerAddressMax <= transportLimits.pendingConnectionsMax, 'half-open per address within the total');
assert(transportLimits.pendingConnectionsMax < transportLimits.connectionsPerEndpointMax, 'half-open set-ups never fill the table');
assert(transportLimits.reassemblyBytesGuaranteed * transportLimits.connectionsPerEndpointMax <= transportLimits.reassemblyBytesMaxDefault, 'guarantees alone never exceed the default reassembly budget');
assert(transportLimits.reassemblyBytesGuaranteed >= transportLimits.reassemblyPreallocateBytesMax, 'a preallocated message fits the guarantee');
assert(transportLimits.receivePaceBytesDefault >= 4 * transportLimits.datagramBytesMax, 'paced credit moves in steps of at least one largest datagram');
assert(transportLimits.receivePaceBytesDefault <= transportLimits.socketBufferBytes / 4, 'a few paced senders fit the socket buffer');
assert(transportLimits.receivePaceSendersFull * transportLimits.receivePaceBytesDefault <= transportLimits.socketBufferBytes / 2, 'the paces of the clients that get a whole one fit half the socket buffer');
assert(transportLimits.receivePaceShareBytesMin * transportLimits.connectionsPerAddressMaxDefault <= transportLimits.socketBufferBytes / 4, 'one address\'s connections, each at the smallest share, fit a quarter of the socket buffer');
assert(transportLimits.receivePaceShareBytesMin <= transportLimits.receivePaceBytesDefault, 'a share is at most the pace');
assert(transportLimits.receivePacePathGain > 1 && transportLimits.receivePacePathGain <= 4, 'a credit-bound sender on a long path can grow, and the queue it may leave stays a few round trips of data at most');
assert(transportLimits.sendBytesGuaranteed * transportLimits.connectionsPerEndpointMax <= transportLimits.sendBytesMaxDefault, 'guarantees alone never exceed the default send budget');
assert(transportLimits.rpcEnvelopeBytesMax < transportLimits.sendBytesGuaranteed, 'a bare response fits a connection\'s guarantee');
assert(transportLimits.keepaliveMsDefault < transportLimits.idleTimeoutMsDefault, 'keepalives come before the idle timeout');
assert(transportLimits.fixedWindowBytesDefault <= transportLimits.receiveWindowBytesDefault, 'the fixed window fits the receive window');
assert(transportLimits.receiveFragmentsMax * transportLimits.datagramBytesMin >= transportLimits.receiveWindowBytesDefault, 'a window of 1200 B datagrams can be held out of order');
assert(transportLimits.lossPacketThreshold >= 3 && transportLimits.lossPacketThreshold <= transportLimits.lossPacketThresholdMax, 'the packet threshold starts at RFC 9002\'s 3 at least and grows to its max');
assert(transportLimits.lossPacketThresholdMax < transportLimits.packetsInFlightMax, 'a packet overtaken by the most packets tolerated is still tracked');
assert(transportLimits.lossReorderFractionMin > 0 && transportLimits.lossReorderFractionMin <= transportLimits.lossReorderFractionMax, 'the time threshold\'s margin grows from a positive min to its max');
assert(transportLimits.pacingBurstPacketsMin >= transportLimits.initialWindowPackets, 'the initial window leaves in one burst');
assert(transportLimits.lossQueueBytesDefault <= transportLimits.lossQueueBytesMax, 'lossQueueBytesDefault <= lossQueueBytesMax');
assert(transportLimits.lossReorderDelayMsDefault <= transportLimits.lossDelayMsMax, 'lossReorderDelayMsDefault <= lossDelayMsMax');
assert(transportLimits.rpcTimeoutMsDefault <= transportLimits.rpcTimeoutMsMax, 'rpcTimeoutMsDefault <= rpcTimeoutMsMax');
assert(transportLimits.retryAfterMsMax >= brokerLimits.producerIdRefillMs, 'a producer-id wait the broker asks for is waited in full');
assert(sdkLimits.retryBackoffMsMin > 0 && sdkLimits.retryBackoffMsMin <= sdkLimits.retryBackoffMsMax, 'SDK backoff grows from a positive min to its max');
assert(brokerLimits.peerRedialBackoffMsMin > 0 && brokerLimits.peerRedialBackoffMsMin <= brokerLimits.peerRedialBackoffMsMax, 'peer redial backoff grows from a positive min to its max');
assert(brokerLimits.peerSilenceEndsDialMs >= brokerLimits.peerRedialBackoffMsMin, 'a silence that restarts a dial outlasts the shortest redial backoff');
assert(
  brokerLimits.leaderBalanceHoldElectionTimeouts > Math.max(brokerLimits.stopHandoverElectionTimeouts, brokerLimits.stopCatchUpElectionTimeouts) + brokerLimits.stopHandoverElectionTimeouts,
  'a leadership is handed back only after the longest graceful stop (partitions, then the controller) is over',
);
assert(brokerLimits.stopCatchUpElectionTimeouts >= brokerLimits.stopHandoverElectionTimeouts, 'a graceful stop waits for catch-up at least as long as for a handover');
assert(brokerLimits.stopAliveGraceElectionTimeouts <= brokerLimits.stopCatchUpElectionTimeouts, 'the grace for replicas not heard from yet fits in the catch-up wait');
assert(brokerLimits.controllerCommandBackoffMsMin > 0 && brokerLimits.controllerCommandBackoffMsMin <= brokerLimits.controllerCommandBackoffMsMax, 'controller command backoff grows from a positive min to its max');
assert(recordLimits.recordBytesMax <= recordLimits.batchBytesMax, 'one record fits a batch');
// A produce request carries a batch plus a small envelope; a fetch response carries up to fetchBytesMax.
assert(recordLimits.batchBytesMax + 64 * 1024 <= transportLimits.messageBytesDefault, 'a batch plus its envelope fits one message');
assert(brokerLimits.fetchBytesMax + 64 * 1024 <= transportLimits.messageBytesDefault, 'a fetch response fits one message');
// A retried batch can only be recognised as a duplicate while the broker remembers it.
assert(brokerLimits.producerBatchesRemembered >= sdkLimits.producerInFlightMax, 'brokers remember every batch a producer may have in flight');
// A producer is forgotten only after this long idle: a retry within the default delivery timeout always finds its state.
assert(brokerLimits.producerStateExpiryMs >= sdkLimits.deliveryTimeoutMsDefault, 'a producer\'s retries come within its state\'s expiry');
// A deposed leader's admitted producers that commit under its successor are at most its uncommitted proposals.
assert(brokerLimits.producerStatesOverflowMax >= raftLimits.proposalQueueMax, 'a replica holds every producer a deposed leader admitted');
// One address's sustained share of producer ids over the expiry, plus its burst, leaves a partition's table room for others.
assert(
  brokerLimits.producerIdsPerAddressBurst + brokerLimits.producerStateExpiryMs / brokerLimits.producerIdRefillMs < brokerLimits.producerStatesPerPartitionMax,
  'one address cannot fill a partition\'s producer table within the expiry',
);
assert(brokerLimits.producerIdsPerConnectionBurst <= brokerLimits.producerIdsPerAddressBurst, 'a connection\'s producer-id burst within its address\'s');
assert(brokerLimits.producerIdAddressesTrackedMax >= transportLimits.connectionsPerEndpointMax, 'every connected address can be tracked');
// A catch-up append (appendBytesMax) and a snapshot leave the control connection; a heartbeat or a vote never does.
assert(brokerLimits.peerControlAppendBytesMax >= 1024 && brokerLimits.peerControlAppendBytesMax < raftLimits.appendBytesMax, 'catch-up appends take the bulk connection, control messages the control one');
assert(brokerLimits.peerControlAppendBytesMax <= brokerLimits.peerRaftMessageBytesMax, 'a control append fits one coalesced peer message');
// Every peer's connections fit the slots kept for priority peers, and one broker's socket may hold them all.
assert(transportLimits.connectionsReservedForPriority >= brokerLimits.peerConnectionsPerBroker * (clusterLimits.brokersMax - 1), 'every peer connection of the largest cluster fits the priority reservation');
assert(brokerLimits.peerConnectionsPerBroker <= transportLimits.connectionsPerSourceMax, 'a peer\'s connections from its one socket are not evicted for each other');
// One Raft append (appendBytesMax plus one entry that may exceed it) must fit one coalesced peer message.
assert(brokerLimits.peerRaftMessageBytesMax + recordLimits.batchBytesMax + 64 * 1024 <= transportLimits.messageBytesDefault, 'a coalesced Raft message fits one transport message');
assert(brokerLimits.clientBufferBytesMin >= recordLimits.batchBytesMax + transportLimits.rpcEnvelopeBytesMax + 8, 'one largest batch, its envelope and length prefix fit the smallest client budget');
assert(brokerLimits.clientBufferBytesMin >= 16 * Math.max(transportLimits.reassemblyBytesGuaranteed, transportLimits.sendBytesGuaranteed), 'the smallest client budget holds sixteen clients\' guarantees');
assert(brokerLimits.clientBufferBytesMin <= transportLimits.sendBytesMaxDefault && brokerLimits.clientBufferBytesMin <= transportLimits.reassemblyBytesMaxDefault, 'the default client budgets are above the smallest');
assert(brokerLimits.partitionsPerTopicMax <= brokerLimits.partitionReplicasPerBrokerMax, 'one topic of the largest size fits on a broker');
assert(brokerLimits.topicsMax <= brokerLimits.partitionsMax && brokerLimits.partitionReplicasPerBrokerMax <= brokerLimits.partitionsMax, 'topics and a broker\'s replicas within the cluster\'s partitions');
// The metadata snapshot holds every topic (name up to 249 B, config ~100 B) and partition (~40 B with its replicas).
assert(brokerLimits.topicsMax * 400 + brokerLimits.partitionsMax * (40 + 4 * brokerLimits.replicationFactorMax) <= raftLimits.snapshotBytesMax, 'the largest metadata fits one snapshot');
assert(logLimits.readBytesMax >= recordLimits.batchBytesMax, 'a read can always return one whole batch');
assert(logLimits.segmentBytesMax >= recordLimits.batchBytesMax, 'a batch fits a segment');
assert(logLimits.indexIntervalBytes <= logLimits.segmentBytesMin, 'a minimum-size segment holds a default index interval');
assert(logLimits.tailCacheBytesDefault <= logLimits.tailCacheBytesMax, 'tailCacheBytesDefault <= tailCacheBytesMax');
assert(logLimits.scanChunkBytes <= logLimits.readBytesMax, 'a recovery chunk is an ordinary read');
assert(logLimits.openSegmentsMax >= 2, 'the active segment plus at least one older segment can be open');
// An append carries at least one entry even past appendBytesMax, so the largest append is that plus one batch.
assert(raftLimits.appendBytesMax + recordLimits.batchBytesMax + 64 * 1024 <= transportLimits.messageBytesDefault, 'an append fits one message');
assert(raftLimits.entryBytesMax >= recordLimits.batchBytesMax, 'a record batch fits one Raft entry');
assert(raftLimits.appendBytesMax + raftLimits.entryBytesMax + 64 * 1024 <= transportLimits.messageBytesDefault, 'an append with one largest entry fits one message');
assert(raftLimits.snapshotBytesMax + raftLimits.groupIdBytesMax + 64 * 1024 <= transportLimits.messageBytesDefault, 'a snapshot fits one message');
assert(raftLimits.inflightBytesMax >= raftLimits.appendBytesMax, 'one full append fits the in-flight window');
assert(raftLimits.applyBytesPerReadyMax >= raftLimits.entryBytesMax, 'one largest entry can be applied in one Ready');
assert(raftLimits.electionTicksMin <= raftLimits.electionTicksDefault && raftLimits.electionTicksDefault <= raftLimits.electionTicksMax, 'electionTicksDefault within bounds');
assert(raftLimits.heartbeatTicksDefault < raftLimits.electionTicksMin, 'heartbeats come faster than any election timeout');
assert(raftLimits.tickMsMin <= raftLimits.tickMsDefault && raftLimits.tickMsDefault <= raftLimits.tickMsMax, 'tickMsDefault within bounds');
assert(sdkLimits.removedBrokersMax >= clusterLimits.brokersMax, 'a client can set aside every broker of a cluster as removed');
assert(clusterLimits.brokersMax <= raftLimits.configMembersMax, 'every broker fits the metadata group as a voter or learner');
assert(clusterLimits.brokersMax <= brokerLimits.brokerIdMax, 'brokersMax <= brokerIdMax');
assert(clusterLimits.brokersMax * 6 + 32 <= clusterLimits.foundingTextBytesMax, "the founding configuration of the largest cluster fits what a broker reads of a founder's");
assert(clusterLimits.controllerVotersDefault <= clusterLimits.controllerVotersMax && clusterLimits.controllerVotersMax <= clusterLimits.brokersMax, 'controller voters within the cluster size');
// While a partition moves, its group holds the original replicas and the target's at once.
assert(2 * brokerLimits.replicationFactorMax <= raftLimits.configMembersMax, 'a moving partition\'s old and new replicas fit one configuration');
assert(clusterLimits.movesInFlightDefault <= clusterLimits.movesInFlightMax && clusterLimits.movesInFlightMax <= clusterLimits.movesPendingMax, 'moves in flight within the moves held');
assert(clusterLimits.moveOutcomesKeptMax <= clusterLimits.movesPendingMax, 'moveOutcomesKeptMax <= movesPendingMax');
assert(clusterLimits.catchUpBytesPerSecondMin <= clusterLimits.catchUpBytesPerSecondDefault && clusterLimits.catchUpBytesPerSecondDefault <= clusterLimits.catchUpBytesPerSecondMax, 'catch-up rate default within bounds');
assert(clusterLimits.caughtUpEntriesBehindMax <= raftLimits.inflightAppendsMax, 'a caught-up learner is within one pipelining window (entries)');
assert(clusterLimits.caughtUpBytesBehindMax <= raftLimits.inflightBytesMax, 'a caught-up learner is within one pipelining window (bytes)');
assert(clusterLimits.departureCheckEveryMs <= clusterLimits.departureCheckIdleEveryMs, 'a decommissioning broker checks at least as often as an idle one');
assert(clusterLimits.caughtUpStableMs >= clusterLimits.moveStepEveryMs, 'catch-up is observed at least once before it counts as stable');
assert(sdkLimits.producerBatchBytesDefault <= recordLimits.batchBytesMax, 'a default producer batch is a valid batch');
assert(sdkLimits.producerBufferBytesDefault >= sdkLimits.producerBatchBytesDefault, 'a default producer buffer holds a default batch');
assert(sdkLimits.fetchBytesDefault <= brokerLimits.fetchBytesMax, 'the SDK never asks for more than a broker serves');
assert(sdkLimits.fetchRecordsDefault <= brokerLimits.fetchRecordsMax, 'the SDK never asks for more records than a broker serves');
assert(sdkLimits.pushCreditBytesDefault <= brokerLimits.pushCreditBytesMax, 'default push credit is within what a broker accepts');
assert(sdkLimits.retryBackoffMsMin <= sdkLimits.retryBackoffMsMax, 'retryBackoffMsMin <= retryBackoffMsMax');
assert(sdkLimits.bootstrapTimeoutMsDefault <= sdkLimits.connectTimeoutMsDefault, 'a first contact gives up no later than an ordinary dial');
assert(3 * sdkLimits.bootstrapHedgeMs <= sdkLimits.bootstrapTimeoutMsDefault / 2, 'the default window dials three bootstrap brokers with half of it left for the last');
// INITs go out at 0, r, 3r, 7r...: at least four (three resends) fit the window, so a lossy link does not pass for no cluster.
assert(7 * transportLimits.handshakeRetryMsInitial < sdkLimits.bootstrapTimeoutMsDefault, 'four handshake attempts fit the bootstrap window');
assert(sdkLimits.leaderCheckAfterMs + sdkLimits.leaderProbeTimeoutMs < sdkLimits.brokerDeadPeerTimeoutMsDefault, 'a leader check decides before the dead-peer timeout would');
assert(sdkLimits.metadataHedgeMs < sdkLimits.leaderCheckEveryMs + sdkLimits.leaderCheckAfterMs, 'a check reaches a second broker before the next one starts');
assert(sdkLimits.producerInFlightDefault <= sdkLimits.producerInFlightMax, 'producerInFlightDefault <= producerInFlightMax');
// A coordinator's state travels in one snapshot message; its estimate must leave room for the envelope.
assert(groupLimits.coordinatorStateBytesMax + 64 * 1024 <= raftLimits.snapshotBytesMax, 'a coordinator state fits one snapshot');
assert(groupLimits.partitionsPerGroupMax >= brokerLimits.partitionsPerTopicMax, 'a group can consume the largest topic');
assert(groupLimits.sessionTimeoutMsMin <= groupLimits.sessionTimeoutMsDefault && groupLimits.sessionTimeoutMsDefault <= groupLimits.sessionTimeoutMsMax, 'sessionTimeoutMsDefault within bounds');
assert(groupLimits.rebalanceTimeoutMsMin <= groupLimits.rebalanceTimeoutMsDefault && groupLimits.rebalanceTimeoutMsDefault <= groupLimits.rebalanceTimeoutMsMax, 'rebalanceTimeoutMsDefault within bounds');
// Several heartbeats fit in a session, so one lost heartbeat (or two) never expires a member.
assert(3 * groupLimits.heartbeatIntervalMsDefault <= groupLimits.sessionTimeoutMsDefault, 'three heartbeats fit the default session');
assert(groupLimits.replacedMembersMax >= 1 && groupLimits.coordinatorPartitionsDefault <= groupLimits.coordinatorPartitionsMax, 'group table bounds');
assert(groupLimits.coordinatorPartitionsMax <= brokerLimits.partitionsPerTopicMax, 'the groups topic is an ordinary topic in size');
// Expiries are looked for several times per shortest session, and retried within it.
assert(5 * groupLimits.livenessTickMs <= groupLimits.sessionTimeoutMsMin && groupLimits.expiryRetryMs <= groupLimits.sessionTimeoutMsMin, 'liveness finer than the shortest session');
assert(groupLimits.pendingHeartbeatMs < groupLimits.heartbeatIntervalMsDefault, 'a pending handover is asked about faster than a heartbeat');
assert(groupLimits.handlerBackoffMsMin <= groupLimits.handlerBackoffMsMax && groupLimits.handlerAttemptsDefault <= groupLimits.handlerAttemptsMax, 'handler retry bounds');
assert(groupLimits.handlerInFlightMax >= 1 && groupLimits.handlerInFlightMax <= brokerLimits.fetchRecordsMax, 'handlers in flight on a partition: at least one, at most what one fetch hands out');
assert(groupLimits.autoCommitIntervalMsMin <= groupLimits.autoCommitIntervalMsDefault && groupLimits.autoCommitIntervalMsDefault <= groupLimits.autoCommitIntervalMsMax, 'auto-commit interval within bounds');
