/** Counters a connection keeps; all monotonic. */
export interface ConnectionCounters {
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  /** Packets declared lost by loss detection (RFC 9002). */
  packetsLost: number;
  /** Of packetsLost, those acknowledged later: reordered, not lost (each grows the loss thresholds). */
  packetsLostSpuriously: number;
  /** Packets that carried resent stream data, and the resent bytes. */
  packetsRetransmitted: number;
  bytesRetransmitted: number;
  /** Packets received twice (or too old to tell), and stream bytes received again. */
  packetsDuplicate: number;
  bytesDuplicate: number;
  ackOnlyPacketsSent: number;
  probesSent: number;
  malformedPackets: number;
  congestionEvents: number;
  persistentCongestions: number;
  messagesSent: number;
  messageBytesSent: number;
  messagesReceived: number;
  messageBytesReceived: number;
}

export function emptyConnectionCounters(): ConnectionCounters {
  return {
    packetsSent: 0,
    bytesSent: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    packetsLost: 0,
    packetsLostSpuriously: 0,
    packetsRetransmitted: 0,
    bytesRetransmitted: 0,
    packetsDuplicate: 0,
    bytesDuplicate: 0,
    ackOnlyPacketsSent: 0,
    probesSent: 0,
    malformedPackets: 0,
    congestionEvents: 0,
    persistentCongestions: 0,
    messagesSent: 0,
    messageBytesSent: 0,
    messagesReceived: 0,
    messageBytesReceived: 0,
  };
}

export function addCounters(into: ConnectionCounters, from: ConnectionCounters): void {
  for (const key of Object.keys(into) as (keyof ConnectionCounters)[]) into[key] += from[key];
}

/** A snapshot of one connection: counters plus the current state of its machinery. */
export interface ConnectionStats extends ConnectionCounters {
  state: string;
  rttSmoothedMs: number;
  /** Infinity before the first sample. */
  rttMinMs: number;
  rttVarianceMs: number;
  rttLatestMs: number;
  congestionWindowBytes: number;
  congestionPhase: string;
  bytesInFlight: number;
  /** Consecutive probe timeouts without an answer. */
  ptoCount: number;
  sendBufferedBytes: number;
  receiveBufferedBytes: number;
  /** Message bytes delivered to the application per second since the connection opened. */
  goodputBytesPerSecond: number;
  ageMs: number;
}

/** What an endpoint dropped, by cause; injected (loss model) drops are kept apart from real ones. */
export interface EndpointDropCounters {
  /** Datagrams too short or with an unknown type, or packets that failed to parse. */
  malformed: number;
  /** DATA packets for a connection id we do not have (or no longer have). */
  unknownConnection: number;
  /** Packets for a known connection id from a different address. */
  addressMismatch: number;
  /** INITs shorter than the padded minimum (no reply: amplification guard). */
  initTooShort: number;
  /** INITs of another protocol version (answered with a version REFUSE, no state). */
  badVersion: number;
  /** INITs whose cookie failed its MAC (forged, or from another endpoint). */
  badCookie: number;
  /** INITs whose cookie was too old (answered with a fresh RETRY). */
  expiredCookie: number;
  /** INITs whose cookie already opened a connection. */
  replayedCookie: number;
  /** Set-ups refused because the connection table was full or the endpoint does not accept. */
  refused: number;
  /** Stateless replies dropped because their queue was full. */
  statelessRepliesDropped: number;
  /** Connections dropped to make room: a socket's oldest beyond its share, half-open set-ups beyond theirs. */
  evicted: number;
  /** Clients' packets dropped unacknowledged because the reassembly budget was full (they are resent). */
  receiveBudget: number;
  /** Connections closed for holding an unfinished message while the reassembly budget was full. */
  budgetClosed: number;
  /** Connections closed for holding queued data beyond their share with nothing acknowledged while others waited for the send budget. */
  sendBudgetClosed: number;
}

export function emptyDropCounters(): EndpointDropCounters {
  return {
    malformed: 0,
    unknownConnection: 0,
    addressMismatch: 0,
    initTooShort: 0,
    badVersion: 0,
    badCookie: 0,
    expiredCookie: 0,
    replayedCookie: 0,
    refused: 0,
    statelessRepliesDropped: 0,
    evicted: 0,
    receiveBudget: 0,
    budgetClosed: 0,
    sendBudgetClosed: 0,
  };
}

export interface EndpointCoreStats extends ConnectionCounters {
  connectionsOpen: number;
  connectionsAccepted: number;
  connectionsConnected: number;
  connectionsClosed: number;
  retriesSent: number;
  datagramsReceived: number;
  /** Stretches in which the endpoint could not read its socket (a blocked event loop); silence then does not count against peers. */
  stalls: number;
  /** Packets taken from a server we dialled that answers from another of its addresses (same port). */
  repliesFromOtherAddress: number;
  /** RESETs sent: DATA arrived for a connection this endpoint does not have (see packet.ts). */
  resetsSent: number;
  /** Connections closed by their peer's RESET (it restarted, or forgot them). */
  resetsReceived: number;
  /** What clients' connections hold now against the endpoint's budgets (priority peers and our own connections are outside). */
  memory: { reassemblyBytes: number; reassemblyBytesMax: number; sendBytes: number; sendBytesMax: number };
  drops: EndpointDropCounters;
}
