"""FileTransferManager (T1, T5, T6, T7; design §4.1, §4.2.3.1–2).

System scp first, SFTP (paramiko) as the fallback, by the error table of §4.1.4:
  command missing       -> fall back at once
  authentication failed -> no fallback, 3 tries (inside the session/engine)
  network timeout       -> reconnect by the 'transfer' policy and retry (resuming), 3 tries,
                           then fall back
  permission / disk full-> no retry; the message says which and where
Every upload goes to <dest>.part, resumes from it, is verified by sha256 on the node and
moved into place atomically; a node that already has the same sha256 is skipped.
"""
import hashlib
import logging
import os
import shutil
import threading
import time
import zlib

from drupgrade.i18n import _

from . import failures, owned, quoting
from .policy import Endpoint
from .progress import Reporter, TransferProgress, human_duration, human_size, human_speed
from .quoting import SHA_FN, bash_c, check_remote_path
from .result import CommandResult
from .scp import ScpEngine
from .sftp import EngineFailure, SftpEngine
from .ssh import SessionPool

log = logging.getLogger("drupgrade.transport")

METHODS = ("auto", "scp", "sftp")
COMPRESSED_EXT = (".gz", ".tgz", ".xz", ".txz", ".bz2", ".tbz2", ".zst", ".zip", ".7z", ".rar", ".lz4",
                  ".rpm", ".deb", ".jar", ".war", ".png", ".jpg", ".jpeg", ".gif", ".mp4", ".iso", ".lzma")
SLOW_LINK = 20 * 1024 * 1024  # bytes/s: below this, compressing text pays off
DISK_MARGIN = 1024 * 1024  # free space left beside the file before sending
FULL = 1024 * 1024  # below this much free space after a failed write, the disk ran full

PROBE = r"""set -u -o pipefail
dest=$1 part=$2 dir=$3 want_sha=$4
mkdir -p -- "$dir" 2>/dev/null || { echo "cannot create $dir: Permission denied" >&2; exit 12; }
[ -w "$dir" ] || { echo "$dir: Permission denied" >&2; exit 12; }
""" + SHA_FN + r"""
sum=-
if [ "$want_sha" = 1 ] && [ -f "$dest" ]; then sum=$(sha "$dest"); fi
psize=0
if [ -f "$part" ]; then
  # Writers of a cut attempt may live on (sshd keeps a cut session) and still append what
  # the dead client's kernel retransmits after the link is back: stop them before we read
  # the size we resume from.
  find /proc/[0-9]*/fd -maxdepth 1 -lname "$part" 2>/dev/null | while IFS=/ read -r _ _ pid _; do
    [ "$pid" = "$$" ] || kill -9 "$pid" 2>/dev/null || true
  done
  psize=$(stat -c %s -- "$part")
fi
avail=$(df -Pk -- "$dir" | awk 'NR==2 {print $4}')
echo "sha=$sum part=$psize avail=${avail:-0}"
"""

# The engine could not hash while writing (SFTP): hash the partial now, then move it.
FINALIZE = r"""set -u -o pipefail
part=$1 dest=$2 want=$3
""" + SHA_FN + r"""
got=$(sha "$part")
if [ "$got" != "$want" ]; then rm -f -- "$part"; echo "sha256 mismatch: $got" >&2; exit 20; fi
mv -f -- "$part" "$dest"
"""

# The hash taken while writing matched: check the size and move into place.
COMMIT = r"""set -u
part=$1 dest=$2 size=$3
got=$(stat -c %s -- "$part")
[ "$got" = "$size" ] || { echo "size $got, expected $size" >&2; exit 21; }
mv -f -- "$part" "$dest"
"""

REMOTE_SUM = r"""set -u -o pipefail
[ -f "$1" ] || { echo "$1: No such file or directory" >&2; exit 2; }
""" + SHA_FN + r"""
echo "size=$(stat -c %s -- "$1") sha=$(sha "$1")"
"""

# A directory upload goes into $1/tree, $1 being a staging dir with the tool's marker (so a
# failed attempt's leftovers are ours to remove); the commit marks the tree and moves it over
# the destination, which is replaced only when the tool created it (scripts/lib/owned.sh).
TREE_PREPARE = owned.script(r"""set -u
owned::remove "$1" && owned::mark "$1" "created_by=drupgrade upload_directory (staging)"
""")

TREE_COMMIT = owned.script(r"""set -u
owned::mark "$1/tree" "created_by=drupgrade upload_directory" && owned::remove "$2" &&
  mv -f -- "$1/tree" "$2" && owned::remove "$1"
""")

