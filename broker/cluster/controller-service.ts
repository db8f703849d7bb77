import { randomBytes } from 'node:crypto';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { type BrokerInfo, type CreateTopicRequest, readCreateTopic, type TopicConfig, type TopicMetadata, topicNameProblem } from '../../transport/protocol/messages.js';
import { BodyReader } from '../../transport/protocol/validate.js';
import { assignReplicas } from './assignment.js';
import { readCommand } from './commands.js';
import type { Controller } from './controller.js';
import { clusterKeyBytes, type CommandResult, type MetadataCommand, type ProducerIdBlock } from './metadata-state.js';
import { MoveService, moveOperationNames, readMoveOperation, type MoveOperation } from './move-service.js';
import { peerMethods, type PeerLinks } from './peers.js';

/**
 * Metadata operations, run on the controller. Any broker accepts them and
 * forwards to the controller over its peer link; only the controller turns
 * them into commands (it alone knows which brokers are alive, for placing
 * replicas), proposes them, and answers with the result once applied.
 */
export type ControllerOperation =
  | { op: 'createTopic'; request: CreateTopicRequest }
  | { op: 'deleteTopic'; name: string }
  /** A new broker registers (see join.ts); forwarded by the broker itself, over its proven peer link. */
  | { op: 'join'; broker: BrokerInfo; storageId: string; relayed?: boolean }
  | { op: 'command'; command: MetadataCommand }
  /** A block of producer ids for this broker to issue (the cluster key is made first if there is none). */
  | { op: 'producerIds'; brokerId: number }
  /**
   * A broker's state as the broker asked knows it, answered from its own copy of the metadata, never
   * forwarded: a broker asks whether it was decommissioned for good (see departure.ts).
   */
  | { op: 'brokerState'; brokerId: number }
  | MoveOperation;

export interface ControllerServiceOptions {
  controller: Controller;
  peers: PeerLinks;
  topicDefaults: TopicConfig;
  aliveBrokers: () => Set<number>;
}

export class ControllerService {
  readonly moves: MoveService;

  constructor(private readonly options: ControllerServiceOptions) {
    this.moves = new MoveService({ controller: options.controller, aliveBrokers: options.aliveBrokers });
  }

  /** Runs an operation here if this broker is the controller, else on the controller. */
  async run(operation: ControllerOperation, signal: AbortSignal): Promise<unknown> {
    const { controller, peers } = this.options;
    if (controller.isLeader()) return this.execute(operation, signal);
    return peers.request(this.controllerToAsk(), peerMethods.controller, operation, { signal });
  }

