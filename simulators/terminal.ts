/**
 * What the hand-driven programs share (`npm run device`, `npm run board`, `npm run modem`): a
 * usage error is one line and the usage, exit 2; `--help` the usage, exit 0; SIGINT, SIGTERM
 * and `quit` clean up once, then exit; commands come as keys on a terminal or lines from a pipe.
 */
import { createInterface } from 'node:readline';

/** A mistake on the command line: printed with the usage, exit 2. */
export class UsageError extends Error {}

/**
 * Runs a program: `parse` throwing prints `{name}: message` and the usage (exit 2); `parse`
 * giving undefined (`--help`) prints the usage (exit 0); `main` failing prints one line (exit 1);
 * otherwise the process exits with `main`'s code (johnny-five and serialport keep timers).
 */
export function runProgram<A>(name: string, usage: string, parse: () => A | undefined, main: (args: A) => Promise<number>): void {
  let args: A | undefined;
  try {
    args = parse();
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if (args === undefined) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  main(args).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${name}: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}

/**
 * `quit(code)` runs `cleanUp` once (SIGINT and SIGTERM quit with 0); `finished` resolves with the
 * code once it is done, and stdin is let go.
 */
export function quitting(cleanUp: () => Promise<unknown>): { finished: Promise<number>; quit: (code?: number) => void } {
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  let quit = false;
  const stop = (code = 0) => {
    if (quit) return;
    quit = true;
    void cleanUp()
      .catch((error: Error) => process.stderr.write(`${error.message}\n`))
      .then(() => {
        process.stdin.pause();
        done(code);
      });
  };
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  return { finished, quit: stop };
}

/**
 * Commands from stdin: from a pipe, one a line; on a terminal with `keys`, single keys (`q` and
 * Ctrl-C quit, `keys` turns the others into a command line, or ignores them with undefined).
 */
export function readCommands(command: (line: string) => void, quit: () => void, keys?: (key: string) => string | undefined): void {
  if (keys && process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', (data: Buffer) => {
      const key = data.toString();
      if (key === 'q' || key === '\u0003') return quit();
      const line = keys(key);
      if (line !== undefined) command(line);
    });
  } else createInterface({ input: process.stdin }).on('line', command);
}

/** A line on stdout behind the time of day (HH:MM:SS.mmm, UTC). */
export function say(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}
