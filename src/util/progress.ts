/**
 * Progress for long jobs (import, training, indexing). Writes to stderr so stdout stays machine-readable
 * (recommend prints JSONL there). On a TTY a line redraws in place; otherwise (CI, logs) it prints at most every
 * few seconds and at the end, so logs stay short.
 */
export interface Progress {
  /** Starts a step with an optional known total. */
  step(name: string, total?: number): ProgressStep;
  log(message: string): void;
}

export interface ProgressStep {
  tick(n?: number, note?: string): void;
  done(note?: string): void;
}

export interface ProgressOptions {
  /** @default process.stderr */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Minimum milliseconds between non-TTY lines. @default 2000 */
  intervalMs?: number;
  /** Print nothing at all (tests). @default false */
  silent?: boolean;
}

export function createProgress(options: ProgressOptions = {}): Progress {
  const { stream = process.stderr, intervalMs = 2000, silent = false } = options;
  const write = (s: string) => {
    if (!silent) stream.write(s);
  };
  const tty = Boolean(stream.isTTY);
  return {
    log: (message) => write(`${message}\n`),
    step(name, total) {
      const started = Date.now();
      let count = 0;
      let lastPrint = 0;
      const render = (note?: string) => {
        const pct = total ? ` ${((100 * count) / total).toFixed(0).padStart(3)}%` : "";
        const of = total ? `${count}/${total}` : `${count}`;
        return `[${name}]${pct} ${of}${note ? ` ${note}` : ""} (${((Date.now() - started) / 1000).toFixed(1)}s)`;
      };
      return {
        tick(n = 1, note) {
          count += n;
          const now = Date.now();
          if (tty) {
            if (now - lastPrint > 100) {
              write(`\r${render(note)}\x1b[K`);
              lastPrint = now;
            }
          } else if (now - lastPrint > intervalMs) {
            write(`${render(note)}\n`);
            lastPrint = now;
          }
        },
        done(note) {
          write(`${tty ? "\r" : ""}${render(note ?? "done")}${tty ? "\x1b[K" : ""}\n`);
        },
      };
    },
  };
}

export const silentProgress: Progress = createProgress({ silent: true });
