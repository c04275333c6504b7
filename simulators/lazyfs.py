#!/usr/bin/python3
"""
A lazy FUSE passthrough for power-cut tests (after Jepsen's LazyFS and SQLite's crash VFS).

    /usr/bin/python3 simulators/lazyfs.py BACKING MOUNTPOINT

Everything under MOUNTPOINT is BACKING, except that data writes stay in this process's memory
until they are made durable: fsync or fdatasync of a file applies that file's pending writes
and truncations to BACKING, in the order they were made. Reads see the pending writes over the
backing bytes, and sizes include them. A power cut throws the pending writes away (or keeps a
random part of them, see `cut`) and ends this process at once, so the mount is dead until it is
unmounted (`umount -l MOUNTPOINT`) and mounted again over the same BACKING.

Modelled: the page cache of a disk that loses power, and a disk that fills up (space counted in
4 KiB blocks of logical size, holes counted). Not modelled: metadata durability
(create, unlink, rename, link, mkdir, chmod, utimens reach BACKING at once, as if the directory
were always synced); media errors, bit rot, misdirected writes; writes being lost after a
successful fsync (a lying disk).

Control, one command per line on stdin, one JSON line per answer on stdout:

    cut [drop|torn|reorder] [SEED]   the power cut; answers with what was kept, then exits
        drop     every pending write is lost (the default)
        torn     per file, the pending writes survive in order up to a random byte, the one
                 holding that byte torn there (a disk that wrote back in order and stopped)
        reorder  per file, each pending write survives or not on its own, some of them torn
                 (a disk that reorders its write-back, as SQLite's crash tests assume)
    full on|off   a full disk: from now on files may grow only into space freed since (by a
                  truncation or an unlink); beyond it writes fail with ENOSPC; statfs shows it
    sync          applies every pending write (sync(1)); the answer says how many
    stats         pending files, writes and bytes
    unmount       applies every pending write and unmounts (a clean shutdown)

End of stdin is `unmount`. The first line on stdout is {"ready": true} once the mount is up.
Needs python3-fusepy (Debian) and /dev/fuse; mounting needs root.
"""
import errno
import json
import os
import random
import stat
import subprocess
import sys
import threading

try:
    from fusepy import FUSE, FuseOSError, Operations
except ImportError:  # pip's fusepy is named fuse
    from fuse import FUSE, FuseOSError, Operations  # type: ignore


BLOCK = 4096


def blocks(size):
    """Blocks a file of `size` bytes takes (no holes: a sparse file counts in full)."""
    return (size + BLOCK - 1) // BLOCK


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Node:
    """One backing inode: a read-write descriptor, its logical size and its pending ops."""

    __slots__ = ("fd", "size", "ops", "opens", "key")

    def __init__(self, fd, key):
        self.fd = fd
        self.size = os.fstat(fd).st_size
        # ("w", offset, bytearray) or ("t", length), oldest first
        self.ops = []
        self.opens = 0
        self.key = key

    def pending_bytes(self):
        return sum(len(op[2]) for op in self.ops if op[0] == "w")

    def apply(self, ops):
        for op in ops:
            if op[0] == "w":
                os.pwrite(self.fd, op[2], op[1])
            else:
                os.ftruncate(self.fd, op[1])

    def flush(self):
        n = len(self.ops)
        self.apply(self.ops)
        self.ops = []
        return n


