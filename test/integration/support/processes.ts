import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePorts } from '../../broker/support/cluster.js';

/**
 * Real `skein broker` processes on loopback, started from the bundled
 * command, that a test can SIGKILL and restart on the same data directory.
 */
export class BrokerProcesses {
  readonly dir = mkdtempSync(join(tmpdir(), 'skein-procs-'));
  readonly children = new Map<number, ChildProcess>();
  readonly logs = new Map<number, string[]>();
  /** Brokers that exited without being told to (an uncaught exception or unhandled rejection ends Node with code 1). */
  readonly unexpectedExits: string[] = [];
  ports: number[] = [];
  /** Brokers started with --join, and through which brokers. */
  private readonly joiners = new Map<number, number[]>();

  constructor(
    private readonly cli: string,
    private readonly options: { size: number; env?: Record<string, string>; tickMs?: number; electionTicks?: number; args?: string[] },
  ) {}

  get bootstrap(): string[] {
    return this.ports.map((port) => `127.0.0.1:${port}`);
  }

  async startAll(): Promise<void> {
    this.ports = await freePorts(this.options.size);
    await Promise.all(Array.from({ length: this.options.size }, (_, i) => this.start(i + 1)));
  }

  /**
   * Starts broker `id` (a new one past the founding brokers, with --join through `joinVia`) and
   * resolves once it listens; `env` adds to the cluster's (SKEIN_LOSS, say).
   */
  async join(id: number, joinVia: number[], env: Record<string, string> = {}): Promise<void> {
    while (this.ports.length < id) this.ports.push(...(await freePorts(1)));
    this.joiners.set(id, joinVia);
    return this.start(id, env);
  }

  /** Starts broker `id` (again) and resolves once it listens; `env` adds to the cluster's (SKEIN_LOSS, say). */
  start(id: number, env: Record<string, string> = {}): Promise<void> {
    const peers = this.ports.slice(0, this.options.size).map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
    const via = this.joiners.get(id);
    const args = [
      this.cli,
      'broker',
      '--id', String(id),
      '--listen', `127.0.0.1:${this.ports[id - 1]}`,
      '--data', join(this.dir, `broker-${id}`),
      ...(via === undefined ? ['--peers', peers] : ['--join', via.map((v) => this.address(v)).join(',')]),
      '--tick-ms', String(this.options.tickMs ?? 50),
      '--election-ticks', String(this.options.electionTicks ?? 10),
      ...(this.options.args ?? []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SKEIN_PEER_SECRET: 'test-cluster-peer-secret', ...this.options.env, ...env } });
    this.children.set(id, child);
    const log = this.logs.get(id) ?? [];
    this.logs.set(id, log);
    createInterface({ input: child.stderr! }).on('line', (line) => log.push(line));
    // 'close' comes once stderr is drained, so the log holds the broker's last words (the stack).
    child.once('close', (code, signal) => {
      if (this.children.get(id) === child) this.unexpectedExits.push(`broker ${id} exited (${signal ?? code}) without being stopped:\n${log.slice(-30).join('\n')}`);
    });
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        log.push(line);
        if (line.includes('listening on')) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`broker ${id} exited (${signal ?? code}) before listening:\n${log.join('\n')}`)));
    });
  }

  /** SIGKILL: no shutdown, no flush, nothing but what is already on disk survives. */
  kill(id: number): Promise<void> {
    return this.signalAndWait(id, 'SIGKILL');
  }

  private async signalAndWait(id: number, signal: NodeJS.Signals): Promise<void> {
    const child = this.children.get(id);
    this.children.delete(id);
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** SIGSTOP and SIGCONT: the process stops running (its socket buffers what arrives) and later resumes. */
  pause(id: number): void {
    this.children.get(id)?.kill('SIGSTOP');
  }

  resume(id: number): void {
    this.children.get(id)?.kill('SIGCONT');
  }

  /** SIGTERM: the broker hands its leaderships over and exits; resolves once it has. */
  stop(id: number): Promise<void> {
    return this.signalAndWait(id, 'SIGTERM');
  }

  /** The address broker `id` listens on. */
  address(id: number): string {
    return `127.0.0.1:${this.ports[id - 1]}`;
  }

  /** Kills what still runs, then fails if any broker died by itself (the test that ran it fails with the broker's last words). */
  async close(): Promise<void> {
    for (const child of this.children.values()) child.kill('SIGCONT');
    await Promise.all([...this.children.keys()].map((id) => this.kill(id)));
    rmSync(this.dir, { recursive: true, force: true });
    if (this.unexpectedExits.length > 0) throw new Error(this.unexpectedExits.join('\n\n'));
  }
}