  /**
   * The controller to forward to, or LEADER_NOT_AVAILABLE (retriable) at once when there is none to ask:
   * no leader known; elected here but not yet writable (its first entry is not applied: rather than call
   * ourselves); or one not heard from lately — a leader that died stays our hint until an election ends,
   * and a request to it would wait out the caller's whole deadline for nothing.
   */
  private controllerToAsk(): number {
    const { controller, peers } = this.options;
    const leaderId = controller.leaderId();
    if (leaderId === null || leaderId === peers.selfId) throw new SkeinError('LEADER_NOT_AVAILABLE', { message: 'the cluster has no controller right now' });
    if (!this.options.aliveBrokers().has(leaderId)) {
      throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `the controller as broker ${peers.selfId} last knew it, broker ${leaderId}, has not been heard from lately` });
    }
    return leaderId;
  }

  /**
   * Runs an operation a peer forwarded; never forwards again (no loops while
   * leadership moves). `from` is the broker it proved to be (undefined: the
   * network is trusted); a report it forwards must be about itself.
   */
  handleForwarded(body: unknown, signal: AbortSignal, from?: number): Promise<unknown> {
    const operation = readOperation(body);
    if (operation.op === 'join') return this.join(operation, signal, from);
    if (isMoveOperation(operation)) {
      if (from !== undefined) this.moves.checkReporter(operation, from);
      return this.execute(operation, signal);
    }
    if (from !== undefined && operation.op === 'command') {
      const { command } = operation;
      const about = command.type === 'registerBroker' ? command.broker.id : command.type === 'partitionLeader' ? command.leader : null;
      if (about !== from) throw new SkeinError('NOT_AUTHORIZED', { message: `broker ${from} reports only for itself` });
    }
    if (from !== undefined && operation.op === 'producerIds' && operation.brokerId !== from) {
      throw new SkeinError('NOT_AUTHORIZED', { message: `broker ${from} asks for producer ids only for itself` });
    }
    return this.execute(operation, signal);
  }

  /**
   * A join comes from the joiner itself, over the link it proved with the peer secret. A broker that is
   * not the controller relays it once (a joiner whose id is the controller's cannot reach the
   * controller itself; the controller then refuses the id).
   */
  private async join(operation: Extract<ControllerOperation, { op: 'join' }>, signal: AbortSignal, from: number | undefined): Promise<unknown> {
    if (from !== undefined && operation.broker.id !== from && operation.relayed !== true) {
      throw new SkeinError('NOT_AUTHORIZED', { message: `broker ${from} joins only as itself, not as broker ${operation.broker.id}` });
    }
    const { controller, peers } = this.options;
    if (controller.isLeader() || operation.relayed === true) return this.execute(operation, signal);
    return peers.request(this.controllerToAsk(), peerMethods.controller, { ...operation, relayed: true }, { signal });
  }

  private async execute(operation: ControllerOperation, signal: AbortSignal): Promise<unknown> {
    const { controller } = this.options;
    if (isMoveOperation(operation)) return this.moves.execute(operation, signal);
    let command: MetadataCommand;
    switch (operation.op) {
      case 'createTopic': {
        const { request } = operation;
        const state = controller.state;
        if (state.topic(request.name) !== undefined) throw new SkeinError('TOPIC_EXISTS', { message: `topic ${request.name} exists` });
        const alive = this.options.aliveBrokers();
        // Joining and leaving brokers take no new replicas.
        const registered = state.activeBrokerIds();
        const brokers = registered.filter((id) => alive.has(id));
        if (request.replicationFactor <= registered.length && request.replicationFactor > brokers.length) {
          // Enough brokers exist, just not enough answering right now (starting, restarting): worth a retry.
          throw new SkeinError('NOT_ENOUGH_REPLICAS', {
            message: `replication factor ${request.replicationFactor} needs ${request.replicationFactor} live brokers; ${brokers.length} of ${registered.length} answer right now`,
          });
        }
        const assignment = assignReplicas({ partitions: request.partitions, replicationFactor: request.replicationFactor, brokers, load: state.load() });
        command = { type: 'createTopic', name: request.name, config: { ...this.options.topicDefaults, ...request.config }, assignment };
        break;
      }
      case 'deleteTopic':
        command = { type: 'deleteTopic', name: operation.name };
        break;
      case 'join':
        await this.propose({ type: 'registerBroker', broker: operation.broker, storageId: operation.storageId }, signal);
        // A joiner's state starts, as every replica's does, from the founding brokers: they are in no log entry.
        return { founders: controller.founders };
      case 'command':
        command = operation.command;
        break;
      case 'producerIds':
        return this.producerIds(operation.brokerId, signal);
      case 'brokerState':
        return { state: controller.state.lifecycle(operation.brokerId)?.state ?? null };
    }
    return (await this.propose(command, signal)).topic satisfies TopicMetadata | undefined ?? {};
  }

  /** A block of ids for a broker to issue; the cluster's key is made first if it has none (the controller alone draws it). */
  private async producerIds(brokerId: number, signal: AbortSignal): Promise<ProducerIdBlock | undefined> {
    if (this.options.controller.state.clusterKey === null) await this.propose({ type: 'clusterKey', key: randomBytes(clusterKeyBytes) }, signal);
    return (await this.propose({ type: 'producerIds', brokerId, count: brokerLimits.producerIdBlockSize }, signal)).producerIds;
  }

  private async propose(command: MetadataCommand, signal: AbortSignal): Promise<Extract<CommandResult, { ok: true }>> {
    const result = await this.options.controller.propose(command, { signal });
    if (!result.ok) throw new SkeinError(result.error.code, { message: result.error.message });
    return result;
  }
}

function readOperation(body: unknown): ControllerOperation {
  const r = new BodyReader(body, 'controller');
  const op = r.oneOf('op', ['createTopic', 'deleteTopic', 'join', 'command', 'producerIds', 'brokerState', ...moveOperationNames]);
  switch (op) {
    case 'createTopic':
      return { op, request: readCreateTopic(r.raw('request')) };
    case 'deleteTopic': {
      const name = r.string('name', { bytesMax: brokerLimits.topicNameBytesMax });
      const problem = topicNameProblem(name);
      if (problem !== null) throw new SkeinError('INVALID_TOPIC', { message: problem });
      return { op, name };
    }
    case 'join': {
      const command = readCommand({ type: 'registerBroker', broker: r.raw('broker'), storageId: r.raw('storageId') });
      if (command.type !== 'registerBroker' || command.storageId === null || command.storageId === undefined) throw new SkeinError('MALFORMED_REQUEST', { message: 'a join carries the broker and its storage id' });
      return { op, broker: command.broker, storageId: command.storageId, relayed: r.bool('relayed', false) };
    }
    case 'command': {
      // Brokers forward only their own reports; topics are made and removed through the checked operations above.
      const command = readCommand(r.raw('command'));
      if (command.type !== 'registerBroker' && command.type !== 'partitionLeader') {
        throw new SkeinError('MALFORMED_REQUEST', { message: `a ${command.type} command is not forwarded raw; use its operation` });
      }
      return { op, command };
    }
    case 'producerIds':
    case 'brokerState':
      return { op, brokerId: r.int('brokerId', { min: 1, max: brokerLimits.brokerIdMax }) };
    default:
      return readMoveOperation(r, op);
  }
}

function isMoveOperation(operation: ControllerOperation): operation is MoveOperation {
  return moveOperationNames.has(operation.op);
}
