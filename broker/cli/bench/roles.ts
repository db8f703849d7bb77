import { fork, type ChildProcess } from 'node:child_process';
import { quote, UsageError } from '../args.js';

/**
 * The bench runs each side of an experiment in its own process, so a sender
 * and a receiver never share one event loop or one core's JIT and GC (on a
 * 2-core machine that is the only honest set-up). A role process is the same
 * entry point (bench main or the `skein` command) started again with
 * `--bench-role <name>`; the parent talks to it over the IPC channel.
 */

/** Set by the parent in a role process's environment, naming its role. */
const roleEnvVariable = 'SKEIN_BENCH_ROLE';

export interface RoleMessage {
  type: string;
  [key: string]: unknown;
}

export interface RoleContext<Config> {
  config: Config;
  send(message: RoleMessage): void;
  /** Resolves with the next message of this type from the parent. */
  next(type: string): Promise<RoleMessage>;
}

export type RoleBody<Config = never> = (context: RoleContext<Config>) => Promise<void>;

/** How to start the current program again as a role process. */
export interface RoleLauncher {
  entry: string;
  /** Arguments that route the program to the bench command (`['bench', 'transport']` for the skein command). */
  argsPrefix: readonly string[];
}

/** A message inbox in arrival order, with waiters per type. */
class Inbox {
  private readonly queued: RoleMessage[] = [];
  private readonly waiters: { type: string; resolve: (m: RoleMessage) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;

  push(message: RoleMessage): void {
    const index = this.waiters.findIndex((w) => w.type === message.type);
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
    else this.queued.push(message);
  }

  fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  next(type: string): Promise<RoleMessage> {
    const index = this.queued.findIndex((m) => m.type === type);
    if (index >= 0) return Promise.resolve(this.queued.splice(index, 1)[0]!);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ type, resolve, reject }));
  }
}

export class RoleProcess {
  private readonly inbox = new Inbox();
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message: RoleMessage) => {
      if (message.type === 'error') this.inbox.fail(new Error(`bench role ${name} failed: ${String(message.message)}`));
      else this.inbox.push(message);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.inbox.fail(new Error(`bench role ${name} exited (${signal ?? `code ${code}`})`));
    });
    child.on('error', (error) => this.inbox.fail(error));
  }

  static start<Config>(launcher: RoleLauncher, name: string, config: Config): RoleProcess {
    const child = fork(launcher.entry, [...launcher.argsPrefix, '--bench-role', name], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: process.execArgv,
      env: { ...process.env, [roleEnvVariable]: name },
    });
    const role = new RoleProcess(name, child);
    child.send({ type: 'config', config });
    return role;
  }

  post(message: RoleMessage): void {
    if (!this.exited) this.child.send(message);
  }

  /** The next message of this type; rejects if the role fails, exits, or stays silent past `timeoutMs`. */
  async next(type: string, timeoutMs: number): Promise<RoleMessage> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`bench role ${this.name} sent no ${type} within ${timeoutMs}ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.inbox.next(type), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the role process: asks it to stop, then terminates it if it lingers. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.post({ type: 'stop' });
    const terminate = setTimeout(() => this.child.kill('SIGTERM'), 1000);
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(terminate);
    clearTimeout(kill);
  }
}

/**
 * One experiment between two role processes: starts `server`, waits for its
 * 'ready' message with the port, starts `client` with that port, waits for
 * the client's `resultType` message and hands it and the server to `finish`
 * (which may ask the server for its own report). Both processes always stop.
 */
export async function runServerAndClient<T>(
  launcher: RoleLauncher,
  server: { role: string; config: object },
  client: { role: string; config: object; resultType: string; timeoutMs: number },
  finish: (result: RoleMessage, server: RoleProcess) => Promise<T>,
): Promise<T> {
  const serverProcess = RoleProcess.start(launcher, server.role, server.config);
  let clientProcess: RoleProcess | undefined;
  try {
    const { port } = await serverProcess.next('ready', 30_000);
    clientProcess = RoleProcess.start(launcher, client.role, { ...client.config, port });
    const result = await clientProcess.next(client.resultType, client.timeoutMs);
    return await finish(result, serverProcess);
  } finally {
    await Promise.all([serverProcess.stop(), clientProcess?.stop()]);
  }
}

/**
 * Runs this process as the role named on its command line: waits for its
 * config, runs it, reports failures to the parent, and exits when the parent
 * goes away, so no role process outlives a crashed bench.
 */
export async function runRoleProcess(name: string, roles: Readonly<Record<string, RoleBody<never>>>): Promise<number> {
  const body = roles[name];
  // Only a process the bench started (IPC channel plus the marker) is a role; anything else refuses at once.
  if (body === undefined || typeof process.send !== 'function' || process.env[roleEnvVariable] !== name) {
    throw new UsageError(`--bench-role is internal (unknown role ${quote(name)} or no parent)`);
  }
  const inbox = new Inbox();
  process.on('message', (message: RoleMessage) => inbox.push(message));
  // A role never outlives its parent, and ends once its body is done even if sockets or timers linger.
  process.on('disconnect', () => process.exit());
  const send = (message: RoleMessage): void => {
    process.send?.(message);
  };
  try {
    const { config } = await inbox.next('config');
    await body({ config: config as never, send, next: (type) => inbox.next(type) });
    process.exitCode = 0;
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exitCode = 1;
  }
  // Disconnecting after the queued IPC messages are flushed delivers the last report before the exit.
  await new Promise<void>((resolve) => process.send?.({ type: 'done' }, undefined, {}, () => resolve()));
  process.disconnect?.();
  return Number(process.exitCode);
}

/**
 * The launcher for the running program: its entry script, and the arguments
 * before the bench command's own (so `skein bench transport --loss 0.1`
 * restarts as `skein bench transport --bench-role ...`).
 */
export function currentLauncher(commandArgv: readonly string[]): RoleLauncher {
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot find the entry script to start bench roles');
  const all = process.argv.slice(2);
  const tail = all.slice(all.length - commandArgv.length);
  const prefix = commandArgv.length <= all.length && tail.every((a, i) => a === commandArgv[i]) ? all.slice(0, all.length - commandArgv.length) : [];
  return { entry, argsPrefix: prefix };
}
