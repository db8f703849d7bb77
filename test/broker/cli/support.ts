import { spawn } from 'node:child_process';
import { inject } from 'vitest';

export interface SkeinRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SkeinRunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
  /** Another copy of the bundled command (an install's layout); the bundle by default. */
  script?: string;
  /** Ends the process with this signal once its stdout matches, or after `deadlineMs` (so a test that fails leaves nothing running). */
  stopWhen?: { stdout: RegExp; signal: NodeJS.Signals; deadlineMs?: number };
}

/** How long a stopWhen or interruptWhen waits before it stops the command anyway. */
const stopDeadlineMs = 40_000;

/** The bundled `skein` command (built once by the global setup). */
export function bundledSkein(): string {
  const path = inject('cliPath');
  if (path === null) throw new Error('the skein command was not bundled');
  return path;
}

/** Runs the bundled `skein` command as an operator types it, and collects what it prints. */
export function runSkein(args: readonly string[], options: SkeinRunOptions = {}): Promise<SkeinRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [options.script ?? bundledSkein(), ...args], {
      env: { ...process.env, ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    const { stopWhen } = options;
    // Once: what the command prints while it stops matches too, and a second signal would kill it mid-stop.
    let stopped = false;
    const stop = (): void => void (!stopped && child.exitCode === null && (stopped = child.kill(stopWhen!.signal)));
    const deadline = stopWhen === undefined ? undefined : setTimeout(stop, stopWhen.deadlineMs ?? stopDeadlineMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stopWhen?.stdout.test(stdout) === true) stop();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(deadline);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Runs the bundled command under a pseudo-terminal (util-linux `script`), as
 * in an interactive shell: stdout and stderr are both the terminal, 100
 * columns wide, so what comes back is what the screen was sent, in order,
 * escape codes included. `interruptWhen` presses Ctrl-C once the screen
 * matches it.
 */
export function runSkeinOnTerminal(args: readonly string[], options: { env?: NodeJS.ProcessEnv; interruptWhen?: RegExp } = {}): Promise<SkeinRun> {
  const quoted = [process.execPath, bundledSkein(), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qefc', `stty cols 100 2>/dev/null; exec ${quoted}`, '/dev/null'], { env: { ...process.env, ...options.env } });
    let screen = '';
    let interrupted = false;
    const interrupt = (): void => {
      if (interrupted) return;
      interrupted = true;
      child.stdin.write('\x03');
      // Closing the terminal is the last resort: the command gets SIGHUP.
      setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), stopDeadlineMs).unref();
    };
    const deadline = options.interruptWhen === undefined ? undefined : setTimeout(interrupt, stopDeadlineMs);
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      if (options.interruptWhen?.test(screen) === true) interrupt();
    });
    child.on('exit', (code) => {
      clearTimeout(deadline);
      resolve({ code: code ?? -1, stdout: screen, stderr: '' });
    });
    if (options.interruptWhen === undefined) child.stdin.end();
  });
}