# The stale unpacked tool dir (§4.2.3.1): removed only when drupgrade created it (one unpacked
# by a drupgrade without markers is adopted first: owned::adopt_tool_dir).
REMOVE_TOOL_DIR = owned.script(r"""set -u
owned::adopt_tool_dir "$1"
if [ -e "$1" ]; then owned::remove "$1" && echo removed; fi
""")


def _kv(text):
    return dict(kv.split("=", 1) for kv in (text or "").split() if "=" in kv)


def is_compressible(path, sample=256 * 1024):
    """T6: never for compressed files; for others, a zlib level-1 test on a sample."""
    if path.lower().endswith(COMPRESSED_EXT):
        return False
    try:
        with open(path, "rb") as f:
            data = f.read(sample)
    except OSError:
        return False
    if len(data) < 4096:
        return False
    return len(zlib.compress(data, 1)) < 0.6 * len(data)


class TransferResult(object):
    """What one transfer did: action is uploaded | replaced | resumed | skipped | downloaded."""

    def __init__(self, node, local, remote, method, action, size, sent, seconds, sha256, fallbacks):
        self.node = node
        self.local = local
        self.remote = remote
        self.method = method
        self.action = action
        self.size = size
        self.sent = sent
        self.seconds = seconds
        self.sha256 = sha256
        self.fallbacks = fallbacks  # [(from, to, reason)]

    def as_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "TransferResult(%s %s %s via %s, %d/%d bytes sent, %.2fs)" % (
            self.node, self.action, self.remote, self.method, self.sent, self.size, self.seconds)


