/**
 * Progress of long work (benchmarks, the live demo), the one way every
 * command shows it. On a terminal it redraws one line in place, a few times a
 * second: a bar when the total is known, the rate, the time left. Anywhere
 * else (a pipe, a file, CI) it writes the same line once a second, plain, so
 * logs stay readable and greppable.
 */

export interface ProgressSample {
  /** Units done so far (records sent, steps finished). */
  done: number;
  /** Text after the counters: what else is worth knowing right now. */
  detail?: string;
}

export interface ProgressOptions {
  /** First word of the line: what is running. */
  label: string;
  /** Read at every draw. */
  sample: () => ProgressSample;
  /** With a total, the line has a bar (on a terminal), done/total and the time left. */
  total?: number;
  /** Word after done/total ("sent", "acknowledged"); with it and no total the line shows the count done. */
  unit?: string;
  /** With it, the line shows the recent rate of `done` per second in this unit ("msgs"). */
  rateUnit?: string;
  /** When not on a terminal: 'lines' writes the line every second, 'quiet' writes only statuses and logs. */
  plain?: 'lines' | 'quiet';
  /** Put before a status written as a line (not on a terminal, where the label is not beside it). */
  plainPrefix?: string;
  stream?: ProgressStream;
  /** Milliseconds, for tests; performance.now() otherwise. */
  now?: () => number;
}

/** The part of a tty.WriteStream this module uses. */
export interface ProgressStream {
  write(text: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

/** How often the line is redrawn on a terminal, and written elsewhere. */
const redrawMs = 250;
const plainMs = 1000;
/** The rate shown is over about this much recent time, so it follows changes without flickering. */
const rateWindowMs = 2000;
const barWidthMax = 30;
const barWidthMin = 10;
const columnsDefault = 80;

export function isTerminal(stream: ProgressStream): boolean {
  return stream.isTTY === true && process.env.TERM !== 'dumb';
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly terminal: boolean;
  private readonly startedAt: number;
  private readonly history: { at: number; done: number }[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private note = '';
  private drawn = false;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.terminal = isTerminal(this.stream);
    this.startedAt = this.now();
    this.history.push({ at: this.startedAt, done: 0 });
  }

  /** Starts drawing; the timer never keeps the process alive. */
  static start(options: ProgressOptions): Progress {
    const progress = new Progress(options);
    const plain = options.plain ?? 'lines';
    if (progress.terminal || plain === 'lines') {
      progress.timer = setInterval(() => progress.tick(), progress.terminal ? redrawMs : plainMs);
      progress.timer.unref();
    }
    return progress;
  }

  /** Draws once: on a terminal redraws the line in place, elsewhere writes it as a line. */
  tick(): void {
    const line = this.line();
    if (this.terminal) {
      this.stream.write(`\r\x1b[K${line}`);
      this.drawn = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** A passing status: on a terminal it becomes the line's detail until the next one; elsewhere it is written as a line. */
  status(text: string): void {
    if (this.terminal) this.phase(text);
    else this.stream.write(`${this.options.plainPrefix ?? ''}${text}\n`);
  }

  /** What is running now, shown on a terminal only (a plain log gets the result line instead). */
  phase(text: string): void {
    if (!this.terminal) return;
    this.note = text;
    this.tick();
  }

  /** A line to keep (a result): written above the progress line, which is drawn again below it. */
  log(text: string, stream: ProgressStream = this.stream): void {
    this.clear();
    stream.write(`${text}\n`);
    if (this.terminal && this.timer !== null) this.tick();
  }

  /** Stops drawing and erases the line, so what comes next starts on a clean line. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }

  /** The line as it would be drawn now. */
  line(): string {
    const { label, total, unit, rateUnit } = this.options;
    const sample = this.options.sample();
    const now = this.now();
    this.remember(now, sample.done);
    const parts: string[] = [];
    const counted = total === undefined ? String(sample.done) : `${Math.min(sample.done, total)}/${total}`;
    if (total !== undefined || unit !== undefined) parts.push(`${counted}${unit === undefined ? '' : ` ${unit}`}`);
    if (rateUnit !== undefined) parts.push(`${this.rate(now)} ${rateUnit}/s`);
    const detail = sample.detail ?? this.note;
    if (detail !== '') parts.push(detail);
    if (total !== undefined) parts.push(`ETA ${eta(sample.done, total, now - this.startedAt)}`);
    const text = parts.join('  ');
    if (!this.terminal) return `${label}  ${text}`;
    const width = ((this.stream.columns ?? 0) > 0 ? this.stream.columns! : columnsDefault) - 1;
    // What surrounds the bar: the label and a space, its brackets, a space, the percentage, two spaces, the text.
    const drawn = total === undefined ? '' : `${bar(sample.done, total, width - (label.length + 1 + 2 + 1 + 4 + 2 + text.length))}  `;
    return fit(`${label} ${drawn}${text}`, width);
  }

  private clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private remember(at: number, done: number): void {
    this.history.push({ at, done });
    while (this.history.length > 2 && at - this.history[1]!.at >= rateWindowMs) this.history.shift();
  }

  private rate(now: number): number {
    const first = this.history[0]!;
    const last = this.history[this.history.length - 1]!;
    const seconds = (now - first.at) / 1000;
    return seconds <= 0 ? 0 : Math.round((last.done - first.done) / seconds);
  }
}

/** `[#####-----]  45%`, as wide as the room left allows (none below barWidthMin). */
function bar(done: number, total: number, room: number): string {
  const fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total));
  const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const width = Math.min(barWidthMax, room);
  if (width < barWidthMin) return percent;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent}`;
}

/** Time left at the average pace so far, as m:ss (h:mm:ss past an hour); -:-- before there is a pace. */
function eta(done: number, total: number, elapsedMs: number): string {
  if (done >= total) return '0:00';
  if (done <= 0 || elapsedMs <= 0) return '-:--';
  const seconds = Math.ceil(((total - done) * elapsedMs) / done / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}
