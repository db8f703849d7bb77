/**
 * skein — the SDK applications install: `import { Skein } from 'skein'`.
 * A few classes and factories plus their types; everything else is internal.
 */
export { SkeinError, isSkeinError, type ErrorCode } from '../transport/errors.js';
export { Skein } from './client.js';
export type { SkeinOptions } from './options.js';
export type { TransportOptions } from './dial.js';
export { Producer, type Message, type HeadersInput, type ProducerOptions, type ProducerStats, type RecordMetadata, type SendInput } from './producer/producer.js';
export type { Partitioner, PartitionerInput } from './partitioner.js';
export { Consumer, type ConsumerOptions, type FetchOptions } from './consumer/consumer.js';
export type { ConsumedRecord } from './consumer/record.js';
export type { From } from './consumer/from.js';
export { Subscription, type SubscribeOptions } from './subscription/subscription.js';
export type { SubscriptionStatus } from './subscription/partition.js';
export { Admin, type CreateTopicOptions } from './admin.js';
export type { PartitionMove } from './reassignments.js';
export type { FinishedMove, ListReassignmentsResponse, MoveStatus, PartitionRef, ReassignmentResult, ReplicaCatchUp } from '../transport/protocol/reassignment.js';
export { GroupConsumer, type GroupConsumerOptions } from './groups/group-consumer.js';
export { GroupSubscription, type GroupSubscribeOptions } from './groups/group-subscription.js';
export type { GroupOptions, GroupStatus, RevokeReason } from './groups/session.js';
export type { DescribeGroupOptions, GroupDescription, GroupListing, GroupMemberDescription, GroupPartitionStatus, MemberPartitionProgress, ResetOffsetsOptions } from './groups/group-admin.js';
export type { GroupPartition, MemberProgress } from '../transport/protocol/groups.js';
export { defineTopic, type TopicDefinition, type TopicInput } from './topic.js';
export { serdes, type Serde } from './serde.js';
export type { ReadFrom } from './cluster.js';
export type { Acks, BrokerInfo, DescribeClusterResponse, PartitionMetadata, TopicConfig, TopicMetadata, FlushPolicy } from '../transport/protocol/messages.js';
export type { RecordHeader } from '../transport/protocol/records.js';
export type { LossModel } from '../transport/loss/types.js';
