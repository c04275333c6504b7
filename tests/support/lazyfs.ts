/**
 * Power cuts for tests and the chaos run: drives simulators/lazyfs.py, a FUSE passthrough that
 * holds data writes in memory until they are fsynced. A cut throws away what was not synced
 * (or keeps a random part of it) and leaves the mount dead; `remount` brings the "disk" back as
 * it was left. kill -9 alone keeps the kernel's page cache and cannot show a missing fsync.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './processes.js';

const PYTHON = '/usr/bin/python3';
const DAEMON = join(ROOT, 'simulators', 'lazyfs.py');

/** What a cut kept of the pending writes. */
export type CutMode = 'drop' | 'torn' | 'reorder';

export interface CutReport {
  cut: CutMode;
  seed: number;
  /** Files that had pending writes. */
  files: number;
  /** Pending writes and truncations, and how many of them reached the disk anyway. */
  ops: number;
  kept: number;
  /** Writes that reached the disk in part. */
  torn: number;
  /** Bytes written and not synced at the cut, and how many of them did not reach the disk. */
  pendingBytes: number;
  droppedBytes: number;
}

export interface PendingStats {
  files: number;
  ops: number;
  bytes: number;
}

/**
 * Fails with the install command when FUSE or fusepy is missing (tests never skip). Debian's
 * python3-fusepy lives in the system Python, so the daemon runs on /usr/bin/python3.
 */
export function requireLazyFs(): void {
  const install = 'run `apt-get install -y python3-fusepy` (and have /dev/fuse: `modprobe fuse`; mounting needs root)';
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: ${install}`);
  const probe = spawnSync(PYTHON, ['-c', 'import fusepy']);
  if (probe.status !== 0) throw new Error(`python3-fusepy is not installed: ${install}`);
  if (!existsSync('/dev/fuse')) throw new Error(`/dev/fuse is missing: ${install}`);
  if (process.getuid?.() !== 0) throw new Error(`lazyfs mounts need root here: ${install}`);
}

/** `umount -l`: works on a live mount and on one whose daemon is gone. */
function lazyUnmount(mountpoint: string): void {
  spawnSync('umount', ['-l', mountpoint]);
}

function mounted(mountpoint: string): boolean {
  const r = spawnSync('mountpoint', ['-q', mountpoint]);
  return r.status === 0;
}

export class LazyFs {
  /** Cuts so far, and what they dropped. */
  readonly history: CutReport[] = [];
  private child: ChildProcessWithoutNullStreams | undefined;
  private replies: ((line: Record<string, unknown>) => void)[] = [];
  private exited: Promise<void> = Promise.resolve();
  private stderr: string[] = [];

  private constructor(
    /** Where the data really is (the "disk"). */
    readonly backing: string,
    /** Where programs read and write through the lazy layer. */
    readonly mountpoint: string,
  ) {}

  /** Mounts `dir/mnt` over `dir/disk` (both made if missing); resolves once it is up. */
  static async mount(dir: string): Promise<LazyFs> {
    requireLazyFs();
    const fs = new LazyFs(join(dir, 'disk'), join(dir, 'mnt'));
    mkdirSync(fs.backing, { recursive: true });
    mkdirSync(fs.mountpoint, { recursive: true });
    await fs.start();
    return fs;
  }

  get up(): boolean {
    return this.child !== undefined && this.child.exitCode === null;
  }

  /**
   * The power cut: pending writes are dropped (or partly kept, by `mode`), the daemon exits,
   * the dead mount is detached. Kill the programs using the mount before or right after.
   */
  async cut(mode: CutMode = 'drop', seed = Math.floor(Math.random() * 2 ** 31)): Promise<CutReport> {
    const report = (await this.command(`cut ${mode} ${seed}`)) as unknown as CutReport;
    await this.exited;
    lazyUnmount(this.mountpoint);
    this.history.push(report);
    return report;
  }

  /** Power back on: a new daemon over the same disk. */
  async remount(): Promise<void> {
    if (this.up) throw new Error('lazyfs is still mounted: cut or unmount it first');
    await this.start();
  }

  /** A full disk (ENOSPC on growing writes, no free space in statfs), or space again. */
  async full(on: boolean): Promise<void> {
    await this.command(`full ${on ? 'on' : 'off'}`);
  }

  /** Everything pending made durable, as sync(1) does; resolves with the writes applied. */
  async sync(): Promise<number> {
    return (await this.command('sync'))['synced'] as number;
  }

  async stats(): Promise<PendingStats> {
    return (await this.command('stats')) as unknown as PendingStats;
  }

  /** A clean shutdown: pending writes are written, then the mount goes away. Idempotent. */
  async unmount(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      child.stdin.end('unmount\n');
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await this.exited;
    }
    if (mounted(this.mountpoint)) lazyUnmount(this.mountpoint);
  }

  private async start(): Promise<void> {
    if (mounted(this.mountpoint)) lazyUnmount(this.mountpoint);
    const child = spawn(PYTHON, [DAEMON, this.backing, this.mountpoint], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.stderr = [];
    this.replies = [];
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    createInterface({ input: child.stderr }).on('line', (line) => this.stderr.length < 50 && this.stderr.push(line));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lazyfs did not mount ${this.mountpoint} within 10 s: ${this.stderr.join(' | ')}`)), 10_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`lazyfs exited with ${code} before mounting: ${this.stderr.join(' | ')}`));
      });
      this.replies.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      this.replies.shift()?.(parsed);
    });
    await ready;
  }

  private command(line: string): Promise<Record<string, unknown>> {
    const child = this.child;
    if (!child || child.exitCode !== null) return Promise.reject(new Error(`lazyfs is not mounted (command ${line})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lazyfs did not answer ${line} within 10 s`)), 10_000);
      const gone = () => reject(new Error(`lazyfs exited before answering ${line}: ${this.stderr.join(' | ')}`));
      child.once('close', gone);
      this.replies.push((reply) => {
        clearTimeout(timer);
        child.off('close', gone);
        if (typeof reply['error'] === 'string') reject(new Error(`lazyfs: ${reply['error']}`));
        else resolve(reply);
      });
      child.stdin.write(`${line}\n`);
    });
  }
}
