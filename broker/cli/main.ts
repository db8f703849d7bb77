import { isSkeinError } from '../../transport/errors.js';
import { UsageError, unknownWord } from './args.js';
import { skeinInvocation } from './invocation.js';

/**
 * The `skein` command. It composes the broker and the SDK (the client
 * subcommands use the SDK), which is why it is the one place in broker/ that
 * may import sdk/; nothing imports it. Exit codes: 0 success, 1 failure,
 * 2 bad usage.
 */
type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command>; subcommands?: readonly string[] }> = {
  broker: { summary: 'run one broker', load: async () => (await import('./broker-command.js')).brokerCommand },
  dev: { summary: 'run a local cluster on loopback (with --demo: a live producer and consumer)', load: async () => (await import('./dev-command.js')).devCommand },
  cluster: { summary: 'describe the cluster; decommission, recommission brokers; rebalance', load: async () => (await import('./cluster-command.js')).clusterCommand },
  topic: { summary: 'create, describe, list, delete or move topics (reassign partitions)', load: async () => (await import('./topic-command.js')).topicCommand },
  produce: { summary: 'produce lines from stdin (or generated records) to a topic', load: async () => (await import('./produce-command.js')).produceCommand },
  consume: { summary: 'print records of a topic (with --group: as a member of a consumer group)', load: async () => (await import('./consume-command.js')).consumeCommand },
  group: { summary: 'list, describe, reset or delete consumer groups', load: async () => (await import('./group-command.js')).groupCommand },
  bench: {
    summary: 'benchmarks: transport, produce, consume, e2e',
    load: async () => (await import('./bench-command.js')).benchCommand,
    subcommands: ['transport', 'produce', 'consume', 'e2e'],
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: skein <command> [flags]\n\ncommands:\n${rows.join('\n')}\n\nRun "${skeinInvocation()} <command> --help" for a command's flags.\nEvery skein process honours SKEIN_LOSS (e.g. SKEIN_LOSS="loss=0.1,dup=0.01,seed=7").\n`;
}

/** What to do when no broker answered: most often no cluster runs yet, or the addresses point elsewhere. */
function noClusterHint(): string {
  return `To start a local cluster on 127.0.0.1:9092-9094: ${skeinInvocation()} dev\nTo use another cluster: --brokers HOST:PORT,... or SKEIN_BROKERS.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`skein: ${unknownWord('command', name, Object.keys(commands)).message}\nRun "${skeinInvocation()} --help" for the commands.\n`);
    return 2;
  }
  // `skein bench transport: ...` and its own --help, rather than the bench command's.
  const label = command.subcommands?.includes(rest[0] ?? '') === true ? `${name} ${rest[0]}` : name;
  try {
    return await (await command.load())(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`skein ${label}: ${error.message}\nRun "${skeinInvocation()} ${label} --help" for usage.\n`);
      return 2;
    }
    if (isSkeinError(error, 'INVALID_CONFIG') || isSkeinError(error, 'INVALID_ARGUMENT')) {
      process.stderr.write(`skein ${label}: ${error.message}\n`);
      return 2;
    }
    if (isSkeinError(error, 'NO_BROKERS_REACHABLE')) {
      process.stderr.write(`skein ${label}: ${error.code}: ${error.message}\n${noClusterHint()}`);
      return 1;
    }
    if (isSkeinError(error)) {
      process.stderr.write(`skein ${label}: ${error.code}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`skein ${label}: ${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`skein: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
