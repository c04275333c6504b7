/**
 * One clean-up style for every suite (tests/ and the unit tests beside the code): things to
 * undo after each test, registered as they are made, undone last made first; temporary
 * directories are one of them.
 */
import { rmSync } from 'node:fs';
import { afterEach } from 'vitest';
import { tempDir as makeTempDir } from '../../simulators/pty.js';

export type Cleanups = (() => unknown)[];

/**
 * Things to undo after each test of the calling file (or `describe` block), last pushed first.
 * Every one runs even when an earlier one throws; the first error then fails the test.
 */
export function cleanupsAfterEach(): Cleanups {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return cleanups;
}

/** A fresh directory under the OS temp dir (`hcp-{prefix}-…`), removed after the test. */
export function tempDir(cleanups: Cleanups, prefix: string): string {
  const dir = makeTempDir(prefix);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
