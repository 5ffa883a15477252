"""The profile file on disk, its recent versions, and whether it is published.

Layout (the state directory defaults to ``.hubnet-node/`` beside the profile)::

    profile.jsonld                  the live profile, exactly the bytes served
    .hubnet-node/versions/*.jsonld  the last 10 replaced versions (for undo)
    .hubnet-node/withdrawn          present while the profile is unpublished

Every write is atomic (temp file + fsync + rename), so a crash or a full
disk mid-save leaves either the old profile or the new one, never half of
each: the public URL must never serve a truncated document.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from hubnet.vocab import HubnetError

KEEP_VERSIONS = 10
_ANY = object()  # save(): no expectation about the live bytes


class ChangedMeanwhile(HubnetError):
    """A save based on a version of the profile that is no longer the live one."""

    code = "changed_meanwhile"
    status = 409


def default_state_dir(profile: Path) -> Path:
    return Path(profile).parent / ".hubnet-node"


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` in one step. ``mode`` defaults to the old file's (or 0644)."""
    path = Path(path)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_private_dir(path: Path) -> Path:
    """Create the state directory readable by its owner only (it holds the password hash)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(exist_ok=True, mode=0o700)
    return path


class ProfileStore:
    """One profile file plus its history and publish flag. Thread-safe within a process."""

    def __init__(self, profile: Path, state_dir: Path | None = None, keep: int = KEEP_VERSIONS):
        self.path = Path(profile)
        self.state_dir = Path(state_dir) if state_dir else default_state_dir(self.path)
        self.keep = keep
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ reading
    @property
    def versions_dir(self) -> Path:
        return self.state_dir / "versions"

    def exists(self) -> bool:
        return self.path.is_file()

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def snapshot(self) -> tuple[bytes, datetime]:
        """The bytes and their save time, read together so headers match the body."""
        with self._lock:
            data = self.path.read_bytes()
            mtime = self.path.stat().st_mtime
        return data, datetime.fromtimestamp(mtime, timezone.utc)

    def versions(self) -> list[Path]:
        """Replaced versions, newest first."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(self.versions_dir.glob("*.jsonld"), reverse=True)

    # ------------------------------------------------------------------ writing
    def save(self, data: bytes, *, if_current=_ANY) -> bool:
        """Make ``data`` the live profile, keeping the replaced bytes as a version.

        ``if_current``: the bytes the change was made from (None: no file yet).
        If the live file is no longer those bytes, ``ChangedMeanwhile`` is raised
        and nothing is written. The comparison is made inside the lock, so of two
        saves made from the same version exactly one wins (compare-and-swap).
        Returns False (and writes nothing) when ``data`` is what is already live.
        """
        with self._lock:
            old = self.path.read_bytes() if self.exists() else None
            if if_current is not _ANY and old != if_current:
                raise ChangedMeanwhile("the profile was changed after this change was started from it")
            if old == data:
                return False
            if old is not None:
                self._archive(old)
            atomic_write(self.path, data)
            return True

    def undo(self, check=None) -> bytes | None:
        """Restore the newest kept version and drop it from the history.

        ``check(bytes)`` may raise to refuse the restore (the editor validates
        with it), in which case nothing changes. Returns the restored bytes,
        or None when there is nothing to undo.
        """
        with self._lock:
            versions = self.versions()
            if not versions:
                return None
            data = versions[0].read_bytes()
            if check is not None:
                check(data)
            atomic_write(self.path, data)
            versions[0].unlink()
            return data

    def _archive(self, data: bytes) -> None:
        ensure_private_dir(self.state_dir)
        ensure_private_dir(self.versions_dir)
        # Nanosecond names sort in save order; a counter breaks same-tick ties.
        stamp = time.time_ns()
        while True:
            target = self.versions_dir / f"{stamp:020d}.jsonld"
            if not target.exists():
                break
            stamp += 1
        atomic_write(target, data, mode=0o600)
        for stale in self.versions()[self.keep:]:
            stale.unlink(missing_ok=True)

    # ------------------------------------------------------------------ publishing
    @property
    def _withdrawn_flag(self) -> Path:
        return self.state_dir / "withdrawn"

    def is_published(self) -> bool:
        return not self._withdrawn_flag.exists()

    def set_published(self, published: bool) -> None:
        with self._lock:
            if published:
                self._withdrawn_flag.unlink(missing_ok=True)
            else:
                ensure_private_dir(self.state_dir)
                stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
                atomic_write(self._withdrawn_flag, f"withdrawn {stamp}\n".encode(), mode=0o600)
