import { sharedAbortController } from '../../transport/abort.js';
import { Skein } from '../../sdk/index.js';
import { topicNameProblem } from '../../transport/protocol/messages.js';
import type { FlagSpecs, ParsedFlags } from './args.js';
import { stringFlag, UsageError } from './args.js';

/** Flags every client subcommand takes. */
export const clientFlags: FlagSpecs = {
  brokers: { type: 'string', short: 'b', value: 'HOST:PORT,...', help: 'bootstrap brokers', default: '$SKEIN_BROKERS or 127.0.0.1:9092' },
};

export function brokerList(parsed: ParsedFlags): string[] {
  const text = stringFlag(parsed, 'brokers') ?? process.env.SKEIN_BROKERS ?? '127.0.0.1:9092';
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A topic name as the broker will check it, refused as bad usage before anything connects. */
export function checkTopicName(name: string): string {
  const problem = topicNameProblem(name);
  if (problem !== null) throw new UsageError(problem);
  return name;
}

/** --topic, checked; undefined when absent. */
export function topicFlag(parsed: ParsedFlags): string | undefined {
  const name = stringFlag(parsed, 'topic');
  return name === undefined ? undefined : checkTopicName(name);
}

export function openClient(parsed: ParsedFlags, clientId: string): Skein {
  return new Skein({ brokers: brokerList(parsed), clientId });
}

/** Resolves on the first SIGINT/SIGTERM, so a long-running command can stop cleanly. */
export function interrupted(): { signal: AbortSignal; dispose: () => void } {
  // Every send or fetch in flight listens to it; they let go when they settle.
  const controller = sharedAbortController();
  const stop = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}