class FileTransferManager(object):
    """upload_file, upload_package, upload_tool_package, upload_directory, download_file,
    get_transfer_progress: one interface over the scp and SFTP engines."""

    def __init__(self, settings, pool=None, reporter=None):
        if settings.method not in METHODS:
            raise ValueError("[transfer] method %r" % (settings.method,))
        self.settings = settings
        self.pool = pool or SessionPool(settings)
        self._own_pool = pool is None
        self.reporter = reporter or Reporter()
        self._engines = {}
        self._progress = []
        self._sha_cache = {}
        self._link_speed = {}
        self._method = None
        self._lock = threading.Lock()

    # -- method and engines ------------------------------------------------------
    def detect_transfer_method(self):
        """'scp' or 'sftp': forced by [transfer] method, else scp when the command exists."""
        with self._lock:
            if self._method is None:
                forced = self.settings.method
                if forced in ("scp", "sftp"):
                    log.info(_("transfer mode forced by configuration: {method}").format(method=forced.upper()))
                    self._method = forced
                elif shutil.which("scp") and shutil.which("ssh"):
                    log.info(_("scp command found, using SCP transfer mode"))
                    self._method = "scp"
                else:
                    log.warning(_("scp command not found, using SFTP transfer mode"))
                    self._method = "sftp"
            return self._method

    def _engine(self, ep, method, compress=False):
        key = (ep.name, method, compress)
        with self._lock:
            eng = self._engines.get(key)
            if eng is None:
                if method == "scp":
                    eng = ScpEngine(self.pool.session(ep, "transfer", compress=compress))
                else:
                    eng = SftpEngine(ep, self.settings, "transfer", compress=compress)
                self._engines[key] = eng
            return eng

    def _compress(self, ep, path):
        """[transfer] compression: never, always, or auto (T6: compressible data on a slow link)."""
        if self.settings.compression in ("never", "always"):
            return self.settings.compression == "always"
        speed = self._link_speed.get(ep.name)
        if speed is None or speed >= SLOW_LINK or not is_compressible(path):
            return False
        log.info(_("{node}: compressing {file} (compressible data, link at {speed})").format(
            node=ep.name, file=os.path.basename(path), speed=human_speed(speed)))
        return True

    # -- helpers -------------------------------------------------------------------
    def local_sha256(self, path):
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns if hasattr(st, "st_mtime_ns") else st.st_mtime)
        with self._lock:
            if key in self._sha_cache:
                return self._sha_cache[key]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while True:
                b = f.read(4 * 1024 * 1024)
                if not b:
                    break
                h.update(b)
        digest = h.hexdigest()
        with self._lock:
            self._sha_cache[key] = digest
        return digest

    def _track(self, progress):
        with self._lock:
            self._progress.append(progress)
        return progress

    def get_transfer_progress(self):
        """Snapshots (dicts) of every transfer of this manager: file, percent, speed, eta…"""
        with self._lock:
            return [p.snapshot() for p in self._progress]

    def _retrying(self, ep, path, part, progress, attempt, where=None):
        """Run attempt(engine, method) under the §4.1.4 rules; returns (result, method, fallbacks).
        part: the node's partial file (removed when the disk runs full while writing it);
        where: the node path a permission/disk-full message names (default: part, else path)."""
        method = self.detect_transfer_method()
        auto = self.settings.method == "auto"
        fallbacks = []
        tries = 0
        while True:
            engine = self._engine(ep, method, getattr(progress, "compress", False))
            try:
                return attempt(engine, method), method, fallbacks
            except EngineFailure as e:
                kind = e.kind
                if kind == failures.MISSING and method == "scp" and auto:
                    fallbacks.append(self._fall_back(ep, path, failures.reason_text(kind), e.detail))
                    method, tries = "sftp", 0
                    continue
                if kind == failures.OTHER and self._disk_full(engine, part):
                    kind = failures.DISK_FULL
                if kind in (failures.PERMISSION, failures.DISK_FULL):
                    progress.finish("failed")
                    where = where or part or path
                    if kind == failures.PERMISSION:
                        raise failures.RemotePermissionDenied(ep.name, where, e.detail) from e
                    raise failures.RemoteDiskFull(ep.name, where, partial_removed=self._drop_partial(engine, part)) \
                        from e
                tries += 1
                log.warning(_("{node}: transfer of {file} failed ({reason}: {detail}), try {n}/{tries}").format(
                    node=ep.name, file=os.path.basename(path), reason=failures.reason_text(kind), detail=e.detail,
                    n=tries, tries=self.settings.retries))
                try:
                    if kind == failures.NETWORK or engine.lost():
                        engine.reconnect(e.detail)
                except failures.ConnectionNotRecoverable as c:
                    progress.finish("failed")
                    raise failures.TransferFailed(ep.name, path, str(c), failures.NETWORK, partial=part) from c
                if tries >= self.settings.retries:
                    if method == "scp" and auto:
                        fallbacks.append(self._fall_back(ep, path, failures.reason_text(kind), e.detail))
                        method, tries = "sftp", 0
                        continue
                    progress.finish("failed")
                    raise failures.TransferFailed(ep.name, path, e.detail, kind, partial=part) from e
            except failures.ConnectionNotRecoverable as c:
                progress.finish("failed")
                raise failures.TransferFailed(ep.name, path, str(c), failures.NETWORK, partial=part) from c
            except failures.TransportError:
                progress.finish("failed")
                raise

    def _fall_back(self, ep, path, reason, detail):
        log.warning(_("SCP transfer failed, falling back to SFTP mode: {reason} ({detail})").format(
            reason=reason, detail=detail))
        return ("scp", "sftp", reason)

    @staticmethod
    def _drop_partial(engine, part):
        """The node's filesystem ran full while we wrote: give the space back at once (a full
        filesystem stops the product's database and logs on that node). True when removed."""
        if not part:
            return False
        try:
            return engine.execute(quoting.join(["rm", "-f", "--", part])).rc == 0
        except (EngineFailure, failures.TransportError) as e:
            log.debug("could not remove %s: %s", part, e)
            return False

    def _disk_full(self, engine, part):
        """An opaque 'Failure' from SFTP is most often a full disk: ask df."""
        if not part:
            return False
        try:
            res = engine.execute(bash_c("df -Pk -- \"${1%/*}\" | awk 'NR==2 {print $4}'", part))
            return res.rc == 0 and int(res.stdout.strip() or 0) * 1024 < FULL
        except (EngineFailure, failures.TransportError, ValueError):
            return False

    # -- uploads -------------------------------------------------------------------
    def upload_file(self, local_path, remote_path, node, skip_identical=True):
        # type: (str, str, object, bool) -> TransferResult
        """Upload one file (§4.2.3.2): skip when the node has the same sha256, replace when it
        differs, resume from <remote>.part, verify by sha256, move into place atomically."""
        ep = Endpoint.of(node)
        check_remote_path(remote_path)
        size = os.path.getsize(local_path)
        part = remote_path + ".part"
        rdir = os.path.dirname(remote_path) or "/"
        progress = self._track(TransferProgress(ep.name, remote_path, size, self.detect_transfer_method()))
        progress.compress = self._compress(ep, local_path)
        sha_box = {}
        hasher = threading.Thread(target=lambda: sha_box.setdefault("sha", self.local_sha256(local_path)))
        hasher.daemon = True
        hasher.start()
        state = {"action": None, "started": False}

        def attempt(engine, method):
            res = engine.execute(bash_c(PROBE, remote_path, part, rdir, 1 if skip_identical else 0))
            if res.rc == 12:
                raise EngineFailure(failures.PERMISSION, failures.last_line(res.stderr))
            if res.rc != 0:
                raise EngineFailure(failures.classify(res.stderr, res.rc), failures.last_line(res.stderr))
            info = _kv(res.stdout)
            remote_sha = info.get("sha", "-")
            if skip_identical and remote_sha != "-":
                hasher.join()  # needed now only to decide skip or replace
            sha = sha_box.get("sha")
            if skip_identical and remote_sha == sha:
                # Before any byte was sent: skipped. After a lost link: our own finished upload.
                return ("skipped" if not state["started"] else state["action"]), sha
            if state["action"] is None:
                state["action"] = "replaced" if remote_sha != "-" else "uploaded"
                if state["action"] == "replaced":
                    log.info(_("{node}: {path} differs from {file} (sha256), replacing it").format(
                        node=ep.name, path=remote_path, file=os.path.basename(local_path)))
            offset = int(info.get("part", 0) or 0)
            if offset > size:
                engine.execute(quoting.join(["rm", "-f", "--", part]))
                offset = 0
            avail = int(info.get("avail", 0) or 0) * 1024
            if avail < size - offset + DISK_MARGIN:
                raise failures.RemoteDiskFull(ep.name, rdir, human_size(size - offset), human_size(avail))
            if not state["started"]:
                state["started"] = True
                log.info(_("starting transfer of file: {file} ({size}) to {node}:{path} [{method}]").format(
                    file=os.path.basename(local_path), size=human_size(size), node=ep.name, path=remote_path,
                    method=method.upper()))
            if offset:
                state["action"] = "resumed"
                log.info(_("{node}: resuming {file} from its partial file at {done} of {size}").format(
                    node=ep.name, file=os.path.basename(local_path), done=human_size(offset), size=human_size(size)))
            progress.begin_attempt(offset, method)
            ticker = _Ticker(self.reporter, progress)
            try:
                node_sha = engine.put(local_path, part, offset, progress)
            finally:
                ticker.stop()
            hasher.join()
            sha = sha_box["sha"]
            if node_sha is None:  # the engine could not hash while writing: read it once more
                fin = engine.execute(bash_c(FINALIZE, part, remote_path, sha))
            elif node_sha == sha:
                fin = engine.execute(bash_c(COMMIT, part, remote_path, size))
            else:
                engine.execute(quoting.join(["rm", "-f", "--", part]))
                fin = CommandResult(ep.name, "", 20, "", "sha256 mismatch: " + node_sha)
            if fin.rc == 20:
                if offset:
                    # The partial did not match the file: start over, once, from byte 0.
                    log.warning(_("{node}: the resumed file did not verify (sha256); sending it again in full").format(
                        node=ep.name))
                    raise EngineFailure(failures.OTHER, failures.last_line(fin.stderr))
                raise failures.TransferFailed(ep.name, remote_path, failures.last_line(fin.stderr))
            if fin.rc != 0:
                raise EngineFailure(failures.classify(fin.stderr, fin.rc), failures.last_line(fin.stderr))
            return state["action"], sha

        t0 = time.time()
        (action, sha), method, fallbacks = self._retrying(ep, local_path, part, progress, attempt)
        seconds = time.time() - t0
        if action == "skipped":
            progress.finish("skipped")
            log.info(_("{node}: {path} already has the same sha256, upload skipped").format(
                node=ep.name, path=remote_path))
        else:
            progress.finish("done")
            avg = progress.sent / seconds if seconds > 0 else 0
            if progress.sent > 1024 * 1024:
                self._link_speed[ep.name] = avg
            log.info(_("{node}: transfer complete: {file}, average speed {speed}, elapsed {elapsed}").format(
                node=ep.name, file=os.path.basename(local_path), speed=human_speed(avg),
                elapsed=human_duration(seconds)))
        self.reporter.update(progress)
        return TransferResult(ep.name, local_path, remote_path, method, action, size, progress.sent, seconds, sha,
                              fallbacks)

    def upload_package(self, local_path, remote_dir, node):
        """The product package (§4.2.3.2) into remote_dir under its own name."""
        return self.upload_file(local_path, remote_dir.rstrip("/") + "/" + os.path.basename(local_path), node)

    def upload_tool_package(self, local_path, remote_dir, node, unpacked_dir):
        """The tool package (§4.2.3.1): a stale unpacked tool dir is removed first, when drupgrade
        created it (else owned.NotOwned, and the directory is left as it is)."""
        ep = Endpoint.of(node)
        check_remote_path(unpacked_dir)
        session = self.pool.session(ep, "control")
        res = session.run(bash_c(REMOVE_TOOL_DIR, unpacked_dir))
        if res.rc == owned.REFUSED:
            raise owned.NotOwned(ep.name, owned.refused_path(res.stderr) or unpacked_dir, "node_tool_dir")
        if res.rc != 0:
            raise failures.RemotePermissionDenied(ep.name, unpacked_dir, failures.last_line(res.stderr))
        if "removed" in res.stdout:  # replaced by the install that follows: the controller log only, never
            log.debug("%s: removed the earlier unpacked tool directory %s", ep.name, unpacked_dir)  # the screen
        return self.upload_package(local_path, remote_dir, node)

    def upload_directory(self, local_dir, remote_dir, node):
        """Copy a directory tree; it replaces remote_dir atomically (rename) when complete. The
        copy holds the tool's marker; an existing remote_dir is replaced only when it holds one
        (else owned.NotOwned, and it is left as it is)."""
        ep = Endpoint.of(node)
        check_remote_path(remote_dir)
        tmp = remote_dir.rstrip("/") + ".part-dir"
        total = 0
        for root, _dirs, files in os.walk(local_dir):
            for name in files:
                p = os.path.join(root, name)
                if not os.path.islink(p):
                    total += os.path.getsize(p)
        progress = self._track(TransferProgress(ep.name, remote_dir, total, self.detect_transfer_method()))

        def attempt(engine, method):
            res = engine.execute(bash_c(TREE_PREPARE, tmp))
            if res.rc == owned.REFUSED:
                raise owned.NotOwned(ep.name, owned.refused_path(res.stderr) or tmp)
            if res.rc != 0:
                raise EngineFailure(failures.classify(res.stderr, res.rc), failures.last_line(res.stderr))
            progress.begin_attempt(0, method)
            engine.put_tree(local_dir, tmp + "/tree", progress)
            res = engine.execute(bash_c(TREE_COMMIT, tmp, remote_dir))
            if res.rc == owned.REFUSED:
                raise owned.NotOwned(ep.name, owned.refused_path(res.stderr) or remote_dir)
            if res.rc != 0:
                raise EngineFailure(failures.classify(res.stderr, res.rc), failures.last_line(res.stderr))
            return "uploaded"

        t0 = time.time()
        action, method, fallbacks = self._retrying(ep, local_dir, None, progress, attempt, where=tmp)
        progress.finish("done")
        self.reporter.update(progress)
        return TransferResult(ep.name, local_dir, remote_dir, method, action, total, progress.sent,
                              time.time() - t0, None, fallbacks)

    # -- downloads -----------------------------------------------------------------
    def download_file(self, remote_path, local_path, node):
        """Fetch one file into local_path.part (resuming), verify sha256, rename into place."""
        ep = Endpoint.of(node)
        check_remote_path(remote_path)
        part = local_path + ".part"
        progress = self._track(TransferProgress(ep.name, remote_path, 0, self.detect_transfer_method(),
                                                "download"))

        def attempt(engine, method):
            res = engine.execute(bash_c(REMOTE_SUM, remote_path))
            if res.rc != 0:
                kind = failures.classify(res.stderr, res.rc)
                raise EngineFailure(kind if kind != failures.OTHER else failures.PERMISSION,
                                    failures.last_line(res.stderr))
            info = _kv(res.stdout)
            size, sha = int(info["size"]), info["sha"]
            progress.total = size
            offset = os.path.getsize(part) if os.path.exists(part) else 0
            if offset > size:
                os.unlink(part)
                offset = 0
            progress.begin_attempt(offset, method)
            engine.get(remote_path, part, offset, progress)
            if self._file_sha(part) != sha:
                os.unlink(part)
                raise EngineFailure(failures.OTHER, "sha256 mismatch")
            os.replace(part, local_path)
            return sha

        t0 = time.time()
        sha, method, fallbacks = self._retrying(ep, remote_path, None, progress, attempt)
        progress.finish("done")
        return TransferResult(ep.name, local_path, remote_path, method, "downloaded", progress.total,
                              progress.sent, time.time() - t0, sha, fallbacks)

    @staticmethod
    def _file_sha(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(4 * 1024 * 1024), b""):
                h.update(b)
        return h.hexdigest()

    def close(self):
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for e in engines:
            e.close()
        self.reporter.close()
        if self._own_pool:
            self.pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Ticker(object):
    """Feeds the reporter once a second while a transfer runs."""

    def __init__(self, reporter, progress):
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(reporter, progress), name="transfer-progress")
        self._t.daemon = True
        self._t.start()

    def _run(self, reporter, progress):
        while not self._stop.wait(1.0):
            reporter.update(progress)

    def stop(self):
        self._stop.set()
        self._t.join(2)
