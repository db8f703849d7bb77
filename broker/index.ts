/**
 * skein/broker — run brokers from code (tests, embedded clusters, the
 * examples). Operators use the `skein broker` command instead.
 */
export { SkeinError, isSkeinError, type ErrorCode } from '../transport/errors.js';
export { Broker, type BrokerCounters } from './broker.js';
export { brokerConfig, topicDefaults, type BrokerConfig, type BrokerSettings, type HostPort } from './config.js';