class LazyFS(Operations):
    use_ns = True

    def __init__(self, root, mountpoint):
        self.root = os.path.realpath(root)
        self.mountpoint = os.path.realpath(mountpoint)
        self.mutex = threading.RLock()
        self.nodes = {}  # (st_dev, st_ino) -> Node, for files reachable by a name
        self.handles = {}  # fh -> Node
        self.next_fh = 1
        # A full disk: blocks that may still be allocated (None: as many as the backing disk has).
        # Growing a file past its last block takes from it, shrinking or unlinking one gives back.
        self.free = None
        self.dead = False

    # ---- helpers ----
    def real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def check(self):
        if self.dead:
            raise FuseOSError(errno.EIO)

    def node_for_fd(self, fd):
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        node = self.nodes.get(key)
        if node is None:
            node = Node(fd, key)
            self.nodes[key] = node
        else:
            os.close(fd)
        return node

    def node_for_path(self, path):
        """The node of a regular file by name, made when needed (a truncate(2) of a closed file)."""
        fd = os.open(self.real(path), os.O_RDWR)
        return self.node_for_fd(fd)

    def live_node(self, path):
        try:
            st = os.lstat(self.real(path))
        except FileNotFoundError:
            return None
        return self.nodes.get((st.st_dev, st.st_ino))

    def forget_if_idle(self, node):
        if node.opens == 0 and not node.ops:
            if self.nodes.get(node.key) is node:
                del self.nodes[node.key]
            os.close(node.fd)

    def orphan(self, real_path):
        """The name is about to go (unlink, rename over): its inode may lose its last link."""
        try:
            st = os.lstat(real_path)
        except FileNotFoundError:
            return
        node = self.nodes.get((st.st_dev, st.st_ino))
        if node is not None and st.st_nlink <= 1:
            # no name will reach it again, and the backing file system may reuse the number
            del self.nodes[node.key]
            node.key = None
            if node.opens == 0:
                os.close(node.fd)

    def fh_node(self, fi):
        node = self.handles.get(fi.fh)
        if node is None:
            raise FuseOSError(errno.EBADF)
        return node

    # ---- data: held until fsync ----
    def read(self, path, size, offset, fi):
        with self.mutex:
            self.check()
            node = self.fh_node(fi)
            end = min(offset + size, node.size)
            if end <= offset:
                return b""
            buf = bytearray(os.pread(node.fd, end - offset, offset))
            if len(buf) < end - offset:
                buf.extend(bytes(end - offset - len(buf)))
            for op in node.ops:
                if op[0] == "w":
                    o, data = op[1], op[2]
                    lo, hi = max(o, offset), min(o + len(data), end)
                    if lo < hi:
                        buf[lo - offset:hi - offset] = data[lo - o:hi - o]
                elif op[1] < end:
                    lo = max(op[1], offset)
                    buf[lo - offset:] = bytes(end - lo)
            return bytes(buf)

    def write(self, path, data, offset, fi):
        with self.mutex:
            self.check()
            node = self.fh_node(fi)
            end = offset + len(data)
            self.allocate(node.size, max(end, node.size))
            last = node.ops[-1] if node.ops else None
            if last is not None and last[0] == "w" and last[1] + len(last[2]) == offset:
                last[2].extend(data)  # an append to the last pending write: one op
            else:
                node.ops.append(("w", offset, bytearray(data)))
            node.size = max(node.size, end)
            return len(data)

    def truncate(self, path, length, fi=None):
        with self.mutex:
            self.check()
            if fi is not None:
                node = self.fh_node(fi)
                self.pend_truncate(node, length)
            else:
                node = self.node_for_path(path)
                self.pend_truncate(node, length)
                self.forget_if_idle(node)
            return 0

    def pend_truncate(self, node, length):
        self.allocate(node.size, length)
        node.ops.append(("t", length))
        node.size = length

    def allocate(self, old_size, new_size):
        if self.free is None:
            return
        growth = blocks(new_size) - blocks(old_size)
        if growth > self.free:
            raise FuseOSError(errno.ENOSPC)
        self.free -= growth  # a negative growth frees blocks

    def give_back(self, real_path):
        """A name is going (unlink, rename over): on a full disk its last link frees its bytes."""
        st = os.lstat(real_path)
        if self.free is not None and stat.S_ISREG(st.st_mode) and st.st_nlink <= 1:
            node = self.nodes.get((st.st_dev, st.st_ino))
            self.free += blocks(node.size if node is not None else st.st_size)

    def fsync(self, path, datasync, fi):
        with self.mutex:
            self.check()
            self.fh_node(fi).flush()
            return 0

    def flush(self, path, fi):
        with self.mutex:
            self.check()
            return 0  # close(2) is not a sync

    # ---- files ----
    def open(self, path, fi):
        with self.mutex:
            self.check()
            fd = os.open(self.real(path), os.O_RDWR)
            node = self.node_for_fd(fd)
            node.opens += 1
            fh = self.next_fh
            self.next_fh += 1
            self.handles[fh] = node
            fi.fh = fh
            return 0

    def create(self, path, mode, fi):
        with self.mutex:
            self.check()
            flags = os.O_RDWR | os.O_CREAT | (fi.flags & os.O_EXCL)
            fd = os.open(self.real(path), flags, mode)
            node = self.node_for_fd(fd)
            node.opens += 1
            fh = self.next_fh
            self.next_fh += 1
            self.handles[fh] = node
            fi.fh = fh
            return 0

    def release(self, path, fi):
        with self.mutex:
            node = self.handles.pop(fi.fh, None)
            if node is None:
                return 0
            node.opens -= 1
            if node.key is None:
                if node.opens == 0:
                    os.close(node.fd)  # unlinked: its pending writes go nowhere
            else:
                self.forget_if_idle(node)
            return 0

    def getattr(self, path, fi=None):
        with self.mutex:
            self.check()
            node = None
            if fi is not None:
                node = self.handles.get(fi.fh)
            if node is not None:
                st = os.fstat(node.fd)
            elif path is None:
                raise FuseOSError(errno.EBADF)
            else:
                st = os.lstat(self.real(path))
                node = self.nodes.get((st.st_dev, st.st_ino)) if stat.S_ISREG(st.st_mode) else None
            attrs = {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns", "st_mtime_ns", "st_ctime_ns", "st_ino", "st_dev")}
            attrs["st_atime"] = attrs.pop("st_atime_ns")
            attrs["st_mtime"] = attrs.pop("st_mtime_ns")
            attrs["st_ctime"] = attrs.pop("st_ctime_ns")
            if node is not None:
                attrs["st_size"] = node.size
            attrs["st_blocks"] = (attrs["st_size"] + 511) // 512
            return attrs

    # ---- metadata: passes through at once ----
    def access(self, path, amode):
        self.check()
        if not os.access(self.real(path), amode):
            raise FuseOSError(errno.EACCES)
        return 0

    def chmod(self, path, mode):
        self.check()
        os.chmod(self.real(path), mode)
        return 0

    def chown(self, path, uid, gid):
        self.check()
        os.lchown(self.real(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        self.check()
        os.utime(self.real(path), ns=times, follow_symlinks=False) if times else os.utime(self.real(path))
        return 0

    def mkdir(self, path, mode):
        self.check()
        os.mkdir(self.real(path), mode)
        return 0

    def rmdir(self, path):
        self.check()
        os.rmdir(self.real(path))
        return 0

    def mknod(self, path, mode, dev):
        self.check()
        os.mknod(self.real(path), mode, dev)
        return 0

    def unlink(self, path):
        with self.mutex:
            self.check()
            real = self.real(path)
            self.give_back(real)
            self.orphan(real)
            os.unlink(real)
            return 0

    def rename(self, old, new):
        with self.mutex:
            self.check()
            target = self.real(new)
            if os.path.lexists(target) and not os.path.isdir(target):
                self.give_back(target)
                self.orphan(target)
            os.rename(self.real(old), target)
            return 0

    def link(self, target, source):
        self.check()
        os.link(self.real(source), self.real(target))
        return 0

    def symlink(self, target, source):
        self.check()
        os.symlink(source, self.real(target))
        return 0

    def readlink(self, path):
        self.check()
        return os.readlink(self.real(path))

    def readdir(self, path, fi):
        self.check()
        return [".", ".."] + os.listdir(self.real(path))

    def fsyncdir(self, path, datasync, fi):
        self.check()
        return 0  # metadata is never held back

    def statfs(self, path):
        self.check()
        sv = os.statvfs(self.real(path))
        out = {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}
        if self.free is not None:
            out["f_bavail"] = out["f_bfree"] = self.free * BLOCK // out["f_frsize"]
        return out

    def destroy(self, path):
        # a clean unmount (SIGTERM, `unmount`, end of stdin): what is pending is written
        with self.mutex:
            if not self.dead:
                self.sync_all()

    # ---- control ----
    def all_nodes(self):
        seen = {}
        for node in list(self.nodes.values()) + list(self.handles.values()):
            seen[id(node)] = node
        return list(seen.values())

    def sync_all(self):
        ops = 0
        for node in self.all_nodes():
            if node.key is not None:
                ops += node.flush()
        return ops

    def stats(self):
        nodes = [n for n in self.all_nodes() if n.ops]
        return {"files": len(nodes), "ops": sum(len(n.ops) for n in nodes), "bytes": sum(n.pending_bytes() for n in nodes)}

    def cut(self, mode, seed):
        rand = random.Random(seed)
        report = {"cut": mode, "seed": seed, "files": 0, "ops": 0, "kept": 0, "torn": 0, "pendingBytes": 0, "droppedBytes": 0}
        for node in self.all_nodes():
            if node.key is None or not node.ops:
                continue  # an unlinked file's writes go nowhere whatever happens
            ops = node.ops
            report["files"] += 1
            report["ops"] += len(ops)
            keep = []
            if mode == "torn":
                # the write-back went in order and stopped at a random byte of what was pending
                budget = rand.randint(0, node.pending_bytes())
                for op in ops:
                    if op[0] == "t":
                        if budget == 0:
                            break
                        keep.append(op)
                    elif budget >= len(op[2]):
                        keep.append(op)
                        budget -= len(op[2])
                    else:
                        if budget > 0:
                            keep.append(("w", op[1], op[2][:budget]))
                            report["torn"] += 1
                        break
            elif mode == "reorder":
                for op in ops:
                    if rand.random() < 0.5:
                        continue
                    if op[0] == "w" and len(op[2]) > 1 and rand.random() < 0.25:
                        # a torn write keeps a stretch of its bytes at either end or inside
                        a = rand.randint(0, len(op[2]) - 1)
                        b = rand.randint(a + 1, len(op[2]))
                        keep.append(("w", op[1] + a, op[2][a:b]))
                        report["torn"] += 1
                    else:
                        keep.append(op)
            node.apply(keep)
            report["kept"] += len(keep)
            report["pendingBytes"] += node.pending_bytes()
            report["droppedBytes"] += node.pending_bytes() - sum(len(op[2]) for op in keep if op[0] == "w")
            node.ops = []
        return report

    def control(self):
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            verb = words[0]
            try:
                with self.mutex:
                    if verb == "cut":
                        mode = words[1] if len(words) > 1 else "drop"
                        if mode not in ("drop", "torn", "reorder"):
                            say({"error": f"cut mode must be drop, torn or reorder, got {mode}"})
                            continue
                        seed = int(words[2]) if len(words) > 2 else random.randrange(2**31)
                        self.dead = True
                        report = self.cut(mode, seed)
                        say(report)
                        # the machine is off: nothing more reaches the disk, the mount is dead
                        os._exit(0)
                    elif verb == "full":
                        self.free = 0 if len(words) > 1 and words[1] == "on" else None
                        say({"full": self.free is not None})
                    elif verb == "sync":
                        say({"synced": self.sync_all()})
                    elif verb == "stats":
                        say(self.stats())
                    elif verb == "unmount":
                        break
                    else:
                        say({"error": f"unknown command {verb}: cut, full, sync, stats, unmount"})
            except OSError as error:
                say({"error": str(error)})
        # `unmount` or the owner went away: a clean shutdown (destroy() writes what is pending)
        subprocess.run(["umount", "-l", self.mountpoint], check=False)

    def init(self, path):
        threading.Thread(target=self.control, daemon=True).start()
        say({"ready": True})


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: lazyfs.py BACKING MOUNTPOINT\n")
        return 2
    backing, mountpoint = argv[1], argv[2]
    FUSE(LazyFS(backing, mountpoint), mountpoint, raw_fi=True, foreground=True, nothreads=False, big_writes=True, hard_remove=True, use_ino=True, fsname="lazyfs", subtype="lazyfs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
